"""Output modules: write tables as CSV (ThunderSTORM) or HDF (PYME ``.h5r`` / Picasso), images as PNG or TIFF.

File names come from ``file_pattern`` formatted with the run's context (``{output_dir}``, ``{file_stub}``, …,
compute.md §4.2). With ``scheme: pyme-cluster://`` the formatted path is relative to the context's ``data_root``
(the local data server's root, where the file then appears in the cluster namespace), as PYME does. Every file is
written to a temporary name in the target directory and renamed into place, so a failed run never leaves a
truncated file and a re-run replaces the previous result instead of appending to it.
"""

from __future__ import annotations

import csv
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photonflow.errors import RecipeError
from photonflow.localization.results import LOCALIZATION_DTYPE
from photonflow.recipes.library.rendering import RenderedImage
from photonflow.recipes.library.tables import require_table
from photonflow.recipes.modules import OutputModule, register
from photonflow.recipes.params import (
    Choice,
    FieldError,
    Number,
    Optional,
    Pattern,
    Text,
    input_name,
    param,
    pattern_fields,
)

__all__ = ["SaveCSV", "SaveHDF", "SaveImage", "resolve_output_path"]

_SCHEMES = ("File", "pyme-cluster://")


def resolve_output_path(pattern: str, context: Mapping[str, str], *, scheme: str = "File") -> Path:
    """Format ``pattern`` with ``context`` and apply ``scheme``.

    Raises
    ------
    RecipeError
        A field of the pattern is not in the context (the message names it and lists the context's keys), or
        ``pyme-cluster://`` without ``data_root`` in the context, or a path escaping it.
    """
    missing = [name for name in pattern_fields(pattern) if name not in context]
    if missing:
        raise RecipeError(
            f"field 'file_pattern': {pattern!r} uses {{{missing[0]}}}, which this run does not provide; "
            f"context has: {', '.join(sorted(context)) or '(nothing)'}",
            field="file_pattern",
        )
    path = Path(pattern.format_map({k: str(v) for k, v in context.items()}))
    if scheme == "File":
        return path
    root = context.get("data_root")
    if not root:
        raise RecipeError(
            "field 'scheme': 'pyme-cluster://' writes under the data server root, but the context has no data_root",
            field="scheme",
        )
    full = (Path(root) / str(path).lstrip("/\\")).resolve()
    if not full.is_relative_to(Path(root).resolve()):
        raise RecipeError(f"field 'file_pattern': output path {str(path)!r} leaves the data root", field="file_pattern")
    return full


def _atomic_write(path: Path, write: Callable[[Path], None], *, sidecars: tuple[str, ...] = ()) -> None:
    """Call ``write(temporary_path)``, then rename it (and its ``sidecars``, same stem) onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    moved = [(tmp, path), *((tmp.with_suffix(s), path.with_suffix(s)) for s in sidecars)]
    try:
        write(tmp)
        for src, dst in moved:
            os.replace(src, dst)
    finally:
        for src, _ in moved:
            src.unlink(missing_ok=True)


def _is_localization_table(table: np.ndarray) -> bool:
    return set(LOCALIZATION_DTYPE.names or ()) <= set(table.dtype.names or ())


def _localization_view(table: np.ndarray) -> np.ndarray:
    """The LOCALIZATION_DTYPE columns of ``table`` (derived columns dropped), as a new array."""
    out = np.empty(table.shape[0], dtype=LOCALIZATION_DTYPE)
    for name in LOCALIZATION_DTYPE.names or ():
        out[name] = table[name]
    return out


@register
@dataclass(frozen=True, kw_only=True)
class SaveCSV(OutputModule):
    """Write a table as CSV: ThunderSTORM's columns for a localization table, else one column per field.

    ``format: thunderstorm`` needs a localization table; ``plain`` writes every (non-nested) column with its name as
    header; ``auto`` picks ThunderSTORM when the table has the localization columns.
    """

    name = "SaveCSV"
    pyme_names = ("output.CSVOutput",)

    input: str = input_name(doc="table to write", aliases=("inputName",))
    file_pattern: str = param(
        "{output_dir}/{file_stub}.csv", Pattern(), doc="output file name pattern", aliases=("filePattern",)
    )
    format: str = param("auto", Choice("auto", "thunderstorm", "plain"), doc="CSV flavour")
    scheme: str = param("File", Choice(*_SCHEMES), doc="where the path points")

    def save(self, inputs: Mapping[str, Any], context: Mapping[str, str]) -> list[Path]:
        from photonflow.localization.export import write_thunderstorm_csv

        table = require_table(inputs["input"], f"input '{self.input}'")
        flavour = self.format
        if flavour == "auto":
            flavour = "thunderstorm" if _is_localization_table(table) else "plain"
        if flavour == "thunderstorm" and not _is_localization_table(table):
            missing = sorted(set(LOCALIZATION_DTYPE.names or ()) - set(table.dtype.names or ()))
            raise ValueError(f"format 'thunderstorm' needs a localization table; input lacks {', '.join(missing)}")
        path = resolve_output_path(self.file_pattern, context, scheme=self.scheme)
        if flavour == "thunderstorm":
            _atomic_write(path, lambda tmp: write_thunderstorm_csv(_localization_view(table), tmp))
        else:
            _atomic_write(path, lambda tmp: _write_plain_csv(table, tmp))
        return [path]


def _write_plain_csv(table: np.ndarray, path: Path) -> None:
    names = table.dtype.names or ()
    nested = [n for n in names if table.dtype[n].names is not None or table.dtype[n].shape]
    if nested:
        raise ValueError(f"plain CSV cannot hold nested or array columns {nested}; write HDF instead")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        columns = [table[n].tolist() for n in names]
        writer.writerows(zip(*columns, strict=True))


@register
@dataclass(frozen=True, kw_only=True)
class SaveHDF(OutputModule):
    """Write a table to HDF5: a PYME ``.h5r`` results file, or a Picasso ``.hdf5`` (+ ``.yaml``) file.

    ``format: auto`` chooses by extension (``.h5r`` → h5r, ``.hdf5``/``.hdf`` → picasso, as
    :func:`photonflow.localization.export.read_results` reads them). For h5r, ``layout: pyme``
    converts a localization table to PYME's ``FitResults`` records (needs ``pixel_size_nm``) so PYME opens it;
    ``native`` stores the table's own columns. Picasso needs ``pixel_size_nm``; its frame size defaults to the
    smallest that holds every localization.
    """

    name = "SaveHDF"
    pyme_names = ("output.HDFOutput",)

    input: str = input_name(doc="table to write", aliases=("inputName",))
    file_pattern: str = param(
        "{output_dir}/{file_stub}.h5r", Pattern(), doc="output file name pattern", aliases=("filePattern",)
    )
    format: str = param("auto", Choice("auto", "h5r", "picasso"), doc="file flavour")
    table_name: str = param("FitResults", Text(), doc="h5r table name")
    layout: str = param("native", Choice("native", "pyme"), doc="h5r record layout")
    pixel_size_nm: float | None = param(
        None, Optional(Number(above=0)), doc="camera pixel size, nm (PYME layout and Picasso)"
    )
    scheme: str = param("File", Choice(*_SCHEMES), doc="where the path points")

    def __post_init__(self) -> None:
        flavour = self._flavour()
        if flavour is None:
            raise FieldError(
                "format", "'h5r' or 'picasso' when the file pattern ends neither in .h5r nor .hdf5/.hdf", self.format
            )
        if (flavour == "picasso" or self.layout == "pyme") and self.pixel_size_nm is None:
            raise FieldError("pixel_size_nm", f"a number > 0 for {flavour} output in {self.layout} layout", None)

    def _flavour(self) -> str | None:
        if self.format != "auto":
            return self.format
        suffix = Path(self.file_pattern).suffix.lower()
        return {".h5r": "h5r", ".hdf": "picasso", ".hdf5": "picasso"}.get(suffix)

    def save(self, inputs: Mapping[str, Any], context: Mapping[str, str]) -> list[Path]:
        table = require_table(inputs["input"], f"input '{self.input}'")
        path = resolve_output_path(self.file_pattern, context, scheme=self.scheme)
        if self._flavour() == "picasso":
            return self._save_picasso(table, path)
        records = table
        if self.layout == "pyme":
            from photonflow.formats.pyme_fitresults import to_pyme_fitresults

            if not _is_localization_table(table):
                raise ValueError("layout 'pyme' needs a localization table")
            records = to_pyme_fitresults(_localization_view(table), pixel_size_nm=float(self.pixel_size_nm or 0))
        _atomic_write(path, lambda tmp: self._write_h5r(records, tmp))
        return [path]

    def _write_h5r(self, records: np.ndarray, path: Path) -> None:
        from photonflow.formats.h5r import append_table, write_metadata

        append_table(path, self.table_name, records, durable=False)
        if self.pixel_size_nm is not None:
            um = self.pixel_size_nm / 1000.0
            write_metadata(path, {"voxelsize.x": um, "voxelsize.y": um}, durable=False)

    def _save_picasso(self, table: np.ndarray, path: Path) -> list[Path]:
        from photonflow.localization.export import picasso_yaml_path, write_picasso_hdf5

        if not _is_localization_table(table):
            raise ValueError("Picasso output needs a localization table")
        px = float(self.pixel_size_nm or 0)
        finite = table[np.isfinite(table["x"]) & np.isfinite(table["y"])]
        width = max(1, math.ceil(float(finite["x"].max()) / px)) if finite.size else 1
        height = max(1, math.ceil(float(finite["y"].max()) / px)) if finite.size else 1
        locs = _localization_view(table)
        _atomic_write(
            path,
            lambda tmp: write_picasso_hdf5(locs, tmp, pixel_size_nm=px, width=width, height=height),
            sidecars=(".yaml",),
        )
        return [path, picasso_yaml_path(path)]


@register
@dataclass(frozen=True, kw_only=True)
class SaveImage(OutputModule):
    """Write an image as an 8-bit colour-mapped PNG or a float32 TIFF (with the pixel size, ImageJ-readable).

    ``format: auto`` chooses by extension (``.png`` → png, ``.tif``/``.tiff`` → tiff).
    """

    name = "SaveImage"
    pyme_names = ("output.ImageOutput",)

    input: str = input_name(doc="image to write (from Render)", aliases=("inputName",))
    file_pattern: str = param(
        "{output_dir}/{file_stub}.png", Pattern(), doc="output file name pattern", aliases=("filePattern",)
    )
    format: str = param("auto", Choice("auto", "png", "tiff"), doc="image format")
    colormap: str = param("hot", Choice("gray", "hot", "magenta", "cyan"), doc="PNG colour map")
    percentile: float = param(
        99.5, Number(above=0, maximum=100), doc="PNG: percentile of non-zero pixels shown as full scale"
    )
    scheme: str = param("File", Choice(*_SCHEMES), doc="where the path points")

    def __post_init__(self) -> None:
        if self._flavour() is None:
            raise FieldError("format", "'png' or 'tiff' when the file pattern ends neither in .png nor .tif(f)", "auto")

    def _flavour(self) -> str | None:
        if self.format != "auto":
            return self.format
        return {".png": "png", ".tif": "tiff", ".tiff": "tiff"}.get(Path(self.file_pattern).suffix.lower())

    def save(self, inputs: Mapping[str, Any], context: Mapping[str, str]) -> list[Path]:
        from photonflow.localization.render import save_png, save_tiff

        value = inputs["input"]
        if isinstance(value, RenderedImage):
            data, pixel_nm = value.data, value.pixel_nm
        elif isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.names is None:
            data, pixel_nm = value, None
        else:
            kind = f"array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
            raise RecipeError(f"input '{self.input}' must be an image (from Render), got {kind}", field="input")
        path = resolve_output_path(self.file_pattern, context, scheme=self.scheme)
        if self._flavour() == "png":
            _atomic_write(path, lambda tmp: save_png(data, tmp, colormap=self.colormap, percentile=self.percentile))
        else:
            _atomic_write(path, lambda tmp: save_tiff(data, tmp, pixel_nm=pixel_nm))
        return [path]
