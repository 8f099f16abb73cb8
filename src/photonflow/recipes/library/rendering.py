"""Rendering module: a localization table to a super-resolution image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from photonflow.localization.render import field_of_view, render
from photonflow.recipes.library.tables import require_table
from photonflow.recipes.modules import ProcessingModule, register
from photonflow.recipes.params import Bounds, Choice, Number, Optional, input_name, output_name, param

__all__ = ["Render", "RenderedImage"]


@dataclass(frozen=True)
class RenderedImage:
    """A rendered image with its geometry: pixel ``[0, 0]`` covers ``x_min..x_min+pixel_nm`` and the same in y."""

    data: np.ndarray = field(repr=False)  # (ny, nx) float32, [row, column] = [y, x]
    pixel_nm: float
    x_min: float
    y_min: float


@register
@dataclass(frozen=True, kw_only=True)
class Render(ProcessingModule):
    """Render localizations as an image: a 2-D histogram, or Gaussians whose σ is each localization's precision.

    See :func:`photonflow.localization.render.render`. ``fov`` fixes the field of view (nm); by default it spans
    the camera origin to the farthest localization.
    """

    name = "Render"
    pyme_names = ("localisations.DensityMapping",)

    input: str = input_name("input", doc="localization table (x, y in nm)", aliases=("inputLocalizations",))
    output: str = output_name("image", doc="name of the image", aliases=("outputImage",))
    method: str = param(
        "gaussian", Choice("histogram", "gaussian"), doc="rendering method", aliases=("renderingModule",)
    )
    pixel_nm: float = param(10.0, Number(above=0), doc="image pixel size, nm", aliases=("pixelSize",))
    fov: tuple[float, float, float, float] | None = param(
        None, Optional(Bounds()), doc="[x_min, y_min, x_max, y_max], nm"
    )
    min_sigma_nm: float | None = param(
        None, Optional(Number(above=0)), doc="lower clip of the Gaussian σ, nm (the pixel size by default)"
    )

    def apply(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        columns = ("x", "y", "x_err", "y_err") if self.method == "gaussian" else ("x", "y")
        table = require_table(inputs["input"], f"input '{self.input}'", columns)
        geo = field_of_view(
            np.asarray(table["x"], dtype=np.float64),
            np.asarray(table["y"], dtype=np.float64),
            pixel_nm=self.pixel_nm,
            fov=self.fov,
        )
        data = render(table, method=self.method, fov=geo, min_sigma_nm=self.min_sigma_nm)  # type: ignore[arg-type]
        return {"output": RenderedImage(data, geo.pixel_nm, geo.x_min, geo.y_min)}
