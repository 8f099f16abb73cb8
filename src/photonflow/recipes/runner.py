"""Running a recipe on one set of inputs: a plain library call the CLI and the distributed rule engine both use."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photonflow.errors import AnalysisError, PhotonflowError, RecipeError
from photonflow.recipes.inputs import load_inputs
from photonflow.recipes.modules import OutputModule, ProcessingModule
from photonflow.recipes.parse import Recipe, load_recipe

__all__ = ["RecipeResult", "default_context", "run_recipe"]

Progress = Callable[[int, int, str], None]


@dataclass
class RecipeResult:
    """What a run produced.

    Attributes
    ----------
    namespace : dict
        Every named value: the loaded inputs and each module's outputs.
    files : list of Path
        Files written by output modules, in execution order.
    timings_s : dict of str to float
        Wall time of each module, keyed by ``module N (Name)``.
    context : dict of str to str
        The context output patterns were formatted with.
    """

    namespace: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)


def default_context(inputs: Mapping[str, Any]) -> dict[str, str]:
    """``file_stub`` and ``input_dir`` of ``inputs["input"]`` when it is a path (PYME's context keys)."""
    source = inputs.get("input")
    if not isinstance(source, str | os.PathLike):
        return {}
    path = Path(source)
    return {"file_stub": path.stem, "input_dir": str(path.parent)}


def run_recipe(
    recipe: Recipe | str | os.PathLike[str],
    inputs: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> RecipeResult:
    """Run ``recipe`` on ``inputs``.

    Parameters
    ----------
    recipe : Recipe, or str or PathLike
        A parsed recipe, or the path of a recipe file.
    inputs : mapping of str to path or value
        Names the recipe's external inputs. Paths are loaded by extension (see
        :func:`photonflow.recipes.inputs.load_inputs`); other values (tables, images) are used as they are.
    context : mapping, optional
        Values for output file patterns (``output_dir``, ``file_stub``, ``data_root``, …). ``file_stub`` and
        ``input_dir`` default to those of ``inputs["input"]`` when it is a path.
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each module.

    Returns
    -------
    RecipeResult

    Raises
    ------
    RecipeError
        The recipe cannot run with these inputs or context (missing input, unknown context key, missing column,
        wrong kind of data); the message names the module and field.
    AnalysisError
        A module failed on the data (the message names the module; the cause is chained).
    NotFoundError, FormatError
        An input file is missing or unreadable.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    graph = recipe.graph
    namespace = load_inputs(inputs)
    graph.check_inputs(namespace)
    ctx = default_context(inputs)
    ctx.update({k: str(v) for k, v in (context or {}).items()})
    result = RecipeResult(namespace=namespace, context=ctx)
    for done, position in enumerate(graph.order, start=1):
        module = graph.modules[position]
        label = graph.label(position)
        values = {field_name: namespace[name] for field_name, name in module.inputs().items()}
        start = time.perf_counter()
        try:
            if isinstance(module, OutputModule):
                result.files.extend(module.save(values, ctx))
            elif isinstance(module, ProcessingModule):
                produced = module.apply(values)
                for field_name, name in module.outputs().items():
                    namespace[name] = produced[field_name]
            else:
                raise TypeError(f"{type(module).__name__} is neither a ProcessingModule nor an OutputModule")
        except RecipeError as exc:
            raise RecipeError(
                f"{label}: {exc}", module_index=position + 1, module_name=module.name, field=exc.field
            ) from exc
        except (PhotonflowError, ValueError, TypeError, OSError) as exc:
            raise AnalysisError(f"{label} failed: {exc}") from exc
        result.timings_s[label] = time.perf_counter() - start
        if progress is not None:
            progress(done, len(graph.order), label)
    return result
