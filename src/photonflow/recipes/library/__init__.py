"""The built-in recipe modules (importing this package registers them in the default registry)."""

from __future__ import annotations

from photonflow.recipes.library.output import SaveCSV, SaveHDF, SaveImage
from photonflow.recipes.library.rendering import Render, RenderedImage
from photonflow.recipes.library.tables import DerivedColumn, DriftCorrection, FilterTable

__all__ = [
    "DerivedColumn",
    "DriftCorrection",
    "FilterTable",
    "Render",
    "RenderedImage",
    "SaveCSV",
    "SaveHDF",
    "SaveImage",
]
