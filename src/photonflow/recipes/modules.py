"""Recipe modules: the base classes, building a module from its YAML mapping, and the registry of module names.

A module is a frozen dataclass. Its fields are of three roles, declared with :func:`~photonflow.recipes.params.param`,
:func:`~photonflow.recipes.params.input_name` and :func:`~photonflow.recipes.params.output_name`: inputs and outputs
hold *names* in the recipe's shared namespace, parameters hold typed values. A :class:`ProcessingModule` is pure:
``apply`` maps input values (keyed by input field) to output values (keyed by output field). Only an
:class:`OutputModule` touches the file system, in ``save``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from photonflow.errors import RecipeError
from photonflow.recipes.params import FieldError, field_converter, field_role

__all__ = [
    "ModuleRegistry",
    "OutputModule",
    "ProcessingModule",
    "RecipeModule",
    "build_module",
    "default_registry",
    "module_label",
    "register",
]

M = TypeVar("M", bound=type["RecipeModule"])


def module_label(index: int | None, name: str) -> str:
    """``module 2 (FilterTable)``: how errors name a module (``index`` is 1-based)."""
    return f"module {index} ({name})" if index is not None else f"module {name}"


@dataclass(frozen=True, kw_only=True)
class RecipeModule:
    """Base of every recipe module. Subclasses are ``@dataclass(frozen=True, kw_only=True)``.

    Class attributes
    ----------------
    name : str
        The registered name used in recipes (``FilterTable``).
    pyme_names : tuple of str
        PYME's names for the equivalent module (``tablefilters.FilterTable``), also accepted in recipes.
    """

    name: ClassVar[str] = ""
    pyme_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def role_fields(cls, role: str) -> list[Field[Any]]:
        """The dataclass fields of ``role`` (``"input"``, ``"output"`` or ``"param"``), in declaration order."""
        return [f for f in fields(cls) if field_role(f) == role]

    def inputs(self) -> dict[str, str]:
        """Connected inputs: field name → namespace name (optional inputs left ``""`` are omitted)."""
        return {f.name: getattr(self, f.name) for f in self.role_fields("input") if getattr(self, f.name)}

    def outputs(self) -> dict[str, str]:
        """Connected outputs: field name → namespace name (optional outputs left ``""`` are omitted)."""
        return {f.name: getattr(self, f.name) for f in self.role_fields("output") if getattr(self, f.name)}

    def to_params(self) -> dict[str, Any]:
        """The module's fields as plain YAML values (the inverse of :func:`build_module`)."""
        return {f.name: field_converter(f).to_yaml(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """A description for user interfaces: name, doc, and each field's role, expectation, default and doc."""
        entries = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            if f.default_factory is not MISSING:
                default = f.default_factory()
            entries.append(
                {
                    "name": f.name,
                    "role": field_role(f),
                    "expected": field_converter(f).expected,
                    "required": f.default is MISSING and f.default_factory is MISSING,
                    "default": field_converter(f).to_yaml(default) if default is not None else None,
                    "doc": f.metadata.get("doc", ""),
                    "aliases": list(f.metadata.get("aliases", ())),
                }
            )
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        return {"name": cls.name, "pyme_names": list(cls.pyme_names), "doc": doc, "fields": entries}


@dataclass(frozen=True, kw_only=True)
class ProcessingModule(RecipeModule):
    """A pure module: computes outputs from inputs, no I/O."""

    def apply(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Compute the outputs. ``inputs`` and the result are keyed by *field* name, not namespace name."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class OutputModule(RecipeModule):
    """A module that writes its inputs to files named by a pattern formatted with the run's context."""

    def save(self, inputs: Mapping[str, Any], context: Mapping[str, str]) -> list[Path]:
        """Write the files; return their paths. ``inputs`` is keyed by field name."""
        raise NotImplementedError


def build_module(cls: type[RecipeModule], params: Any, *, index: int | None = None) -> RecipeModule:
    """Build a module from its YAML mapping, checking every field.

    Parameters
    ----------
    cls : type of RecipeModule
    params : mapping or None
        The value under the module's name in the recipe (``None``: all defaults).
    index : int, optional
        The module's 1-based position in the recipe, for error messages.

    Raises
    ------
    RecipeError
        Naming the module and field: unknown or duplicated field, missing required field, bad value.
    """
    label = module_label(index, cls.name)

    def fail(message: str, field_name: str | None = None) -> RecipeError:
        return RecipeError(f"{label}: {message}", module_index=index, module_name=cls.name, field=field_name)

    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise fail(f"parameters must be a mapping of field: value, got {params!r}")
    by_key: dict[str, Field[Any]] = {}
    for f in fields(cls):
        by_key[f.name] = f
        for alias in f.metadata.get("aliases", ()):
            by_key[alias] = f
    values: dict[str, Any] = {}
    for key, raw in params.items():
        found = by_key.get(str(key))
        if found is None:
            known = [f.name for f in fields(cls)]
            hint = difflib.get_close_matches(str(key), list(by_key), n=1)
            suggestion = f"; did you mean '{by_key[hint[0]].name}'?" if hint else ""
            raise fail(f"unknown field '{key}'{suggestion} (fields: {', '.join(known)})", str(key))
        f = found
        if f.name in values:
            raise fail(f"field '{f.name}' is given twice (as '{key}' and an alias)", f.name)
        try:
            values[f.name] = field_converter(f).convert(raw, f.name)
        except FieldError as exc:
            detail = f" ({exc.detail})" if exc.detail else ""
            raise fail(f"field '{exc.path}' must be {exc.expected}, got {exc.got!r}{detail}", exc.path) from None
    for f in fields(cls):
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise fail(f"field '{f.name}' is required ({field_converter(f).expected})", f.name)
    try:
        return cls(**values)
    except FieldError as exc:  # a check across fields, from the module's __post_init__
        detail = f" ({exc.detail})" if exc.detail else ""
        raise fail(f"field '{exc.path}' must be {exc.expected}, got {exc.got!r}{detail}", exc.path) from None


class ModuleRegistry:
    """Module names (and PYME aliases) → classes. The one piece of module-level mutable state: a registry."""

    def __init__(self) -> None:
        self._classes: dict[str, type[RecipeModule]] = {}
        self._aliases: dict[str, str] = {}

    def register(self, cls: M) -> M:
        """Register ``cls`` under ``cls.name`` and its ``pyme_names``; usable as a class decorator."""
        if not cls.name:
            raise ValueError(f"{cls.__qualname__} has no 'name'")
        taken = [n for n in (cls.name, *cls.pyme_names) if n in self._classes or n in self._aliases]
        if taken:
            raise ValueError(f"module name(s) {taken} are already registered")
        self._classes[cls.name] = cls
        for alias in cls.pyme_names:
            self._aliases[alias] = cls.name
        return cls

    def names(self) -> list[str]:
        """Registered module names, sorted."""
        return sorted(self._classes)

    def classes(self) -> Iterable[type[RecipeModule]]:
        return (self._classes[n] for n in self.names())

    def resolve(self, key: str, *, index: int | None = None) -> type[RecipeModule]:
        """The class for recipe key ``key``: a name, a PYME alias, or ``<prefix>.<Name>`` with a registered Name.

        Raises
        ------
        RecipeError
            Unknown name; the message suggests the closest known name and lists all of them.
        """
        if key in self._classes:
            return self._classes[key]
        if key in self._aliases:
            return self._classes[self._aliases[key]]
        short = key.rsplit(".", 1)[-1]
        if short in self._classes:
            return self._classes[short]
        candidates = [*self._classes, *self._aliases]
        lowered = {c.lower(): c for c in candidates}
        match = lowered.get(key.lower()) or lowered.get(short.lower())
        close = [match] if match else difflib.get_close_matches(short, candidates, n=1, cutoff=0.6)
        hint = f"did you mean '{self._aliases.get(close[0], close[0])}'? " if close else ""
        where = f"module {index}: " if index is not None else ""
        raise RecipeError(
            f"{where}unknown module '{key}'; {hint}known modules: {', '.join(self.names())}",
            module_index=index,
            module_name=key,
        )


_BUILTIN = ModuleRegistry()


def register(cls: M) -> M:
    """Class decorator registering a built-in module in the default registry."""
    return _BUILTIN.register(cls)


def default_registry() -> ModuleRegistry:
    """The registry of built-in modules (importing the module library on first use)."""
    import photonflow.recipes.library  # noqa: F401  (registers the built-in modules)

    return _BUILTIN
