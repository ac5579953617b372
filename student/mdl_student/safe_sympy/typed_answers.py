"""Typed answers (``"x**2*exp(x)"``) rebuilt as sympy objects by walking their syntax tree, never by ``eval``."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from mdl_student.safe_sympy.whitelist import (
    UnsafeExpression,
    _FLOAT_DIGITS,
    _MAX_DEPTH,
    _MAX_EVALUATED_DIGITS,
    _MAX_EVALUATED_EXPONENT,
    _MAX_FUNCTION_ARG,
    _MAX_INT_DIGITS,
    _PYTHON_BUILTINS,
    _answer_constants,
    _answer_functions,
    _column,
    _describe,
    _is_dangerous_name,
    _parse_tree,
)



def parse_answer_text(text: str, symbols: Mapping[str, Any] | Iterable[Any] | None = None,
                      *, max_length: int = 2000) -> Any:
    """Parse a student's typed answer into a sympy object, safely.

    Accepted: numbers (``1/2`` is exactly one half; ``0.5`` is a Float;
    ``2j`` is ``2.0*I``), names, ``+ - * / ** ^ @`` (``^`` means power, as in
    maths), unary ``+ -``, comparisons and ``and``/``or``/``not`` (for
    Piecewise conditions), tuples, lists (for ``Matrix([[...]])``), set
    literals (``{1, 2}`` is a FiniteSet), and calls to a fixed table of
    functions: sympy's elementary and special functions, ``Abs``/``abs``,
    ``Max``/``Min``, ``Piecewise``, ``Matrix``, ``Rational``, ``Eq`` and
    friends, plus ``sigmoid(z) = 1/(1+exp(-z))``, ``softplus(z) =
    log(1+exp(z))`` and ``relu(z) = Max(0, z)``.  ``lhs = rhs`` (a single
    ``=``) is read as ``Eq(lhs, rhs)``.

    Names resolve in this order: a name in `symbols` (a mapping name ->
    Symbol, or an iterable of Symbols) gives that symbol, so that a course
    symbol called ``pi`` or ``E`` wins over the constant; then the constants
    ``pi, E, I, oo`` (``inf`` is ``oo``); then a fresh ``Symbol(name)``.  A
    function name used without a call is a symbol (``beta*x`` uses a symbol
    ``beta``, ``beta(x, y)`` is not allowed because beta is not in the table).

    Refused with `UnsafeExpression`: attribute access, indexing, lambda,
    comprehensions, strings, keyword arguments, calls to anything not in the
    table (``eval``, ``__import__``, ``open``, ``getattr``, ...), names that
    start with an underscore or name a Python built-in, and text longer than
    `max_length`.  Integer literals longer than 1000 digits are refused;
    powers, products and function calls whose evaluation could create a huge
    number are built unevaluated.
    """
    table = _symbol_table(symbols)
    if isinstance(text, str) and len(text) <= max_length:
        # "lhs = rhs" is not Python; read a single '=' (not part of ==, <=,
        # >=, !=) as an equation, but only when the text is not valid as it
        # stands, so that f(x=1) still gets the keyword-argument message.
        parts = re.split(r"(?<![<>=!])=(?!=)", text)
        if len(parts) == 2 and not _is_python_expression(text):
            import sympy as sp

            lhs = parse_answer_text(parts[0], table, max_length=max_length)
            rhs = parse_answer_text(parts[1], table, max_length=max_length)
            try:
                return sp.Eq(lhs, rhs, evaluate=False)
            except Exception as exc:  # sympy's own complaint, e.g. a Matrix side
                raise UnsafeExpression(f"could not build the equation: {exc}") from None
    tree = _parse_tree(text, max_length, "your answer")
    value, _ = _AnswerBuilder(table, text.strip()).build(tree, 0)
    return _finish(value)


def _is_python_expression(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _symbol_table(symbols: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, Any]:
    if symbols is None:
        return {}
    if isinstance(symbols, Mapping):
        return {str(k): v for k, v in symbols.items()}
    return {str(s.name): s for s in symbols}


def _finish(value: Any) -> Any:
    """Turn the Python containers a typed answer may end with into sympy ones."""
    import sympy as sp

    if isinstance(value, list):
        return sp.Tuple(*[_finish(v) for v in value])
    if isinstance(value, tuple):
        return sp.Tuple(*[_finish(v) for v in value])
    if isinstance(value, bool):
        return sp.true if value else sp.false
    return value


class _AnswerBuilder:
    """Walk the AST of a typed answer, building sympy objects bottom-up.

    `build` returns (value, tainted): tainted means that some node below was
    left unevaluated because evaluating it looked explosive, and so every node
    above is built unevaluated too (sympy would otherwise combine the parts
    and do the explosive evaluation anyway, e.g. in Mul.flatten or when a
    power of a power merges exponents).
    """

    def __init__(self, symbols: dict[str, Any], text: str):
        import sympy as sp

        self.sp = sp
        self.symbols = symbols
        self.text = text
        self.functions = _answer_functions()
        self.constants = _answer_constants()

    def build(self, node: ast.AST, depth: int) -> tuple[Any, bool]:
        if depth > _MAX_DEPTH:
            raise UnsafeExpression(
                f"your answer is nested more than {_MAX_DEPTH} levels deep")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise UnsafeExpression(
                f"{_describe(node)} is not allowed in an answer{_column(node)}")
        return method(node, depth + 1)

    def _apply(self, tainted: bool, node: ast.AST, make: Callable[[], Any]) -> Any:
        """Run one construction step; unevaluated when the subtree is tainted.

        evaluate(False) is sympy's thread-local switch; it is used only on this
        rare path because sympy clears its cache whenever the switch flips.
        """
        try:
            if tainted:
                from sympy.core.parameters import evaluate

                with evaluate(False):
                    return make()
            return make()
        except UnsafeExpression:
            raise
        except Exception as exc:  # e.g. adding a Matrix and a number
            raise UnsafeExpression(
                f"could not build part of your answer{_column(node)}: "
                f"{type(exc).__name__}: {exc}") from None

    # -- leaves --------------------------------------------------------------

    def _Constant(self, node: ast.Constant, depth: int) -> tuple[Any, bool]:
        v = node.value
        sp = self.sp
        if isinstance(v, bool):
            return (sp.true if v else sp.false), False
        if isinstance(v, int):
            if v.bit_length() > _MAX_INT_DIGITS * 3.33:
                raise UnsafeExpression(
                    f"a number in your answer has more than {_MAX_INT_DIGITS} digits")
            return sp.Integer(v), False
        if isinstance(v, float):
            # Keep the digits the student typed rather than the binary float.
            typed = ast.get_source_segment(self.text, node)
            return sp.Float(typed if typed and _FLOAT_DIGITS.fullmatch(typed) else repr(v)), False
        if isinstance(v, complex):
            return sp.Float(repr(v.real)) + sp.Float(repr(v.imag)) * sp.I, False
        if isinstance(v, str):
            raise UnsafeExpression(
                f"text in quotes is not allowed in an answer{_column(node)}")
        raise UnsafeExpression(f"{v!r} is not allowed in an answer{_column(node)}")

    def _Name(self, node: ast.Name, depth: int) -> tuple[Any, bool]:
        name = node.id
        if name in self.symbols:
            return self.symbols[name], False
        if name in self.constants:
            return self.constants[name], False
        if _is_dangerous_name(name):
            raise UnsafeExpression(f"the name {name!r} is not allowed in an answer")
        if name in _PYTHON_BUILTINS:
            raise UnsafeExpression(
                f"{name!r} is a Python built-in and is not allowed in an answer")
        return self.sp.Symbol(name), False

    # -- operators -----------------------------------------------------------

    def _BinOp(self, node: ast.BinOp, depth: int) -> tuple[Any, bool]:
        a, ta = self.build(node.left, depth)
        b, tb = self.build(node.right, depth)
        tainted = ta or tb
        op = node.op
        sp = self.sp
        if isinstance(op, (ast.Pow, ast.BitXor)):  # ^ means power, as in maths
            if _both_expr(a, b) and b.is_Number and b.is_finite:
                if abs(b) > _MAX_EVALUATED_EXPONENT:
                    tainted = True
                elif a.is_Number and _digits(a) * float(abs(b)) > _MAX_EVALUATED_DIGITS:
                    tainted = True
            return self._apply(tainted, node, lambda: a**b), tainted
        if isinstance(op, ast.Add):
            return self._apply(tainted, node, lambda: a + b), tainted
        if isinstance(op, ast.Sub):
            return self._apply(tainted, node, lambda: a - b), tainted
        if isinstance(op, (ast.Mult, ast.MatMult)):
            if _digits(a) + _digits(b) > _MAX_EVALUATED_DIGITS:
                tainted = True
            return self._apply(tainted, node, lambda: a * b), tainted
        if isinstance(op, ast.Div):
            if _both_expr(a, b):
                # a / b as a * b**-1, so 1/2 is exactly Rational(1, 2).
                return self._apply(tainted, node, lambda: sp.Mul(a, sp.Pow(b, -1))), tainted
            return self._apply(tainted, node, lambda: a / b), tainted
        symbol = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
                  ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&"}.get(type(op), "?")
        raise UnsafeExpression(f"the operator {symbol} is not allowed in an answer")

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> tuple[Any, bool]:
        v, t = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return self._apply(t, node, lambda: -v), t
        if isinstance(node.op, ast.UAdd):
            return v, t
        if isinstance(node.op, ast.Not):
            return self._apply(t, node, lambda: self.sp.Not(v)), t
        raise UnsafeExpression(f"the operator ~ is not allowed in an answer{_column(node)}")

    def _Compare(self, node: ast.Compare, depth: int) -> tuple[Any, bool]:
        sp = self.sp
        ops = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge,
               ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
        left, tainted = self.build(node.left, depth)
        parts = []
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in ops:
                raise UnsafeExpression(
                    f"the comparison {type(op).__name__} is not allowed in an answer")
            right, t = self.build(right_node, depth)
            tainted = tainted or t
            fn, lhs = ops[type(op)], left
            parts.append(self._apply(tainted, node, lambda: fn(lhs, right)))
            left = right
        if len(parts) == 1:
            return parts[0], tainted
        return self._apply(tainted, node, lambda: sp.And(*parts)), tainted

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> tuple[Any, bool]:
        built = [self.build(v, depth) for v in node.values]
        tainted = any(t for _, t in built)
        fn = self.sp.And if isinstance(node.op, ast.And) else self.sp.Or
        return self._apply(tainted, node, lambda: fn(*[v for v, _ in built])), tainted

    # -- containers ----------------------------------------------------------

    def _Tuple(self, node: ast.Tuple, depth: int) -> tuple[Any, bool]:
        built = [self.build(v, depth) for v in node.elts]
        return tuple(v for v, _ in built), any(t for _, t in built)

    def _List(self, node: ast.List, depth: int) -> tuple[Any, bool]:
        built = [self.build(v, depth) for v in node.elts]
        return [v for v, _ in built], any(t for _, t in built)

    def _Set(self, node: ast.Set, depth: int) -> tuple[Any, bool]:
        built = [self.build(v, depth) for v in node.elts]
        tainted = any(t for _, t in built)
        return self._apply(tainted, node,
                           lambda: self.sp.FiniteSet(*[_finish(v) for v, _ in built])), tainted

    # -- calls ---------------------------------------------------------------

    def _Call(self, node: ast.Call, depth: int) -> tuple[Any, bool]:
        if isinstance(node.func, ast.Attribute):
            raise UnsafeExpression(
                f"{_describe(node.func)} is not allowed in an answer{_column(node.func)}")
        if not isinstance(node.func, ast.Name):
            raise UnsafeExpression(
                f"calling anything but a named function such as sin(x) is not allowed "
                f"in an answer{_column(node)}")
        name = node.func.id
        fn = self.functions.get(name)
        if fn is None:
            if _is_dangerous_name(name) or name in _PYTHON_BUILTINS:
                raise UnsafeExpression(f"calling {name}() is not allowed in an answer")
            raise UnsafeExpression(
                f"{name}() is not a function an answer may use; allowed functions "
                f"include sin, cos, exp, log, sqrt, Abs, Max, Piecewise, Matrix, sigmoid")
        if node.keywords:
            raise UnsafeExpression(
                f"keyword arguments (name=value) are not allowed in an answer{_column(node)}")
        built = [self.build(a, depth) for a in node.args]
        args = [v for v, _ in built]
        # factorial(10**7) and friends: a big argument is left unevaluated.
        tainted = any(t for _, t in built) or any(_is_big_number(a) for a in args)
        return self._apply(tainted, node, lambda: fn(*args)), tainted


def _both_expr(a: Any, b: Any) -> bool:
    """True when both are scalar sympy expressions (not matrices or tuples)."""
    from sympy import Expr

    return isinstance(a, Expr) and isinstance(b, Expr)


def _digits(v: Any) -> float:
    """Rough number of decimal digits in a sympy Integer/Rational (0 otherwise)."""
    if getattr(v, "is_Rational", False):
        p, q = abs(int(v.p)), abs(int(v.q))
        return max(p.bit_length(), q.bit_length()) * math.log10(2) + 1
    return 0.0


def _is_big_number(v: Any) -> bool:
    return getattr(v, "is_Rational", False) and (abs(v.p) > _MAX_FUNCTION_ARG
                                                 or abs(v.q) > _MAX_FUNCTION_ARG)
