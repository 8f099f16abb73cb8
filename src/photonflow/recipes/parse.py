"""Reading a recipe: YAML text (a list of single-key mappings, compute.md §4.1) → a checked :class:`Recipe`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from photonflow.errors import NotFoundError, RecipeError
from photonflow.recipes.graph import RecipeGraph, build_graph
from photonflow.recipes.modules import ModuleRegistry, RecipeModule, build_module, default_registry

__all__ = ["Recipe", "load_recipe", "parse_recipe"]

_EXAMPLE = "- FilterTable: {input: input, output: filtered, filters: {x_err: [0, 30]}}"


@dataclass(frozen=True)
class Recipe:
    """A parsed, checked recipe: its modules in recipe order and their dependency graph.

    ``external_inputs`` are the names a run must supply (usually just ``input``).
    """

    modules: tuple[RecipeModule, ...]
    graph: RecipeGraph = field(repr=False, compare=False)

    @classmethod
    def from_modules(cls, modules: tuple[RecipeModule, ...] | list[RecipeModule]) -> Recipe:
        """Build and check the graph of ``modules`` (raises :class:`RecipeError` on a cycle or duplicate output)."""
        modules = tuple(modules)
        return cls(modules, build_graph(modules))

    @property
    def external_inputs(self) -> tuple[str, ...]:
        return self.graph.external

    def to_list(self) -> list[dict[str, dict[str, Any]]]:
        """The recipe as plain data (what :func:`parse_recipe` reads back to an equal recipe)."""
        return [{m.name: m.to_params()} for m in self.modules]

    def to_yaml(self) -> str:
        """The recipe as YAML text, with canonical module and field names."""
        return yaml.safe_dump(self.to_list(), sort_keys=False, allow_unicode=True)


def parse_recipe(text: str, *, registry: ModuleRegistry | None = None) -> Recipe:
    """Parse and check a recipe from YAML ``text`` (``yaml.safe_load`` only: no tags, no objects).

    Parameters
    ----------
    text : str
        A YAML list of ``- ModuleName: {field: value, ...}``. Module names may carry PYME's prefixes
        (``tablefilters.FilterTable``) and PYME's field names (``inputName``) where a module declares them.
    registry : ModuleRegistry, optional
        Where module names are looked up; the built-in modules by default.

    Raises
    ------
    RecipeError
        Invalid YAML, a wrong shape, an unknown module or field, a bad value, two modules producing one name, or a
        cycle; the message names the module (1-based index and name) and the field.
    """
    registry = registry or default_registry()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe is not valid YAML: {exc}") from None
    if data is None:
        raise RecipeError(f"recipe is empty; it should be a YAML list of modules, e.g.\n{_EXAMPLE}")
    if not isinstance(data, list):
        raise RecipeError(f"a recipe must be a YAML list of modules, got a {type(data).__name__}; e.g.\n{_EXAMPLE}")
    modules: list[RecipeModule] = []
    for index, entry in enumerate(data, start=1):
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise RecipeError(
                f"module {index}: each list item must be a single 'ModuleName: {{parameters}}' mapping, got {entry!r}",
                module_index=index,
            )
        ((key, params),) = entry.items()
        cls = registry.resolve(str(key), index=index)
        modules.append(build_module(cls, params, index=index))
    if not modules:
        raise RecipeError(f"recipe has no modules; e.g.\n{_EXAMPLE}")
    return Recipe.from_modules(modules)


def load_recipe(path: str | os.PathLike[str], *, registry: ModuleRegistry | None = None) -> Recipe:
    """Read and parse the recipe file at ``path`` (errors are prefixed with the path)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"recipe file {path} does not exist") from None
    try:
        return parse_recipe(text, registry=registry)
    except RecipeError as exc:
        raise RecipeError(
            f"{path}: {exc}", module_index=exc.module_index, module_name=exc.module_name, field=exc.field
        ) from None
