"""A tiny arithmetic expression language over table columns, parsed without ``eval``.

Recipes come from users and, on a cluster, from the network, so a derived column must never execute code. The
grammar admits only numbers, column names, ``+ - * / **``, parentheses and the functions ``sqrt``, ``log``
(natural), ``exp`` and ``abs``::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("**" unary)?              # right-associative, binds tighter than unary minus, as in Python
    atom   := NUMBER | NAME | FUNC "(" expr ")" | "(" expr ")"

Anything else (attribute access, indexing, strings, commas, comparisons, other names followed by ``(``) is
refused with the position of the offending character. Evaluation is in float64 with numpy; invalid operations
(``log`` of a negative number, division by zero) give NaN or ±inf rather than an error, as numpy does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from photonflow.errors import RecipeError

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "parse_expression"]

FUNCTIONS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
    "abs": np.abs,
}

_MAX_LENGTH = 1000  # long enough for any sensible formula
_MAX_DEPTH = 64  # nesting of parentheses, signs and powers; keeps recursion far below Python's limit
_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/()]))"
)


class ExpressionError(RecipeError):
    """The text is not an arithmetic expression over columns; ``position`` is the 0-based offending offset."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    position: int


@dataclass(frozen=True)
class _Number:
    value: float


@dataclass(frozen=True)
class _Column:
    name: str


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Call:
    function: str
    argument: _Node


_Node = _Number | _Column | _Unary | _Binary | _Call


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text and the column names it reads.

    Examples
    --------
    >>> e = parse_expression("sqrt(x_err**2 + y_err**2)")
    >>> sorted(e.columns)
    ['x_err', 'y_err']
    >>> e.evaluate({"x_err": np.array([3.0]), "y_err": np.array([4.0])}).tolist()
    [5.0]
    """

    text: str
    columns: frozenset[str]
    _tree: _Node

    def evaluate(self, columns: Mapping[str, np.ndarray] | np.ndarray) -> np.ndarray:
        """Evaluate over ``columns`` (a mapping of name to array, or a structured array); returns float64.

        Raises
        ------
        ExpressionError
            If a column the expression reads is missing (the message lists the available ones).
        """
        names = set(columns.dtype.names or ()) if isinstance(columns, np.ndarray) else set(columns)
        missing = sorted(self.columns - names)
        if missing:
            raise ExpressionError(
                f"expression {self.text!r} reads unknown column(s) {', '.join(missing)}; "
                f"available columns: {', '.join(sorted(names)) or '(none)'}"
            )
        with np.errstate(all="ignore"):
            return np.asarray(_evaluate(self._tree, columns), dtype=np.float64)


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`.

    Raises
    ------
    ExpressionError
        If ``text`` is not an arithmetic expression over column names (see the module docstring).

    Examples
    --------
    >>> parse_expression("photons / (bg + 1)").columns == {"photons", "bg"}
    True
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    photonflow.recipes.expression.ExpressionError: '__import__' is not a function; allowed: abs, exp, log, sqrt
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; at most {_MAX_LENGTH} are allowed")
    parser = _Parser(text)
    tree = parser.expression()
    parser.expect_end()
    return Expression(text=text, columns=frozenset(_columns(tree)), _tree=tree)


def _next_token(text: str, pos: int) -> tuple[_Token, int]:
    """The token starting at or after ``pos`` (skipping blanks) and the offset after it."""
    if text[pos:].strip() == "":
        return _Token("end", "", len(text)), len(text)
    match = _TOKEN.match(text, pos)
    if match is None:
        bad = len(text[pos:]) - len(text[pos:].lstrip()) + pos
        raise ExpressionError(
            f"unexpected {text[bad]!r} at position {bad}: only numbers, column names, + - * / **, "
            f"parentheses and {', '.join(sorted(FUNCTIONS))} are allowed",
            position=bad,
        )
    kind = match.lastgroup or "op"
    return _Token(kind, match.group(kind), match.start(kind)), match.end()


class _Parser:
    """Recursive descent, tokenizing as it goes (so the first problem from the left is the one reported)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._token, self._end = _next_token(text, 0)
        self._depth = 0

    def _peek(self) -> _Token:
        return self._token

    def _take(self) -> _Token:
        token = self._token
        if token.kind != "end":
            self._token, self._end = _next_token(self._text, self._end)
        return token

    def _is_op(self, *ops: str) -> bool:
        token = self._peek()
        return token.kind == "op" and token.text in ops

    def expect_end(self) -> None:
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {token.text!r} at position {token.position}", position=token.position)

    def expression(self) -> _Node:
        node = self._term()
        while self._is_op("+", "-"):
            op = self._take().text
            node = _Binary(op, node, self._term())
        return node

    def _term(self) -> _Node:
        node = self._unary()
        while self._is_op("*", "/"):
            op = self._take().text
            node = _Binary(op, node, self._unary())
        return node

    def _unary(self) -> _Node:
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            token = self._peek()
            raise ExpressionError(
                f"expression nests more than {_MAX_DEPTH} levels deep at position {token.position}; simplify it",
                position=token.position,
            )
        try:
            if self._is_op("+", "-"):
                op = self._take().text
                return _Unary(op, self._unary())
            return self._power()
        finally:
            self._depth -= 1

    def _power(self) -> _Node:
        base = self._atom()
        if self._is_op("**"):
            self._take()
            return _Binary("**", base, self._unary())
        return base

    def _atom(self) -> _Node:
        token = self._take()
        if token.kind == "number":
            return _Number(float(token.text))
        if token.kind == "name":
            if self._is_op("("):
                if token.text not in FUNCTIONS:
                    raise ExpressionError(
                        f"{token.text!r} is not a function; allowed: {', '.join(sorted(FUNCTIONS))}",
                        position=token.position,
                    )
                self._take()
                argument = self.expression()
                self._close(token)
                return _Call(token.text, argument)
            if token.text in FUNCTIONS:
                raise ExpressionError(
                    f"function {token.text!r} at position {token.position} needs an argument in parentheses",
                    position=token.position,
                )
            return _Column(token.text)
        if token.kind == "op" and token.text == "(":
            node = self.expression()
            self._close(token)
            return node
        what = "end of expression" if token.kind == "end" else repr(token.text)
        raise ExpressionError(
            f"expected a number, column name, function or '(' at position {token.position}, got {what}",
            position=token.position,
        )

    def _close(self, opening: _Token) -> None:
        token = self._take()
        if not (token.kind == "op" and token.text == ")"):
            raise ExpressionError(
                f"'(' at position {opening.position} is not closed (found "
                f"{'end of expression' if token.kind == 'end' else repr(token.text)} at position {token.position})",
                position=token.position,
            )


def _columns(node: _Node) -> set[str]:
    if isinstance(node, _Column):
        return {node.name}
    if isinstance(node, _Unary):
        return _columns(node.operand)
    if isinstance(node, _Binary):
        return _columns(node.left) | _columns(node.right)
    if isinstance(node, _Call):
        return _columns(node.argument)
    return set()


def _evaluate(node: _Node, columns: Mapping[str, np.ndarray] | np.ndarray) -> np.ndarray | float:
    if isinstance(node, _Number):
        return node.value
    if isinstance(node, _Column):
        return np.asarray(columns[node.name], dtype=np.float64)
    if isinstance(node, _Unary):
        value = _evaluate(node.operand, columns)
        return -value if node.op == "-" else value
    if isinstance(node, _Call):
        return FUNCTIONS[node.function](np.asarray(_evaluate(node.argument, columns), dtype=np.float64))
    left = np.asarray(_evaluate(node.left, columns), dtype=np.float64)
    right = np.asarray(_evaluate(node.right, columns), dtype=np.float64)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if node.op == "/":
        return left / right
    return np.power(left, right)
