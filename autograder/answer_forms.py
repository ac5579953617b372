"""Answer forms for `mdl validate`'s generated students: an answer made wrong but shaped right, or right in another form.

The same code runs in two places. In the grader, `mdl validate` uses it to decide which forms
change which answers (a form that changes nothing is not applied) and to build the memoriser's
values. In the student's kernel it is the generated student: its source text is copied into the
last cell of a generated notebook, and :func:`apply_kind` rebinds the notebook's answers there
(values transformed, functions wrapped so that their results are). So it imports nothing of the
course but the codec of the student package: the standard library, and numpy, sympy and torch
when a value of theirs appears.

Wrong forms keep the shape and type of an answer and lose its values: ``zeros``, ``ones``,
``noise`` (random numbers of the same shape and dtype), ``scaled`` (every number 1% off, ints off
by one: the properties a visible test may check survive), ``constant`` (a symbolic answer replaced
by its value at one point). Right forms are the legitimate variants of the fairness standard:
``float32``, ``lists``, ``fractions``, ``sympy_numbers``, ``expand``, ``factor``, ``rewrite_exp``,
``simplify``, ``redeclared`` (symbols declared again without assumptions).
"""

from __future__ import annotations

import fractions
import functools
import marshal
import math
import types
from typing import Any, Callable

_NOISE_SEED = 20210521


# --------------------------------------------------------------------------- recognising values


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy"


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _is_sympy(value: Any) -> bool:
    return type(value).__module__.startswith("sympy.")


def _symbolic(value: Any) -> bool:
    """A sympy expression or matrix with free symbols."""
    return _is_sympy(value) and bool(getattr(value, "free_symbols", None))


def key_of(value: Any) -> Any:
    """A hashable fingerprint of a value: equal for equal data of the same type (a lookup key, and `same`)."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((repr(k), key_of(v)) for k, v in value.items()), key=lambda kv: kv[0])))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return (type(value).__name__, tuple(key_of(v) for v in items))
    if _is_numpy(value) and hasattr(value, "dtype"):
        import numpy as np

        array = np.asarray(value)
        if array.dtype.hasobject:
            return ("objects", array.shape, tuple(key_of(v) for v in array.ravel().tolist()))
        return ("numpy", type(value).__name__, str(array.dtype), array.shape, array.tobytes())
    if _is_torch(value):
        array = value.detach().cpu()
        return ("tensor", str(array.dtype), tuple(array.shape), array.float().numpy().tobytes()
                if str(array.dtype) == "torch.bfloat16" else array.numpy().tobytes())
    if _is_sympy(value):
        import sympy as sp

        return ("sympy", sp.srepr(value))
    if isinstance(value, (bool, int, float, complex, str, bytes, fractions.Fraction)) or value is None:
        return (type(value).__name__, repr(value))
    code = getattr(value, "__code__", None)
    if code is not None:  # a function sent by the grader: the same source compiles to the same code
        return ("function", marshal.dumps(code))
    return ("object", type(value).__name__, repr(value)[:200])


def same(a: Any, b: Any) -> bool:
    """The same data of the same types (arrays: dtype and bytes; sympy: the same tree)."""
    try:
        return key_of(a) == key_of(b)
    except Exception:  # noqa: BLE001  (a value we cannot fingerprint is taken as changed)
        return False


# --------------------------------------------------------------------------- walking a value


def _walk(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """`value` with `leaf` applied to every item of its lists, tuples and dicts (keys kept)."""
    if isinstance(value, dict):
        return {k: _walk(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, leaf) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_walk(v, leaf) for v in value)
    return leaf(value)


def _sympy_map(value: Any, fn: Callable[[Any], Any]) -> Any:
    """A sympy object with `fn` applied to each expression in it (matrix entries, both sides, tuple items)."""
    import sympy as sp

    if isinstance(value, sp.MatrixBase):
        return value.applyfunc(fn)
    if isinstance(value, sp.core.relational.Relational):
        return type(value)(fn(value.lhs), fn(value.rhs), evaluate=False)
    if isinstance(value, (sp.Tuple, sp.FiniteSet)):
        return type(value)(*[_sympy_map(v, fn) for v in value.args])
    if isinstance(value, sp.Expr):
        return fn(value)
    return value


# --------------------------------------------------------------------------- wrong forms


def _filled(value: Any, number: int) -> Any:
    """`value` with every number replaced by `number` (0 or 1), its shape and type kept."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(number) if isinstance(value, bool) else np.bool_(number)
    if _is_numpy(value) and hasattr(value, "dtype"):
        return np.full_like(value, number) if isinstance(value, np.ndarray) else type(value)(number)
    if _is_torch(value):
        import torch

        return torch.full_like(value.detach(), number)
    if _is_sympy(value):
        import sympy as sp

        if isinstance(value, sp.MatrixBase):
            return sp.Matrix(value.rows, value.cols, [number] * (value.rows * value.cols))
        if isinstance(value, (sp.Tuple, sp.FiniteSet)):
            return type(value)(*[_filled(v, number) for v in value.args])
        if isinstance(value, sp.logic.boolalg.Boolean):
            return sp.true if number else sp.false
        return sp.Integer(number)
    if isinstance(value, (int, float, complex, fractions.Fraction)):
        return type(value)(number)
    if isinstance(value, str):
        return ""
    return None  # an object of another kind: the answer is missing


def zeros(value: Any) -> Any:
    return _walk(value, lambda v: _filled(v, 0))


def ones(value: Any) -> Any:
    return _walk(value, lambda v: _filled(v, 1))


@functools.lru_cache(maxsize=1)
def _generator() -> Any:
    import numpy as np

    return np.random.default_rng(_NOISE_SEED)


def _noise_leaf(value: Any) -> Any:
    import numpy as np

    rng = _generator()
    if isinstance(value, (bool, np.bool_)):
        return bool(rng.integers(0, 2))
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        kind = array.dtype.kind
        drawn = (rng.integers(-9, 10, size=array.shape) if kind in "iu" else rng.random(array.shape) < 0.5
                 if kind == "b" else rng.normal(size=array.shape) + (1j * rng.normal(size=array.shape) if kind == "c"
                                                                     else 0))
        drawn = np.asarray(np.abs(drawn) if kind == "u" else drawn)
        out = drawn.astype(array.dtype) if not array.dtype.hasobject else drawn.astype(float)
        return out if isinstance(value, np.ndarray) else out[()]
    if _is_torch(value):
        import torch

        return torch.from_numpy(np.asarray(_noise_leaf(value.detach().cpu().float().numpy()))).to(value.dtype)
    if _is_sympy(value):
        import sympy as sp

        def draw(_: Any) -> Any:
            return sp.Rational(int(rng.integers(-999, 1000)), int(rng.integers(1, 100)))

        if isinstance(value, sp.MatrixBase):
            return value.applyfunc(draw)
        return _sympy_map(value, draw) if not isinstance(value, sp.logic.boolalg.Boolean) else sp.false
    if isinstance(value, int):
        return int(rng.integers(-9, 10))
    if isinstance(value, float):
        return float(rng.normal())
    if isinstance(value, complex):
        return complex(rng.normal(), rng.normal())
    if isinstance(value, fractions.Fraction):
        return fractions.Fraction(int(rng.integers(-99, 100)), int(rng.integers(1, 100)))
    return _filled(value, 0)


def noise(value: Any) -> Any:
    """Random numbers of the answer's shape and dtype (seeded: every run generates the same student)."""
    return _walk(value, _noise_leaf)


def _scaled_leaf(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (bool, np.bool_)) or isinstance(value, str) or value is None:
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        kind = np.asarray(value).dtype.kind
        if kind in "iu":
            return value + 1
        if kind not in "fc":
            return value
        made = np.asarray(value * 1.01).astype(value.dtype)
        return made[()] if isinstance(value, np.generic) else made
    if _is_torch(value):
        return value.detach() * 1.01 if value.is_floating_point() or value.is_complex() else value.detach() + 1
    if _is_sympy(value):
        import sympy as sp

        if isinstance(value, (sp.MatrixBase, sp.Expr)):
            return value * sp.Rational(101, 100) if isinstance(value, sp.MatrixBase) else \
                (value + 1 if value.is_Integer else value * sp.Rational(101, 100))
        return _sympy_map(value, lambda e: e * sp.Rational(101, 100))
    if isinstance(value, int):
        return value + 1
    if isinstance(value, (float, complex, fractions.Fraction)):
        return value * (fractions.Fraction(101, 100) if isinstance(value, fractions.Fraction) else 1.01)
    return value


def scaled(value: Any) -> Any:
    """Every number 1% off (integers off by one): wrong, with the signs, zeros and symmetries of the answer."""
    return _walk(value, _scaled_leaf)


def constant(value: Any, point: dict[str, Any] | None = None) -> Any:
    """A symbolic answer as the number it takes at `point` (by symbol name; 1 where not named); others as zeros."""
    import sympy as sp

    def leaf(v: Any) -> Any:
        if not _symbolic(v):
            return _filled(v, 0)
        symbols = [s for s in v.free_symbols if isinstance(s, sp.Symbol)]
        tries = [point or {}, {}, {}]  # the recorded point first; where it is not enough, plain numbers
        for given, fallback in zip(tries, (1, 2, sp.Rational(3, 7))):
            number = v.xreplace({s: sp.sympify(given.get(s.name, fallback)) for s in symbols})
            if not getattr(number, "free_symbols", None) and not number.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                return number
        return sp.Integer(0)

    return _walk(value, leaf)


def lookup_expression(solution: Any, points: list[dict[str, Any]]) -> Any:
    """A piecewise constant that equals `solution` at each of `points` (by symbol name) and 0 elsewhere.

    What a memoriser of a symbolic answer checked at a few points writes: exactly the visible values.
    """
    import sympy as sp

    def entry(expr: Any) -> Any:
        symbols = {s.name: s for s in getattr(expr, "free_symbols", ()) if isinstance(s, sp.Symbol)}
        pieces = []
        for point in points:
            named = {symbols[n]: sp.sympify(v) for n, v in point.items() if n in symbols}
            if not named:
                continue
            condition = sp.And(*[sp.Eq(s, v) for s, v in named.items()])
            if condition is not sp.false:
                pieces.append((expr.xreplace(named), condition))
        return sp.Piecewise(*pieces, (0, True)) if pieces else sp.Integer(0)

    if isinstance(solution, sp.MatrixBase):
        return solution.applyfunc(entry)
    return _sympy_map(solution, entry) if _is_sympy(solution) else zeros(solution)


def interpolation(solution: Any, points: list[dict[str, Any]]) -> Any:
    """One formula, without pieces, that equals `solution` at each of `points` (by symbol name): a polynomial.

    The memoriser of a symbolic answer whose visible test refuses pieces (Piecewise, Max, ...): in a
    linear form t of the symbols that separates the points, the Lagrange polynomial through the
    visible values (a constant for one point).
    """
    import sympy as sp

    def entry(expr: Any) -> Any:
        symbols = sorted((s for s in getattr(expr, "free_symbols", ()) if isinstance(s, sp.Symbol)), key=lambda s: s.name)
        usable = [p for p in points if symbols and all(s.name in p for s in symbols)]
        if not usable:
            return sp.Integer(0)
        t = sum((sp.Integer(c) * s for c, s in zip((1, 3, 7, 13, 29, 53, 101, 211, 401, 809), symbols)), sp.Integer(0)) \
            if len(symbols) <= 10 else symbols[0]
        knots: dict[Any, Any] = {}
        for point in usable:
            named = {s: sp.sympify(point[s.name]) for s in symbols}
            knots.setdefault(t.xreplace(named), expr.xreplace(named))
        formula = sp.Integer(0)
        for tk, value in knots.items():
            term = value
            for tj in knots:
                if tj != tk:
                    term = term * (t - tj) / (tk - tj)
            formula += term
        return formula

    if isinstance(solution, sp.MatrixBase):
        return solution.applyfunc(entry)
    return _sympy_map(solution, entry) if _is_sympy(solution) else zeros(solution)


# --------------------------------------------------------------------------- right forms


def _float32_leaf(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, float) or isinstance(value, np.floating):
        return np.float32(value)
    if isinstance(value, complex) or isinstance(value, np.complexfloating):
        return np.complex64(value)
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        return value.astype(np.float32) if kind == "f" else value.astype(np.complex64) if kind == "c" else value
    if _is_torch(value):
        import torch

        if value.dtype == torch.float64:
            return value.float()
        if value.dtype == torch.complex128:
            return value.to(torch.complex64)
    return value


def float32(value: Any) -> Any:
    """Floats, float arrays and float64 tensors in float32 (complex in complex64)."""
    return _walk(value, _float32_leaf)


def lists(value: Any) -> Any:
    """numpy arrays as nested lists of Python numbers (``tolist``)."""
    import numpy as np

    return _walk(value, lambda v: v.tolist() if isinstance(v, np.ndarray) and v.ndim >= 1 and not v.dtype.hasobject
                 else v)


def fractions_(value: Any) -> Any:
    """Finite floats as ``fractions.Fraction`` (exactly the same number)."""
    import numpy as np

    def leaf(v: Any) -> Any:
        if (isinstance(v, float) or isinstance(v, np.floating)) and math.isfinite(float(v)):
            return fractions.Fraction(float(v))
        return v

    return _walk(value, leaf)


def sympy_numbers(value: Any) -> Any:
    """Python and numpy numbers as sympy numbers (Integer, Float, complex Float)."""
    import numpy as np
    import sympy as sp

    def leaf(v: Any) -> Any:
        if isinstance(v, (bool, np.bool_)):
            return v
        if isinstance(v, (int, np.integer)):
            return sp.Integer(int(v))
        if isinstance(v, (float, np.floating)) and math.isfinite(float(v)):
            return sp.Float(float(v))
        if isinstance(v, (complex, np.complexfloating)):
            return sp.Float(complex(v).real) + sp.I * sp.Float(complex(v).imag)
        if isinstance(v, fractions.Fraction):
            return sp.Rational(v.numerator, v.denominator)
        return v

    return _walk(value, leaf)


def _sympy_form(fn_name: str) -> Callable[[Any], Any]:
    def form(value: Any) -> Any:
        import sympy as sp

        def expression(e: Any) -> Any:
            if not e.free_symbols:
                return e
            if fn_name == "rewrite_exp":
                return e.rewrite(sp.exp)
            return getattr(sp, fn_name)(e)

        return _walk(value, lambda v: _sympy_map(v, expression) if _symbolic(v) else v)

    form.__name__ = fn_name
    return form


expand = _sympy_form("expand")
factor = _sympy_form("factor")
rewrite_exp = _sympy_form("rewrite_exp")
simplify = _sympy_form("simplify")


def redeclared(value: Any) -> Any:
    """Every symbol declared again by its name alone, without assumptions."""
    import sympy as sp

    def leaf(v: Any) -> Any:
        if not _symbolic(v):
            return v
        return v.xreplace({s: sp.Symbol(s.name) for s in v.free_symbols if type(s) is sp.Symbol})

    return _walk(value, leaf)


FORMS: dict[str, Callable[..., Any]] = {
    "zeros": zeros, "ones": ones, "noise": noise, "scaled": scaled, "constant": constant,
    "float32": float32, "lists": lists, "fractions": fractions_, "sympy_numbers": sympy_numbers,
    "expand": expand, "factor": factor, "rewrite_exp": rewrite_exp, "simplify": simplify, "redeclared": redeclared,
}


# --------------------------------------------------------------------------- in the kernel


def _isolated(fn: Any, snapshot: dict[str, Any]) -> Any:
    """A copy of a notebook function that reads the notebook's names as they were before any was rebound,
    so that a solution which calls another answer calls the solution's, not its generated twin."""
    if not isinstance(fn, types.FunctionType):
        return None
    copy = types.FunctionType(fn.__code__, snapshot, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def _decode(payload: Any, namespace: dict[str, Any]) -> Any:
    from mdl_student.codec import decode_value

    return decode_value(payload, allow_functions=True, namespace=namespace)


def _generated_function(name: str, original: Any, how: dict[str, Any], namespace: dict[str, Any],
                        entry: dict[str, Any]) -> Any:
    """The generated student's version of a notebook function; `entry` counts calls and whether results changed."""
    form = how["form"]
    table: dict[Any, Any] = {}
    for args, kwargs, result in how.get("table", []):
        table.setdefault(key_of((_decode(args, namespace), _decode(kwargs, namespace))), result)
    transform = FORMS.get(form)
    cast_inputs = form == "float32"

    def student(*args: Any, **kwargs: Any) -> Any:
        entry["calls"] += 1
        if form == "memoriser":
            key = key_of((args, kwargs))
            if key in table:
                entry["hits"] += 1
                return _decode(table[key], namespace)
            return zeros(original(*args, **kwargs))
        if form == "input":
            entry["changed"] = True
            return args[0] if args else next(iter(kwargs.values()), None)
        inputs_changed = False
        if cast_inputs:  # a float32 student computes from float32 inputs (numpy and Python floats; tensors as given)
            cast = (tuple(float32(a) if not _is_torch(a) else a for a in args),
                    {k: float32(v) if not _is_torch(v) else v for k, v in kwargs.items()})
            inputs_changed = not same(cast, (args, kwargs))
            args, kwargs = cast
        result = original(*args, **kwargs)
        try:
            made = transform(result, how.get("point")) if form == "constant" else transform(result)
        except Exception as error:  # the form cannot handle this result: said in the table's notes
            entry["error"] = f"{type(error).__name__}: {error}"[:300]
            raise
        entry["changed"] = entry["changed"] or inputs_changed or not same(made, result)
        return made

    functools.update_wrapper(student, original)
    return student


def apply_kind(namespace: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Rebind the notebook's answers as the generated student `spec` says; returns the report it keeps.

    ``spec["values"]`` maps a name to ``{"form": ...}`` (a form of :data:`FORMS`) or ``{"payload": ...}``
    (a value encoded by the codec: the memoriser's); ``spec["functions"]`` maps a name to ``{"form": ...}``,
    with a ``"table"`` of encoded (args, kwargs, result) for the memoriser. The report (``_mdl_report``
    in the notebook) says, per name, whether the form changed the answer, and how often a function was
    called: `mdl validate` reads it after the questions were graded.
    """
    snapshot = dict(namespace)
    report: dict[str, Any] = {}
    namespace["_mdl_report"] = report
    for name, how in spec.get("values", {}).items():
        if name not in namespace:
            report[name] = {"error": "not defined"}
            continue
        value = namespace[name]
        try:
            if "payload" in how:
                made = _decode(how["payload"], namespace)
            elif how["form"] == "constant":
                made = constant(value, _decode(how.get("point"), namespace) if how.get("point") else None)
            else:
                made = FORMS[how["form"]](value)
        except Exception as error:  # noqa: BLE001  (the table says so; the answer is left as it was)
            report[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            continue
        report[name] = {"changed": not same(made, value)}
        namespace[name] = made
    for name, how in spec.get("functions", {}).items():
        original = _isolated(namespace.get(name), snapshot)
        if original is None:
            report[name] = {"error": "not a plain function"}
            continue
        entry = report[name] = {"changed": False, "calls": 0, "hits": 0}
        if how.get("point") is not None:
            how = dict(how, point=_decode(how["point"], namespace))
        namespace[name] = _generated_function(name, original, how, namespace, entry)
    return report
