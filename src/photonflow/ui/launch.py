"""Launch: localization settings for one or many series (defaults, per-field validation, presets); recipe runs."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from photonflow.errors import AnalysisError, ConfigError, RecipeError, ServerUnavailableError
from photonflow.localization import LocalizationParams
from photonflow.ui._web import blocking, flash, page, state_of, writer_endpoint

__all__ = ["FORM_FIELDS", "params_from_form", "routes"]

# (field, label, group, kind, help); kind: float, int, choice:<a|b>, bool, range
FORM_FIELDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("threshold", "Threshold (SNR)", "Detection", "float", "band-passed signal over noise"),
    ("min_distance", "Debounce radius (px)", "Detection", "float", "peaks closer than this merge"),
    ("sigma_low", "Band-pass σ low (px)", "Detection", "float", ""),
    ("sigma_high", "Band-pass σ high (px)", "Detection", "float", ""),
    ("bg_range", "Background frames [lo, hi)", "Background", "range", "relative to each frame, e.g. -30, 0"),
    ("bg_percentile", "Background percentile", "Background", "float", "0 = mean, else (0, 1]"),
    ("method", "Fit method", "Fit", "choice:mle|lsq", "MLE (Poisson/sCMOS) or least squares"),
    ("likelihood", "Likelihood", "Fit", "choice:poisson|scmos", "sCMOS needs MLE"),
    ("fit_sigma", "Fit PSF σ", "Fit", "bool", ""),
    ("psf_sigma", "PSF σ (nm)", "Fit", "float", "start or fixed value"),
    ("max_iter", "Max iterations", "Fit", "int", ""),
    ("roi_size", "ROI size (px, odd)", "ROI", "int", ""),
    ("pixel_size", "Pixel size (nm)", "Camera", "optfloat", "empty = from the series metadata (voxelsize.x)"),
)
_PRESET_NAME = re.compile(r"^[A-Za-z0-9_. -]{1,64}$")
_FIELD_IN_ERROR = re.compile(r"LocalizationParams\.(\w+)")


def _defaults() -> dict[str, Any]:
    default = LocalizationParams()
    values = {f.name: getattr(default, f.name) for f in fields(LocalizationParams)}
    values["pixel_size"] = ""
    return values


def _form_values(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, value in params.items():
        if isinstance(value, tuple):
            out[name] = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[name] = "on" if value else ""
        else:
            out[name] = str(value)
    return out


def params_from_form(form: dict[str, str]) -> tuple[LocalizationParams | None, dict[str, str]]:
    """Parse the settings form; returns the params, or None and ``{field: message}`` for the fields that are wrong."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, _label, _group, kind, _help in FORM_FIELDS:
        raw = form.get(name, "").strip()
        try:
            if kind == "bool":
                values[name] = raw in ("on", "true", "1", "yes")
            elif kind == "float":
                values[name] = float(raw)
            elif kind == "optfloat":
                if raw:
                    values[name] = float(raw)
            elif kind == "int":
                values[name] = int(raw)
            elif kind == "range":
                lo, hi = (int(p) for p in raw.replace(",", " ").split())
                values[name] = (lo, hi)
            else:
                values[name] = raw
        except ValueError:
            what = {"float": "a number", "optfloat": "a number or empty", "int": "a whole number",
                    "range": "two whole numbers, e.g. -30, 0"}
            errors[name] = f"must be {what.get(kind, 'set')}"
    if errors:
        return None, errors
    try:
        return LocalizationParams(**values), {}
    except ConfigError as exc:
        match = _FIELD_IN_ERROR.search(str(exc))
        field = match.group(1) if match else "threshold"
        return None, {field: str(exc).split(f"LocalizationParams.{field} ", 1)[-1]}


def _presets(presets_dir: Path | None) -> list[str]:
    if presets_dir is None or not presets_dir.is_dir():
        return []
    return sorted(p.stem for p in presets_dir.glob("*.json"))


def _load_preset(presets_dir: Path | None, name: str) -> dict[str, Any] | None:
    if presets_dir is None or not _PRESET_NAME.match(name):
        return None
    try:
        loaded = json.loads((presets_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _launch_page(request: Request, series: list[str], values: dict[str, str], errors: dict[str, str],
                 *, status_code: int = 200) -> Response:
    state = state_of(request)
    return page(request, "launch.html", {
        "series": series,
        "fields": FORM_FIELDS,
        "values": values,
        "errors": errors,
        "presets": _presets(state.presets_dir),
    }, status_code=status_code)


async def launch_form(request: Request) -> Response:
    """The settings form for the series named in ``?series=`` (repeatable), with defaults or a preset."""
    state = state_of(request)
    series = request.query_params.getlist("series")
    values = _form_values(_defaults())
    preset = request.query_params.get("preset")
    if preset:
        loaded = _load_preset(state.presets_dir, preset)
        if loaded is None:
            flash(request, "error", f"no preset named {preset!r}")
        else:
            values.update({k: str(v) for k, v in loaded.items() if k in values})
    return _launch_page(request, series, values, {})


def _submit_all(request: Request, series: list[str], params: LocalizationParams, raw: dict[str, str]) -> list[str]:
    rules = state_of(request).rules
    assert rules is not None
    # Only what the form sets: the service fills the rest (the pixel size from each series' metadata).
    body = {name: getattr(params, name) for name, *_ in FORM_FIELDS if name != "pixel_size" or raw.get(name)}
    body["bg_range"] = list(params.bg_range)
    return [rules.submit_localization(s, body) for s in series]


@writer_endpoint
async def launch_submit(request: Request) -> Response:
    """Validate the form; save a preset, or submit one localization rule per series."""
    state = state_of(request)
    form = await request.form()
    raw = {k: v for k, v in form.items() if isinstance(v, str)}
    series = [s for s in form.getlist("series") if isinstance(s, str) and s]
    params, errors = params_from_form(raw)
    if params is None:
        return _launch_page(request, series, raw, errors, status_code=400)
    if raw.get("action") == "save-preset":
        name = raw.get("preset_name", "").strip()
        if state.presets_dir is None or not _PRESET_NAME.match(name):
            return _launch_page(request, series, raw, {"preset_name": "use 1-64 letters, digits, '_', '.', '-'"},
                                status_code=400)
        state.presets_dir.mkdir(parents=True, exist_ok=True)
        values = {k: raw.get(k, "") for k, *_ in FORM_FIELDS}
        (state.presets_dir / f"{name}.json").write_text(json.dumps(values, indent=1))
        flash(request, "ok", f"saved preset {name!r}")
        return _launch_page(request, series, raw, {})
    if not series:
        flash(request, "error", "choose at least one series (tick them in Files, or open a series and press Analyse)")
        return _launch_page(request, series, raw, {}, status_code=400)
    if state.rules is None:
        flash(request, "error", "no rule service is configured, so nothing can run: start the cluster with "
                                "`photonflow up`, or pass --rules-url to `photonflow ui`")
        return _launch_page(request, series, raw, {}, status_code=503)
    try:
        ids = await blocking(_submit_all, request, series, params, raw)
    except (AnalysisError, ServerUnavailableError) as exc:
        flash(request, "error", f"not launched: {exc}")
        return _launch_page(request, series, raw, {}, status_code=502)
    flash(request, "ok", f"launched {len(ids)} localization rule(s): {', '.join(ids)}")
    return RedirectResponse("/rules", status_code=303)


_EXAMPLE_RECIPE = """\
- FilterTable: {input: input, output: filtered, filters: {x_err: [0, 30]}}
- Render: {input: filtered, output: image, method: histogram, pixel_nm: 10}
- SaveImage: {input: image, file_pattern: '{output_dir}/{file_stub}.png'}
"""


async def recipe_form(request: Request) -> Response:
    """The recipe-run form."""
    return page(request, "launch_recipe.html", {"recipe": _EXAMPLE_RECIPE, "glob": "", "output_dir": "analysis",
                                                "error": ""})


def _recipe_svg(text: str) -> str:
    from photonflow.recipes import parse_recipe, recipe_to_svg

    return recipe_to_svg(parse_recipe(text))


async def recipe_svg(request: Request) -> Response:
    """The graph of the recipe in ``?recipe=`` (or the POSTed body) as SVG; 400 with the parse error."""
    text = request.query_params.get("recipe") or (await request.body()).decode("utf-8", "replace")
    try:
        svg = await blocking(_recipe_svg, text)
    except (RecipeError, ConfigError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return Response(svg, media_type="image/svg+xml")


async def recipe_inputs(request: Request) -> Response:
    """Cluster files matching ``?glob=`` (JSON list)."""
    pattern = request.query_params.get("glob", "").strip()
    if not pattern:
        return JSONResponse([])
    try:
        found = await blocking(state_of(request).client.glob, pattern)
    except (ValueError, OSError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(found[:10_000])


@writer_endpoint
async def recipe_submit(request: Request) -> Response:
    """Check the recipe and inputs, then submit one recipe rule over the files matching the glob."""
    state = state_of(request)
    form = await request.form()
    text = str(form.get("recipe", ""))
    pattern = str(form.get("glob", "")).strip()
    output_dir = str(form.get("output_dir", "")).strip()
    context = {"recipe": text, "glob": pattern, "output_dir": output_dir, "error": ""}
    try:
        await blocking(_recipe_svg, text)
        inputs = await blocking(state.client.glob, pattern) if pattern else []
    except (RecipeError, ConfigError, ValueError, OSError) as exc:
        context["error"] = str(exc)
        return page(request, "launch_recipe.html", context, status_code=400)
    if not inputs:
        context["error"] = f"no cluster file matches {pattern!r}"
        return page(request, "launch_recipe.html", context, status_code=400)
    if state.rules is None:
        context["error"] = "no rule service is configured: start the cluster with `photonflow up`"
        return page(request, "launch_recipe.html", context, status_code=503)
    try:
        rule_id = await blocking(state.rules.submit_recipe, text, inputs, output_dir=output_dir or "analysis")
    except (AnalysisError, ServerUnavailableError) as exc:
        context["error"] = f"not launched: {exc}"
        return page(request, "launch_recipe.html", context, status_code=502)
    flash(request, "ok", f"launched recipe rule {rule_id} on {len(inputs)} file(s)")
    return RedirectResponse("/rules", status_code=303)


routes = [
    Route("/launch", launch_form, name="launch"),
    Route("/launch", launch_submit, methods=["POST"], name="launch_submit"),
    Route("/recipe", recipe_form, name="recipe"),
    Route("/recipe", recipe_submit, methods=["POST"], name="recipe_submit"),
    Route("/recipe/svg", recipe_svg, methods=["GET", "POST"], name="recipe_svg"),
    Route("/recipe/inputs", recipe_inputs, name="recipe_inputs"),
]
