"""Recipe runner overhead: a filter + derived-column + render recipe through ``run_recipe`` vs the same library calls.

Run: ``.venv/bin/python benchmarks/recipes.py``. Prints medians of 5 runs on a 1-million-row synthetic table, and the
ratio recipe / direct (1.0 = no overhead). The "direct" peer calls ``apply_filters``, numpy arithmetic and
``render`` by hand, so the ratio is the cost of parsing-free dispatch, input checks and the safe expression
evaluator. Also times the expression evaluator against the same formula written in numpy, and parsing a recipe.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from photonflow.localization.filters import apply_filters
from photonflow.localization.render import render
from photonflow.localization.results import empty_results
from photonflow.recipes import parse_expression, parse_recipe, run_recipe

N_ROWS = 1_000_000
REPEATS = 5
RECIPE = """
- FilterTable: {input: input, output: filtered, filters: {x_err: [0, 30], photons: [300, null]}}
- DerivedColumn: {input: filtered, output: derived, columns: {precision: 'sqrt((x_err**2 + y_err**2) / 2)'}}
- FilterTable: {input: derived, output: sharp, filters: {precision: [0, 20]}}
- Render: {input: sharp, output: image, method: histogram, pixel_nm: 10}
"""


def _table() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = empty_results(N_ROWS)
    t["frame"] = np.sort(rng.integers(0, 20000, N_ROWS))
    t["x"] = rng.uniform(0, 20000, N_ROWS)
    t["y"] = rng.uniform(0, 20000, N_ROWS)
    t["x_err"] = rng.uniform(2, 40, N_ROWS)
    t["y_err"] = rng.uniform(2, 40, N_ROWS)
    t["photons"] = rng.uniform(100, 5000, N_ROWS)
    return t


def _median_s(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    table = _table()
    recipe = parse_recipe(RECIPE)

    def direct() -> np.ndarray:
        f = apply_filters(table, {"x_err": [0, 30], "photons": [300, None]})
        precision = np.sqrt((f["x_err"].astype(np.float64) ** 2 + f["y_err"].astype(np.float64) ** 2) / 2)
        return render(f[precision <= 20], method="histogram", pixel_nm=10)

    def via_recipe() -> np.ndarray:
        return run_recipe(recipe, {"input": table}).namespace["image"].data

    assert np.array_equal(direct(), via_recipe())
    t_direct = _median_s(direct)
    t_recipe = _median_s(via_recipe)
    print(f"rows: {N_ROWS:,}, medians of {REPEATS} runs")
    print(f"filter+derive+filter+render  direct {t_direct * 1e3:8.1f} ms   recipe {t_recipe * 1e3:8.1f} ms   "
          f"ratio recipe/direct {t_recipe / t_direct:5.2f}")  # fmt: skip

    cols = {n: table[n] for n in ("x_err", "y_err")}
    expr = parse_expression("sqrt((x_err**2 + y_err**2) / 2)")
    t_expr = _median_s(lambda: expr.evaluate(cols))
    t_np = _median_s(
        lambda: np.sqrt((cols["x_err"].astype(np.float64) ** 2 + cols["y_err"].astype(np.float64) ** 2) / 2)
    )
    print(f"expression evaluator         numpy  {t_np * 1e3:8.1f} ms   parsed {t_expr * 1e3:8.1f} ms   "
          f"ratio parsed/numpy  {t_expr / t_np:5.2f}")  # fmt: skip
    t_parse = _median_s(lambda: parse_recipe(RECIPE))
    print(f"parse + validate the 4-module recipe: {t_parse * 1e3:.2f} ms ({t_parse / t_recipe:.2%} of one run)")


if __name__ == "__main__":
    main()
