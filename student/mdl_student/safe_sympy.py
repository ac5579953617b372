"""Rebuild sympy objects from untrusted text, without ever executing it.

Two kinds of text reach the grader from a student:

- a typed answer such as ``"x**2*exp(x)"`` (`parse_answer_text`);
- the ``sympy.srepr`` of an object built in the student's kernel, which is how
  sympy values cross the bridge (`parse_srepr`).

``sympify``/``parse_expr`` call ``eval`` on their input, so neither is used
here.  Both parsers read the text with Python's `ast` module and walk the tree
themselves, accepting only a fixed set of node kinds, names and callables; any
other construct raises `UnsafeExpression` with a message a student can act on.
Strings reach a sympy constructor only in the few positions where they are
names (``Symbol('x')``) or decimal digits (``Float('0.5')``), because many
sympy constructors would otherwise hand a string to ``sympify`` and so to
``eval``.

Sympy evaluates while it builds (``Integer(9)**Integer(9**9)`` computes a
number with 370 million digits), so both parsers also guard against input
that is cheap to write and expensive to build: `parse_srepr` builds every node
with ``evaluate=False`` (an srepr already describes a finished tree), and
`parse_answer_text` leaves a power, product or function call unevaluated when
evaluating it could produce a huge number.
"""

from __future__ import annotations

import ast
import builtins
import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable

__all__ = ["UnsafeExpression", "parse_answer_text", "parse_srepr"]


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


# --------------------------------------------------------------------------
# Typed answers
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# srepr
# --------------------------------------------------------------------------


def parse_srepr(text: str, *, max_length: int = 2_000_000) -> Any:
    """Rebuild a sympy object from the text of ``sympy.srepr(obj)``.

    This is how sympy values cross the bridge from the student's kernel.  The
    text is read with `ast` and rebuilt node by node; only these forms are
    accepted:

    - calls to a fixed whitelist of sympy classes (numbers, symbols, Add, Mul,
      Pow, the elementary and common special functions, Piecewise and
      ExprCondPair, relationals and boolean operators, dense matrices, finite
      sets, intervals and their unions, Tuple, Integral, Derivative, Sum,
      Product, Limit, Subs, Lambda, matrix symbols and expressions);
    - the undefined-function pattern ``Function('f')(Symbol('x'))``;
    - the named constants srepr prints (``oo``, ``-oo``, ``zoo``, ``nan``,
      ``pi``, ``E``, ``I``, ``true``, ``false``, ``EmptySet``, ``Reals``, ...);
    - int, float, bool and None literals, lists and tuples;
    - string literals only as the name in ``Symbol``, ``Dummy``, ``Str`` and
      ``Function`` and as the digits in ``Float`` (checked to be digits);
    - keyword arguments only for ``Symbol``/``Dummy``/``Function``
      (assumption names with bool values, ``dummy_index``) and ``Float``
      (``precision``, at most 10000 bits).

    Every node is built with ``evaluate=False`` where the class takes it, so
    the result is structurally the object that was printed and nothing
    expensive is computed here.  Anything else raises `UnsafeExpression`.
    """
    tree = _parse_tree(text, max_length, "the srepr text")
    try:
        return _SreprBuilder().build(tree)
    except RecursionError:
        raise UnsafeExpression("the srepr text is nested too deeply") from None


_DENSE_MATRICES = frozenset({"ImmutableDenseMatrix", "MutableDenseMatrix", "Matrix",
                             "ImmutableSparseMatrix", "MutableSparseMatrix"})


# Classes whose constructor rewrites its arguments without an evaluate=False to stop it: an Integral
# or Sum folds every Piecewise inside it (2**k pieces for k conditions: 1.6 KB of text hung the
# grader).  An srepr already lists the finished arguments, so these are assembled as printed.
_AS_PRINTED = frozenset({"Integral", "Sum", "Product", "Limit"})


def _as_printed(cls: Any, args: list[Any], name: str) -> Any:
    """``cls`` with exactly these arguments, as srepr printed them, without running its constructor."""
    from sympy import Basic, Tuple

    if not args or not all(isinstance(a, Basic) for a in args):
        raise UnsafeExpression(f"{name}(...) takes sympy objects only")
    if name != "Limit" and not all(isinstance(a, Tuple) for a in args[1:]):
        raise UnsafeExpression(f"the limits of {name}(...) must be Tuple(variable, low, high)")
    return Basic.__new__(cls, *args)


def _is_list_of_entries(args: list[ast.expr]) -> bool:
    """``[[...], ...]``, or ``rows, cols, [...]`` with integer literals, as srepr writes matrices."""
    if len(args) == 1:
        return isinstance(args[0], ast.List)
    return (len(args) == 3 and isinstance(args[2], ast.List)
            and all(isinstance(a, ast.Constant) and type(a.value) is int for a in args[:2]))


class _SreprBuilder:
    _STRING_ARG_CLASSES = {"Symbol", "Dummy", "Str", "Float"}

    def __init__(self) -> None:
        self.classes = _srepr_classes()
        self.constants = _srepr_constants()

    def build(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return self.constants[node.id]
            raise UnsafeExpression(
                f"the name {node.id!r} is not a sympy constant this parser accepts")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)) or node.value is None:
                return node.value
            raise UnsafeExpression(
                f"a {type(node.value).__name__} literal is not allowed here{_column(node)}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.build(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
            import sympy as sp

            if value is sp.S.Infinity:
                return sp.S.NegativeInfinity
            raise UnsafeExpression("a minus sign is allowed only before a number or oo")
        if isinstance(node, ast.List):
            return [self.build(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.build(e) for e in node.elts)
        raise UnsafeExpression(f"{_describe(node)} is not allowed in an srepr{_column(node)}")

    def _call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Call):
            # Function('f')(args): an undefined function applied to args.
            fn = self._undefined_function(func)
            args = [self.build(a) for a in node.args]
            if node.keywords:
                raise UnsafeExpression("keyword arguments to an applied function are not allowed")
            return self._construct(fn, args, {}, "Function")
        if not isinstance(func, ast.Name):
            raise UnsafeExpression(
                f"{_describe(func)} is not allowed in an srepr{_column(func)}")
        name = func.id
        if name not in self.classes:
            raise UnsafeExpression(f"{name}(...) is not a sympy class this parser accepts")
        cls, takes_evaluate = self.classes[name]
        if name in _DENSE_MATRICES and not _is_list_of_entries(node.args):
            # srepr writes a matrix as its rows (or rows, cols, flat entries); given a matrix
            # expression instead, the constructor builds its explicit form (Identity(10**5): 10**10 entries)
            raise UnsafeExpression(f"{name}(...) must be given its entries as a list")
        args = self._args(node, name)
        kwargs = self._keywords(node, name)
        if takes_evaluate:
            kwargs["evaluate"] = False
        if name in {"Add", "Mul"}:
            args = _canonical_order(args)
        if name in _AS_PRINTED:
            return _as_printed(cls, args, name)
        return self._construct(cls, args, kwargs, name)

    def _args(self, node: ast.Call, name: str) -> list[Any]:
        args = []
        for i, a in enumerate(node.args):
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                if i != 0 or name not in self._STRING_ARG_CLASSES:
                    raise UnsafeExpression(
                        f"a string argument to {name}(...) is not allowed{_column(a)}")
                if name == "Float" and not (_FLOAT_DIGITS.fullmatch(a.value)
                                            or a.value in {"inf", "-inf", "nan"}):
                    raise UnsafeExpression(f"Float({a.value!r}) is not a number")
                args.append(a.value)
            elif isinstance(a, ast.Starred):
                raise UnsafeExpression("*-unpacking is not allowed in an srepr")
            else:
                args.append(self.build(a))
        return args

    def _keywords(self, node: ast.Call, name: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise UnsafeExpression("**-unpacking is not allowed in an srepr")
            value = kw.value
            if not isinstance(value, ast.Constant):
                raise UnsafeExpression(f"the keyword {kw.arg}= must have a literal value")
            v = value.value
            if name in {"Symbol", "Dummy"} and kw.arg in _assumption_names():
                if not (isinstance(v, bool) or v is None):
                    raise UnsafeExpression(f"the assumption {kw.arg}= must be True or False")
            elif name == "Dummy" and kw.arg == "dummy_index":
                if not isinstance(v, int) or isinstance(v, bool):
                    raise UnsafeExpression("dummy_index= must be an integer")
            elif name == "Float" and kw.arg == "precision":
                if not isinstance(v, int) or not 1 <= v <= _MAX_FLOAT_PRECISION_BITS:
                    raise UnsafeExpression(
                        f"Float precision must be an integer from 1 to {_MAX_FLOAT_PRECISION_BITS}")
            else:
                raise UnsafeExpression(f"the keyword {kw.arg}= is not allowed for {name}(...)")
            kwargs[kw.arg] = v
        return kwargs

    def _undefined_function(self, node: ast.Call) -> Any:
        import sympy as sp

        if not (isinstance(node.func, ast.Name) and node.func.id == "Function"):
            raise UnsafeExpression("only Function('name')(...) may be called on a call's result")
        if (len(node.args) != 1 or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)):
            raise UnsafeExpression("Function(...) takes exactly one name in quotes")
        kwargs = {}
        for kw in node.keywords:
            if (kw.arg not in _assumption_names() or not isinstance(kw.value, ast.Constant)
                    or not isinstance(kw.value.value, bool)):
                raise UnsafeExpression(f"the keyword {kw.arg}= is not allowed for Function(...)")
            kwargs[kw.arg] = kw.value.value
        return sp.Function(node.args[0].value, **kwargs)

    @staticmethod
    def _construct(cls: Any, args: list[Any], kwargs: dict[str, Any], name: str) -> Any:
        try:
            return cls(*args, **kwargs)
        except UnsafeExpression:
            raise
        except Exception as exc:
            raise UnsafeExpression(
                f"could not rebuild {name}(...): {type(exc).__name__}: {exc}") from None
