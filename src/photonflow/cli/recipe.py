"""``photonflow recipe run | check | modules``: apply a YAML recipe to result files, validate one, list modules."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photonflow.recipes import Recipe

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``recipe`` command and its ``run``, ``check`` and ``modules`` sub-commands."""
    recipe = subparsers.add_parser(
        "recipe",
        help="run or check YAML post-processing recipes (filter, drift, render, save)",
        description="Apply YAML recipes (PYME-style module lists) to localization result files.",
    )
    sub = recipe.add_subparsers(title="recipe commands", metavar="ACTION")
    recipe.set_defaults(handler=lambda args: _help(recipe))

    run = sub.add_parser("run", help="apply a recipe to each input file (globs allowed)")
    run.add_argument("recipe", type=Path, help="recipe file (.yaml)")
    run.add_argument(
        "inputs", nargs="+", help="result files (.h5r, .npy, ThunderSTORM .csv, Picasso .hdf5) or glob patterns"
    )
    run.add_argument("--out-dir", type=Path, default=Path("."), help="{output_dir} of file patterns (default: .)")
    run.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra context for file patterns, e.g. data_root=/data; repeatable",
    )
    run.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    run.add_argument("--keep-going", action="store_true", help="go on with the next file after a failure")
    run.set_defaults(handler=_run)

    check = sub.add_parser("check", help="validate a recipe and print its modules in execution order")
    check.add_argument("recipe", type=Path, help="recipe file (.yaml)")
    check.add_argument("--svg", type=Path, help="also draw the dependency graph to this SVG file")
    check.set_defaults(handler=_check)

    modules = sub.add_parser("modules", help="list the available modules and their fields")
    modules.add_argument("name", nargs="?", help="show only this module")
    modules.set_defaults(handler=_modules)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _expand(patterns: list[str]) -> list[Path]:
    """Expand glob patterns (for shells that do not); keep plain names as given so a missing file is reported."""
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no file matches {pattern!r}")
            files.extend(Path(m) for m in matches)
        else:
            files.append(Path(pattern))
    return list(dict.fromkeys(files))


def _parse_context(items: list[str]) -> dict[str, str]:
    context: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--context {item!r}: expected KEY=VALUE with KEY a plain name")
        context[key] = value
    return context


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from photonflow.errors import PhotonflowError
    from photonflow.recipes import load_recipe, run_recipe

    recipe = load_recipe(args.recipe)
    try:
        files = _expand(args.inputs)
        context = _parse_context(args.context)
    except (FileNotFoundError, ValueError) as exc:
        print(f"photonflow: error: {exc}", file=sys.stderr)
        return 2
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    context["output_dir"] = str(out_dir)
    failed = attempted = written = 0
    show = not args.no_progress and sys.stderr.isatty()
    with tqdm(files, desc="recipe", unit="file", disable=not show) as bar:
        for path in bar:
            attempted += 1
            bar.set_postfix_str(path.name)
            try:
                result = run_recipe(recipe, {"input": path}, context=context)
            except PhotonflowError as exc:
                failed += 1
                tqdm.write(f"photonflow: error: {path}: {exc}", file=sys.stderr)
                if not args.keep_going:
                    break
                continue
            written += len(result.files)
            for out in result.files:
                tqdm.write(str(out))
    print(f"{attempted - failed} of {len(files)} file(s) done, {written} output file(s) written, {failed} failed")
    return 1 if failed else 0


def _describe(recipe: Recipe) -> list[str]:
    graph = recipe.graph
    lines = [f"{len(graph.modules)} module(s); inputs to supply: {', '.join(graph.external) or '(none)'}"]
    for position in graph.order:
        module = graph.modules[position]
        reads = ", ".join(module.inputs().values()) or "-"
        writes = ", ".join(module.outputs().values())
        if not writes and hasattr(module, "file_pattern"):
            writes = f"file {module.file_pattern}"
        lines.append(f"  {position + 1}. {module.name}: {reads} -> {writes or '-'}")
    return lines


def _check(args: argparse.Namespace) -> int:
    from photonflow.recipes import load_recipe, recipe_to_svg

    recipe = load_recipe(args.recipe)
    print(f"{args.recipe}: OK")
    for line in _describe(recipe):
        print(line)
    if args.svg is not None:
        args.svg.write_text(recipe_to_svg(recipe), encoding="utf-8")
        print(f"graph drawn to {args.svg}")
    return 0


def _modules(args: argparse.Namespace) -> int:
    from photonflow.errors import RecipeError
    from photonflow.recipes import default_registry

    registry = default_registry()
    classes = list(registry.classes())
    if args.name:
        try:
            classes = [registry.resolve(args.name)]
        except RecipeError as exc:
            print(f"photonflow: error: {exc}", file=sys.stderr)
            return 2
    for cls in classes:
        schema = cls.schema()
        aka = f" (PYME: {', '.join(schema['pyme_names'])})" if schema["pyme_names"] else ""
        print(f"{schema['name']}{aka}: {schema['doc'].splitlines()[0] if schema['doc'] else ''}")
        for entry in schema["fields"]:
            default = "required" if entry["required"] else f"default {entry['default']!r}"
            print(f"    {entry['name']} [{entry['role']}]: {entry['expected']}; {default}. {entry['doc']}")
    return 0
