"""``photonflow analyse``, ``analyse-files``, ``rules``, ``cancel``: submit and follow analysis rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photonflow.cli._common import add_cluster_options, config_from_args
from photonflow.errors import ConfigError, NotFoundError, ServerUnavailableError

if TYPE_CHECKING:
    from photonflow.compute.api import RuleAPI

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``analyse``, ``analyse-files``, ``rules`` and ``cancel`` commands."""
    p = subparsers.add_parser("analyse", help="localize a series on the cluster (live while it spools)",
                              description="Submit a localization rule over SERIES_URI (PYME-CLUSTER://cluster/path "
                              "or a cluster path). The series may still be spooling: chunks are analysed as they land.")
    p.add_argument("series", metavar="SERIES_URI")
    p.add_argument("--params", type=Path, help="YAML/JSON file of localization parameters")
    p.add_argument("--recipe", type=Path, help="recipe (YAML) to run on the results once they are complete")
    p.add_argument("--results", help="cluster path of the .h5r (default <series dir>/analysis/<stem>.h5r)")
    p.add_argument("--wait", action="store_true", help="wait for the rule (and its chained recipe) to end")
    p.add_argument("--timeout", type=float, default=3600.0, help="longest --wait, seconds")
    _api_options(p)
    p.set_defaults(handler=_analyse)

    p = subparsers.add_parser("analyse-files", help="run a recipe on the cluster over a set of files (one task each)",
                              description="Submit a recipe rule: RECIPE (a local YAML file) runs once per cluster file "
                              "matched by the PATTERNs (cluster globs: *, ?, []; quote them), each output file stored "
                              "write-once under --output-dir.")
    p.add_argument("--recipe", type=Path, required=True, help="recipe (YAML) to run on each file")
    p.add_argument("patterns", metavar="PATTERN", nargs="+", help="cluster path or glob of input files")
    p.add_argument("--output-dir", required=True, help="cluster directory for the recipe's output files")
    p.add_argument("--wait", action="store_true", help="wait for the rule to end")
    p.add_argument("--timeout", type=float, default=3600.0, help="longest --wait, seconds")
    _api_options(p)
    p.set_defaults(handler=_analyse_files)

    p = subparsers.add_parser("rules", help="list analysis rules and their progress")
    p.add_argument("--json", action="store_true", help="print JSON")
    _api_options(p)
    p.set_defaults(handler=_rules)

    p = subparsers.add_parser("cancel", help="cancel an analysis rule")
    p.add_argument("rule_id", metavar="ID")
    _api_options(p)
    p.set_defaults(handler=_cancel)


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="rule API URL http://host:port (default: config, then discovery)")
    add_cluster_options(parser)


def _api(args: argparse.Namespace) -> RuleAPI:
    from photonflow.compute.api import RuleAPI
    from photonflow.compute.discovery import find_scheduler

    config = config_from_args(args)
    url = args.api or config.scheduler_api
    if url is None:
        found = find_scheduler(config.cluster, config=config, zeroconf=config.advertise == "zeroconf")
        if found is None or found.api is None:
            raise ServerUnavailableError(f"no scheduler of cluster {config.cluster!r} found; start 'photonflow "
                                         "scheduler' (or 'photonflow up'), or pass --api http://host:port")
        url = found.api
    return RuleAPI(url)


def _line(rule: dict[str, Any]) -> str:
    c = rule["counts"]
    return (f"{rule['id']}  {rule['kind']:<12} {rule['status']:<10} tasks {c['done']}/{c['released']} done, "
            f"{c['running']} running, {c['failed']} failed, {c['retries']} retries; rows {c['rows']}; "
            f"local {c['local']}/{c['done']}  {' '.join(rule.get('outputs') or [])}")


def _analyse(args: argparse.Namespace) -> int:
    import yaml

    params: dict[str, Any] = {}
    if args.params is not None:
        loaded = yaml.safe_load(args.params.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.params} must hold a mapping of localization parameters")
        params = loaded
    then = None
    if args.recipe is not None:
        then = {"recipe": args.recipe.read_text(encoding="utf-8")}
    api = _api(args)
    rule = api.submit_localization(args.series, params=params, results=args.results, then=then)
    print(f"rule {rule['id']} submitted: {rule['spec']['series']} -> {rule['spec']['results']}", flush=True)
    if not args.wait:
        return 0
    last = api.wait(rule["id"], timeout_s=args.timeout, progress=lambda r: print(_line(r), flush=True))
    print(_line(last))
    return 0 if last["status"] == "complete" else 1


def _inputs(args: argparse.Namespace) -> list[str]:
    """The cluster files the patterns name, in pattern order, each once."""
    from photonflow.storage import ClusterClient

    found: dict[str, None] = {}
    with ClusterClient(config=config_from_args(args)) as client:
        for pattern in args.patterns:
            if any(c in pattern for c in "*?["):
                matches = client.glob(pattern)
            else:
                matches = [pattern] if client.exists(pattern) and not client.isdir(pattern) else []
            if not matches:
                raise NotFoundError(f"no file of cluster {client.cluster!r} matches {pattern!r}; "
                                    "'photonflow ls' shows what is there")
            found.update(dict.fromkeys(matches))
    return list(found)


def _analyse_files(args: argparse.Namespace) -> int:
    recipe = args.recipe.read_text(encoding="utf-8")
    inputs = _inputs(args)
    api = _api(args)
    rule = api.submit_recipe(recipe, inputs, output_dir=args.output_dir)
    print(f"rule {rule['id']} submitted: {args.recipe.name} over {len(inputs)} file(s) -> {rule['spec']['output_dir']}",
          flush=True)
    if not args.wait:
        return 0
    last = api.wait(rule["id"], timeout_s=args.timeout, follow_chain=False,
                    progress=lambda r: print(_line(r), flush=True))
    print(_line(last))
    return 0 if last["status"] == "complete" else 1


def _rules(args: argparse.Namespace) -> int:
    rules = _api(args).rules()
    if args.json:
        json.dump(rules, sys.stdout, indent=1)
        print()
    for rule in [] if args.json else rules:
        print(_line(rule))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    rule = _api(args).cancel(args.rule_id)
    print(_line(rule))
    return 0
