"""What the safe sympy parsers accept: the whitelisted names, classes and constants, the size limits, the refusal."""

from __future__ import annotations

import ast
import builtins
import functools
import re
from typing import Any, Callable

class UnsafeExpression(ValueError):
    """The text was refused: a construct outside the whitelist, a syntax
    error, or something too big to build.  The message says which."""


# Limits on what a typed answer may ask sympy to compute while it is built.
_MAX_INT_DIGITS = 1000  # a literal longer than this is refused
_MAX_EVALUATED_DIGITS = 10_000  # a number bigger than this stays unevaluated
_MAX_EVALUATED_EXPONENT = 1000  # x**n with |n| above this stays unevaluated
_MAX_FUNCTION_ARG = 10**50  # f(n) with |n| above this stays unevaluated
_MAX_DEPTH = 100  # nesting depth of a typed answer
_MAX_FLOAT_PRECISION_BITS = 10_000  # Float(..., precision=p) in an srepr


# --------------------------------------------------------------------------
# Tables (built lazily so that importing this module does not import sympy)
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _answer_functions() -> dict[str, Callable[..., Any]]:
    """Functions a typed answer may call, by the name the student types."""
    import sympy as sp

    def sigmoid(z: Any) -> Any:
        return 1 / (1 + sp.exp(-z))

    def softplus(z: Any) -> Any:
        return sp.log(1 + sp.exp(z))

    def relu(z: Any) -> Any:
        return sp.Max(0, z)

    table: dict[str, Callable[..., Any]] = {
        name: getattr(sp, name)
        for name in (
            "sin cos tan cot sec csc asin acos atan acot atan2 "
            "sinh cosh tanh coth sech csch asinh acosh atanh "
            "exp log sqrt cbrt root Abs sign re im conjugate arg Max Min "
            "floor ceiling factorial binomial gamma erf erfc besseli "
            "Heaviside DiracDelta KroneckerDelta Piecewise Matrix Rational "
            "Eq Ne Lt Le Gt Ge And Or Not FiniteSet Interval Sum Product"
        ).split()
    }
    # Spellings students type that sympy spells differently.
    table.update(ln=sp.log, abs=sp.Abs, max=sp.Max, min=sp.Min)
    # Deep-learning functions that sympy lacks, as their textbook formulas.
    table.update(sigmoid=sigmoid, softplus=softplus, relu=relu)
    return table


@functools.lru_cache(maxsize=None)
def _answer_constants() -> dict[str, Any]:
    import sympy as sp

    return {"pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo, "inf": sp.oo}


@functools.lru_cache(maxsize=None)
def _srepr_classes() -> dict[str, tuple[type, bool]]:
    """Callables an srepr may name: name -> (class, accepts evaluate=False).

    Every entry is a sympy Basic or Matrix class whose constructor only
    arranges its arguments into a tree; nothing here runs code, reads files or
    parses strings (strings are kept away from these constructors anyway).
    """
    import sympy as sp
    from sympy.core.symbol import Str
    from sympy.functions.elementary.piecewise import ExprCondPair

    evaluating = (
        "Add Mul Pow exp log sin cos tan cot sec csc asin acos atan acot asec "
        "acsc atan2 sinh cosh tanh coth sech csch asinh acosh atanh acoth "
        "Abs sign re im arg conjugate Max Min floor ceiling frac Mod "
        "factorial binomial gamma loggamma polygamma erf erfc Ei LambertW besseli "
        "Heaviside DiracDelta KroneckerDelta Piecewise "
        "Equality Unequality StrictLessThan LessThan StrictGreaterThan "
        "GreaterThan And Or Not Xor Implies FiniteSet Union Intersection "
        "Complement Tuple Derivative Subs MatMul MatAdd MatPow "
        "ImmutableDenseMatrix MutableDenseMatrix ImmutableSparseMatrix "
        "MutableSparseMatrix"
    ).split()
    plain = ("Symbol Dummy Integer Rational Float Interval Integral Sum "
             "Product Limit Lambda MatrixSymbol Transpose Inverse Identity "
             "ZeroMatrix").split()
    table: dict[str, tuple[type, bool]] = {}
    for name in evaluating:
        table[name] = (getattr(sp, name), True)
    for name in plain:
        table[name] = (getattr(sp, name), False)
    table["ExprCondPair"] = (ExprCondPair, False)
    table["Str"] = (Str, False)
    table["Matrix"] = (sp.MutableDenseMatrix, True)
    return table


@functools.lru_cache(maxsize=None)
def _srepr_constants() -> dict[str, Any]:
    import sympy as sp

    S = sp.S
    return {
        "oo": S.Infinity, "zoo": S.ComplexInfinity, "nan": S.NaN, "pi": S.Pi,
        "E": S.Exp1, "I": S.ImaginaryUnit, "true": S.true, "false": S.false,
        "EulerGamma": S.EulerGamma, "GoldenRatio": S.GoldenRatio,
        "Catalan": S.Catalan, "EmptySet": S.EmptySet, "Reals": S.Reals,
        "Integers": S.Integers, "Naturals": S.Naturals,
        "Naturals0": S.Naturals0, "Complexes": S.Complexes,
        "Rationals": S.Rationals, "UniversalSet": S.UniversalSet,
    }


@functools.lru_cache(maxsize=None)
def _assumption_names() -> frozenset[str]:
    from sympy.core.assumptions import _assume_defined

    return frozenset(_assume_defined)


_FLOAT_DIGITS = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_PYTHON_BUILTINS = frozenset(dir(builtins))


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


def _parse_tree(text: Any, max_length: int, what: str) -> ast.expr:
    if not isinstance(text, str):
        raise UnsafeExpression(f"{what} must be text, got {type(text).__name__}")
    if len(text) > max_length:
        raise UnsafeExpression(
            f"{what} is {len(text)} characters long; the limit is {max_length}")
    if not text.strip():
        raise UnsafeExpression(f"{what} is empty")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        hint = ""
        if re.search(r"\d[A-Za-z_(]", text):
            hint = " (write multiplication explicitly, e.g. 2*x, not 2x)"
        raise UnsafeExpression(
            f"could not read {what}: {exc.msg}{where}{hint}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        # ValueError: an integer literal past Python's digit limit;
        # RecursionError/MemoryError: nesting beyond the parser's limits.
        raise UnsafeExpression(
            f"could not read {what}: it is too long or too deeply nested "
            f"({type(exc).__name__})") from None


def _describe(node: ast.AST) -> str:
    """Name a refused AST node the way a student would recognise it."""
    kinds = {
        ast.Attribute: "attribute access (a dot, as in obj.attr)",
        ast.Subscript: "indexing with [ ]",
        ast.Lambda: "lambda",
        ast.ListComp: "a list comprehension",
        ast.SetComp: "a set comprehension",
        ast.DictComp: "a dict comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.IfExp: "an if-expression",
        ast.NamedExpr: "the := operator",
        ast.Dict: "a dict",
        ast.JoinedStr: "an f-string",
        ast.Starred: "*-unpacking",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
    }
    for kind, words in kinds.items():
        if isinstance(node, kind):
            return words
    return type(node).__name__


def _column(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" (column {col + 1})" if col is not None else ""


def _is_dangerous_name(name: str) -> bool:
    return name.startswith("_") or name in {"eval", "exec", "open", "getattr",
                                            "setattr", "compile", "globals",
                                            "locals", "vars", "input"}


def _canonical_order(args: list[Any]) -> list[Any]:
    """Order Add/Mul arguments as sympy's evaluation stores them.

    srepr prints the terms in printing order, which is not the stored order;
    an evaluated Add/Mul keeps its commutative arguments sorted by sympy's
    internal key (and non-commutative factors after them, in order), so
    sorting the same way makes parse_srepr(srepr(e)) == e structurally.
    """
    from sympy.core.basic import Basic, _args_sortkey

    if not all(isinstance(a, Basic) for a in args):
        return args  # plain Python numbers: let sympy complain or convert
    commutative = [a for a in args if a.is_commutative]
    ordered = [a for a in args if not a.is_commutative]
    commutative.sort(key=_args_sortkey)
    return commutative + ordered
