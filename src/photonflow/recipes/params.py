"""Typed recipe parameters: converters that check a YAML value and say what was expected when it is wrong.

A module field is declared with :func:`param`, :func:`input_name` or :func:`output_name`; each carries a
:class:`Converter` that turns the value ``yaml.safe_load`` produced into the field's type, or raises
:class:`FieldError` with the dotted path inside the field (``filters.photons``), a description of what is expected
(``[min, max]``) and the offending value. The recipe parser adds the module's index and name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, field
from typing import Any

from photonflow.recipes.expression import Expression, ExpressionError, parse_expression

__all__ = [
    "Bounds",
    "Choice",
    "ColumnName",
    "Converter",
    "ExpressionMap",
    "FieldError",
    "Flag",
    "Integer",
    "Name",
    "Number",
    "Optional",
    "Pattern",
    "RangeMap",
    "Text",
    "field_converter",
    "field_role",
    "input_name",
    "output_name",
    "param",
    "pattern_fields",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class FieldError(ValueError):
    """A parameter value is wrong. ``path`` is relative to the field (``""`` for the field itself)."""

    def __init__(self, path: str, expected: str, got: Any, *, detail: str = "") -> None:
        self.path = path
        self.expected = expected
        self.got = got
        self.detail = detail
        super().__init__(f"{path or '<field>'}: must be {expected}, got {got!r}")


class Converter:
    """Check and convert one YAML value; subclasses implement :meth:`convert` and :attr:`expected`."""

    expected: str = "a value"

    def convert(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def to_yaml(self, value: Any) -> Any:
        """The plain YAML form of a converted value (for writing a recipe back out)."""
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Number(Converter):
    """A finite real number, optionally bounded (``minimum`` and ``maximum`` inclusive, ``above`` exclusive)."""

    def __init__(
        self, *, minimum: float | None = None, above: float | None = None, maximum: float | None = None
    ) -> None:
        self.minimum = minimum
        self.above = above
        self.maximum = maximum
        parts = []
        if minimum is not None:
            parts.append(f"≥ {minimum:g}")
        if above is not None:
            parts.append(f"> {above:g}")
        if maximum is not None:
            parts.append(f"≤ {maximum:g}")
        self.expected = "a number" + (" " + " and ".join(parts) if parts else "")

    def convert(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise FieldError(path, self.expected, value)
        if (
            (self.minimum is not None and value < self.minimum)
            or (self.above is not None and value <= self.above)
            or (self.maximum is not None and value > self.maximum)
        ):
            raise FieldError(path, self.expected, value)
        return float(value)


class Integer(Converter):
    """An integer, optionally with a lower bound."""

    def __init__(self, *, minimum: int | None = None) -> None:
        self.minimum = minimum
        self.expected = "an integer" if minimum is None else f"an integer ≥ {minimum}"

    def convert(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, self.expected, value)
        if self.minimum is not None and value < self.minimum:
            raise FieldError(path, self.expected, value)
        return int(value)


class Flag(Converter):
    """``true`` or ``false``."""

    expected = "true or false"

    def convert(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise FieldError(path, self.expected, value)
        return value


class Text(Converter):
    """Any string."""

    expected = "a string"

    def convert(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise FieldError(path, self.expected, value)
        return value


class Name(Converter):
    """A name in the recipe's namespace (an input or output); ``""`` means "not connected" when ``optional``."""

    def __init__(self, *, optional: bool = False) -> None:
        self.optional = optional
        self.expected = "a data name (letters, digits, _ . -)" + (" or ''" if optional else "")

    def convert(self, value: Any, path: str) -> str:
        if value is None and self.optional:
            return ""
        if not isinstance(value, str) or (value == "" and not self.optional):
            raise FieldError(path, self.expected, value)
        if value and not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise FieldError(path, self.expected, value)
        return value


class ColumnName(Converter):
    """A table column name: a Python-style identifier."""

    expected = "a column name (letters, digits and _, not starting with a digit)"

    def convert(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise FieldError(path, self.expected, value)
        return value


class Choice(Converter):
    """One of a fixed set of strings, matched without regard to case (``Gaussian`` selects ``gaussian``)."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.expected = "one of " + ", ".join(repr(o) for o in options)

    def convert(self, value: Any, path: str) -> str:
        if isinstance(value, str):
            for option in self.options:
                if option.lower() == value.lower():
                    return option
        raise FieldError(path, self.expected, value)


class Optional(Converter):
    """``null`` (no value) or a value accepted by ``inner``."""

    def __init__(self, inner: Converter) -> None:
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def convert(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        try:
            return self.inner.convert(value, path)
        except FieldError as exc:
            raise FieldError(exc.path, self.expected if exc.path == path else exc.expected, exc.got) from None

    def to_yaml(self, value: Any) -> Any:
        return None if value is None else self.inner.to_yaml(value)


class Bounds(Converter):
    """A box ``[x_min, y_min, x_max, y_max]`` in nm with max > min."""

    expected = "[x_min, y_min, x_max, y_max] in nm with max > min"

    def convert(self, value: Any, path: str) -> tuple[float, float, float, float]:
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
            raise FieldError(path, self.expected, value)
        number = Number()
        try:
            x0, y0, x1, y1 = (number.convert(v, path) for v in value)
        except FieldError:
            raise FieldError(path, self.expected, value) from None
        if not (x1 > x0 and y1 > y0):
            raise FieldError(path, self.expected, value)
        return (x0, y0, x1, y1)

    def to_yaml(self, value: Any) -> Any:
        return list(value)


class RangeMap(Converter):
    """A mapping ``column: [min, max]``; one bound may be ``null`` (unbounded); ``min ≤ max``."""

    expected = "a mapping of column name to [min, max]"
    item_expected = "[min, max] (numbers, min ≤ max; null for an open side)"

    def convert(self, value: Any, path: str) -> dict[str, tuple[float | None, float | None]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise FieldError(path, self.expected, value)
        out: dict[str, tuple[float | None, float | None]] = {}
        for key, bounds in value.items():
            sub = _join(path, str(key))
            ColumnName().convert(key, sub)
            if not isinstance(bounds, Sequence) or isinstance(bounds, str) or len(bounds) != 2:
                raise FieldError(sub, self.item_expected, bounds)
            pair: list[float | None] = []
            for bound in bounds:
                if bound is None:
                    pair.append(None)
                elif isinstance(bound, bool) or not isinstance(bound, int | float) or math.isnan(bound):
                    raise FieldError(sub, self.item_expected, bounds)
                else:
                    pair.append(float(bound))
            lo, hi = pair
            if (lo is None and hi is None) or (lo is not None and hi is not None and lo > hi):
                raise FieldError(sub, self.item_expected, bounds)
            out[key] = (lo, hi)
        return out

    def to_yaml(self, value: Any) -> Any:
        return {k: list(v) for k, v in value.items()}


class ExpressionMap(Converter):
    """A mapping ``new_column: expression`` (see :mod:`photonflow.recipes.expression`), kept in order."""

    expected = "a mapping of new column name to an arithmetic expression over columns"

    def convert(self, value: Any, path: str) -> dict[str, Expression]:
        if not isinstance(value, Mapping) or not value:
            raise FieldError(path, self.expected, value)
        out: dict[str, Expression] = {}
        for key, text in value.items():
            sub = _join(path, str(key))
            ColumnName().convert(key, sub)
            if isinstance(text, int | float) and not isinstance(text, bool):
                text = repr(text)
            if not isinstance(text, str):
                raise FieldError(sub, "an arithmetic expression (a string)", text)
            try:
                out[key] = parse_expression(text)
            except ExpressionError as exc:
                raise FieldError(sub, "an arithmetic expression over columns", text, detail=str(exc)) from None
        return out

    def to_yaml(self, value: Any) -> Any:
        return {k: e.text for k, e in value.items()}


class Pattern(Converter):
    """A file-name pattern with ``{name}`` context fields (``{output_dir}/{file_stub}.csv``); no ``{a.b}``/``{a[0]}``.

    Attribute and index look-ups are refused because ``str.format`` would otherwise reach into objects.
    """

    expected = "a file pattern such as '{output_dir}/{file_stub}.csv' (plain {name} fields only)"

    def convert(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise FieldError(path, self.expected, value)
        try:
            fields = pattern_fields(value)
        except ValueError as exc:
            raise FieldError(path, self.expected, value, detail=str(exc)) from None
        bad = [f for f in fields if not _IDENTIFIER.match(f)]
        if bad:
            raise FieldError(path, self.expected, value, detail=f"field {{{bad[0]}}} is not a plain name")
        return value


def pattern_fields(pattern: str) -> list[str]:
    """Names of the ``{fields}`` in ``pattern`` (raises ``ValueError`` for unbalanced braces)."""
    import string

    return [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]


def _metadata(role: str, converter: Converter, doc: str, aliases: tuple[str, ...]) -> dict[str, Any]:
    return {"role": role, "converter": converter, "doc": doc, "aliases": aliases}


def param(
    default: Any = MISSING,
    converter: Converter | None = None,
    *,
    doc: str,
    aliases: tuple[str, ...] = (),
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare a parameter field; ``aliases`` are other accepted keys (PYME's names, such as ``pixelSize``)."""
    meta = _metadata("param", converter or Text(), doc, aliases)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def input_name(default: Any = MISSING, *, doc: str, optional: bool = False, aliases: tuple[str, ...] = ()) -> Any:
    """Declare an input: the field's value is the name of data in the namespace that this module reads."""
    return field(default=default, metadata=_metadata("input", Name(optional=optional), doc, aliases))


def output_name(default: Any = MISSING, *, doc: str, optional: bool = False, aliases: tuple[str, ...] = ()) -> Any:
    """Declare an output: the field's value is the name under which this module's result is stored."""
    return field(default=default, metadata=_metadata("output", Name(optional=optional), doc, aliases))


def field_role(f: Field[Any]) -> str:
    """``"input"``, ``"output"`` or ``"param"``."""
    return str(f.metadata.get("role", "param"))


def field_converter(f: Field[Any]) -> Converter:
    conv = f.metadata.get("converter")
    return conv if isinstance(conv, Converter) else Text()
