"""The dependency graph: order from data flow, cycles, duplicate producers, missing and overwritten inputs."""

from __future__ import annotations

import pytest

from photonflow.errors import RecipeError
from photonflow.recipes import parse_recipe


def test_order_follows_data_not_list_order() -> None:
    recipe = parse_recipe(
        """
- SaveImage: {input: image}
- Render: {input: corrected, output: image}
- DriftCorrection: {input: filtered, output: corrected}
- FilterTable: {input: input, output: filtered}
"""
    )
    assert [recipe.modules[p].name for p in recipe.graph.order] == [
        "FilterTable", "DriftCorrection", "Render", "SaveImage"
    ]  # fmt: skip
    assert recipe.external_inputs == ("input",)
    assert recipe.graph.producers == {"filtered": 3, "corrected": 2, "image": 1}
    assert {(e.producer, e.consumer, e.name) for e in recipe.graph.edges} == {
        (3, 2, "filtered"), (2, 1, "corrected"), (1, 0, "image")
    }  # fmt: skip


def test_independent_modules_keep_recipe_order_and_branches_join() -> None:
    recipe = parse_recipe(
        """
- SaveCSV: {input: b}
- FilterTable: {input: input, output: a}
- DerivedColumn: {input: input, output: b, columns: {z: x + 1}}
- SaveCSV: {input: a}
- FilterTable: {input: other, output: c}
"""
    )
    assert recipe.graph.order == (1, 2, 0, 3, 4)
    assert recipe.external_inputs == ("input", "other")


def test_empty_optional_names_are_not_connected() -> None:
    recipe = parse_recipe("- DriftCorrection: {output_drift: ''}\n- DriftCorrection: {input: x, output: y}")
    assert recipe.modules[0].outputs() == {"output": "corrected"}
    assert recipe.modules[1].outputs() == {"output": "y"}


@pytest.mark.parametrize(
    ("text", "message", "index"),
    [
        (
            "- FilterTable: {input: a, output: a}",
            r"modules form a cycle: module 1 \(FilterTable\) → module 1 \(FilterTable\)",
            1,
        ),
        (
            "- Render: {}\n- FilterTable: {input: b, output: a}\n"
            "- DerivedColumn: {input: a, output: b, columns: {z: x}}",
            r"modules form a cycle: module 2 \(FilterTable\) → module 3 \(DerivedColumn\) → module 2 \(FilterTable\)",
            2,
        ),
        (
            # a module downstream of the cycle is not part of it
            "- SaveCSV: {input: c}\n- FilterTable: {input: c, output: d}\n- FilterTable: {input: d, output: c}",
            r"modules form a cycle: module 2 \(FilterTable\) → module 3 \(FilterTable\) → module 2 \(FilterTable\);",
            2,
        ),
    ],
)
def test_cycles_are_reported_with_their_modules(text: str, message: str, index: int) -> None:
    with pytest.raises(RecipeError, match=message) as info:
        parse_recipe(text)
    assert info.value.module_index == index


def test_two_producers_of_one_name_are_refused() -> None:
    with pytest.raises(
        RecipeError,
        match=r"module 2 \(Render\): output 'filtered' \(field 'output'\) is already produced by module 1 "
        r"\(FilterTable\); give one of them another name",
    ) as info:
        parse_recipe("- FilterTable: {}\n- Render: {input: x, output: filtered}")
    assert (info.value.module_index, info.value.field) == (2, "output")


def test_missing_inputs_name_the_module_and_what_is_available() -> None:
    parse_recipe("- FilterTable: {input: input}\n- Render: {input: filtered}").graph.check_inputs({"input"})
    recipe = parse_recipe("- FilterTable: {input: input}\n- Render: {input: filterd}")
    with pytest.raises(
        RecipeError,
        match=r"module 2 \(Render\): input 'filterd' \(field 'input'\) is neither supplied to the run nor produced "
        r"by a module; available names: filtered, image, input",
    ) as info:
        recipe.graph.check_inputs({"input"})
    assert info.value.field == "input"


def test_an_output_may_not_overwrite_a_supplied_input() -> None:
    recipe = parse_recipe("- FilterTable: {input: input, output: FitResults}")
    with pytest.raises(RecipeError, match=r"module 1 \(FilterTable\): output 'FitResults' \(field 'output'\) would "):
        recipe.graph.check_inputs({"input", "FitResults"})
