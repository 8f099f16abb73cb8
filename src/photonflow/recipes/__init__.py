"""YAML recipes: post-processing pipelines over localization results (compute.md §4).

A recipe is a YAML list of modules, each reading and writing named data; it runs in dependency order::

    - FilterTable: {input: input, output: filtered, filters: {x_err: [0, 30], photons: [300, null]}}
    - DriftCorrection: {input: filtered, output: corrected, segment_frames: 500}
    - Render: {input: corrected, output: image, method: gaussian, pixel_nm: 10}
    - SaveImage: {input: image, file_pattern: '{output_dir}/{file_stub}.png'}

>>> recipe = parse_recipe("- FilterTable: {filters: {photons: [100, null]}}")
>>> recipe.external_inputs
('input',)

Run one with :func:`run_recipe` (a plain call the distributed rule engine uses too), or ``photonflow recipe run``.
"""

from __future__ import annotations

from photonflow.recipes.expression import Expression, ExpressionError, parse_expression
from photonflow.recipes.graph import Edge, RecipeGraph, build_graph
from photonflow.recipes.inputs import load_inputs
from photonflow.recipes.library import (
    DerivedColumn,
    DriftCorrection,
    FilterTable,
    Render,
    RenderedImage,
    SaveCSV,
    SaveHDF,
    SaveImage,
)
from photonflow.recipes.modules import (
    ModuleRegistry,
    OutputModule,
    ProcessingModule,
    RecipeModule,
    build_module,
    default_registry,
)
from photonflow.recipes.parse import Recipe, load_recipe, parse_recipe
from photonflow.recipes.runner import RecipeResult, default_context, run_recipe
from photonflow.recipes.svg import recipe_to_svg

__all__ = [
    "DerivedColumn",
    "DriftCorrection",
    "Edge",
    "Expression",
    "ExpressionError",
    "FilterTable",
    "ModuleRegistry",
    "OutputModule",
    "ProcessingModule",
    "Recipe",
    "RecipeGraph",
    "RecipeModule",
    "RecipeResult",
    "Render",
    "RenderedImage",
    "SaveCSV",
    "SaveHDF",
    "SaveImage",
    "build_graph",
    "build_module",
    "default_context",
    "default_registry",
    "load_inputs",
    "load_recipe",
    "parse_expression",
    "parse_recipe",
    "recipe_to_svg",
    "run_recipe",
]
