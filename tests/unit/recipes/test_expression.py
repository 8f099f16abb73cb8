"""The derived-column expression language: arithmetic on columns, and refusal of everything else."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import RecipeError
from photonflow.recipes.expression import ExpressionError, parse_expression

COLUMNS = {"x": np.array([1.0, 4.0]), "y": np.array([2.0, 3.0]), "bg": np.array([0.5, 0.25])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + y", [3.0, 7.0]),
        ("x - y - 1", [-2.0, 0.0]),  # left-associative
        ("x * y + 1", [3.0, 13.0]),
        ("1 + x * y", [3.0, 13.0]),  # * binds tighter than +
        ("(1 + x) * y", [4.0, 15.0]),
        ("x / y / 2", [0.25, 4.0 / 3.0 / 2.0]),
        ("2 ** 3 ** 2", [512.0, 512.0]),  # right-associative, as in Python
        ("-x ** 2", [-1.0, -16.0]),  # ** binds tighter than unary minus
        ("(-x) ** 2", [1.0, 16.0]),
        ("+x - -y", [3.0, 7.0]),
        ("sqrt(x)", [1.0, 2.0]),
        ("log(exp(y))", [2.0, 3.0]),
        ("abs(y - x)", [1.0, 1.0]),
        ("sqrt(x**2 + y**2)", [np.sqrt(5.0), 5.0]),
        ("1.5e1 + .5 + 2.", [17.5, 17.5]),
        ("bg * 4", [2.0, 1.0]),
        ("  x  ", [1.0, 4.0]),
    ],
)
def test_evaluates_arithmetic_with_python_precedence(text: str, expected: list[float]) -> None:
    result = parse_expression(text).evaluate(COLUMNS)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, expected)


def test_reports_the_columns_it_reads() -> None:
    assert parse_expression("sqrt(x_err**2 + y_err**2) / photons").columns == {"x_err", "y_err", "photons"}
    assert parse_expression("3 * 4").columns == frozenset()


def test_evaluates_over_a_structured_table() -> None:
    table = np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])
    table["a"] = [1.5, 2.5]
    table["b"] = [2, 4]
    np.testing.assert_allclose(parse_expression("a * b").evaluate(table), [3.0, 10.0])


def test_invalid_operations_give_nan_or_inf_not_errors() -> None:
    result = parse_expression("log(x - 2) + 0 * y / (y - y)").evaluate(COLUMNS)
    assert np.isnan(result[0])  # log of a negative number (and 0 * inf)


def test_unknown_column_lists_the_available_ones() -> None:
    with pytest.raises(ExpressionError, match=r"unknown column\(s\) photons; available columns: bg, x, y"):
        parse_expression("photons / x").evaluate(COLUMNS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", r"'__import__' is not a function; allowed: abs, exp, log, sqrt"),
        ("eval('1')", r"'eval' is not a function"),
        ("x.real", r"unexpected '\.' at position 1"),
        ("x[0]", r"unexpected '\[' at position 1"),
        ("'abc'", r"unexpected \"'\" at position 0"),
        ("x, y", r"unexpected ',' at position 1"),
        ("x if y else 1", r"unexpected 'if' at position 2"),
        ("x < y", r"unexpected '<' at position 2"),
        ("x == y", r"unexpected '=' at position 2"),
        ("lambda: 1", r"unexpected ':' at position 6"),
        ("x % 2", r"unexpected '%' at position 2"),
        ("x // 2", r"expected a number, column name, function or '\(' at position 3, got '/'"),
        ("sqrt(x, y)", r"unexpected ',' at position 6"),
        ("sqrt x", r"function 'sqrt' at position 0 needs an argument in parentheses"),
        ("(x + y", r"'\(' at position 0 is not closed \(found end of expression at position 6\)"),
        ("x + y)", r"unexpected '\)' at position 5"),
        ("x +", r"got end of expression"),
        ("", r"at position 0, got end of expression"),
        ("x y", r"unexpected 'y' at position 2"),
        ("1x", r"unexpected 'x' at position 1"),
        ("x;y", r"unexpected ';' at position 1"),
        ("x @ y", r"unexpected '@' at position 2"),
    ],
)
def test_refuses_anything_that_is_not_arithmetic_on_columns(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        parse_expression(text)
    assert isinstance(info.value, RecipeError)  # so callers can catch one class for every recipe problem


def test_refuses_non_strings_and_overlong_or_deeply_nested_text() -> None:
    with pytest.raises(ExpressionError, match="must be a string, got int"):
        parse_expression(3)  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="at most 1000 are allowed"):
        parse_expression("x+" * 600 + "x")
    with pytest.raises(ExpressionError, match="nests more than 64 levels"):
        parse_expression("(" * 100 + "x" + ")" * 100)
    with pytest.raises(ExpressionError, match="nests more than 64 levels"):
        parse_expression("-" * 200 + "x")


def test_error_carries_the_position() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("x + $")
    assert info.value.position == 4
