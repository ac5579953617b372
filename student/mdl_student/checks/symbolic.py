"""Symbolic checks: `assert_equivalent` (is a sympy answer equivalent to the expected one?) and `value_at`.

How a verdict is reached (see assert_equivalent's docstring for the rules): this process does the
cheap work (reading the answer, checking that it is the right kind of object and shape,
structural equality); everything that can explode (evaluation, simplification) runs in a forked
child with a hard deadline (`deadline`, `verdict`).  A fork costs about 4 ms with sympy loaded
(20 ms with torch), so every non-trivial comparison forks.  The child sends a provisional verdict
after the numeric stage and a final one after the algebra, so that a timeout in the algebra
still leaves the numeric verdict here.  The verdict then becomes a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdl_student.i18n import _
from mdl_student.checks.answers import _Unreadable, _Unusable
from mdl_student.checks.deadline import _run_with_deadline
from mdl_student.checks.expressions import (
    _canonicalize, _check_kind, _coerce_symbolic, _declared_symbols, _domain_by_name, _free_symbols, _kind_of)
from mdl_student.checks.messages import _a, _fail, is_concealed
from mdl_student.checks.verdict import _decide
from mdl_student.tolerances import TOLERANCES


def assert_equivalent(answer: Any, expected: Any, *, symbols: Any = None,
                      assumptions: Mapping[Any, Mapping[str, bool]] | None = None,
                      domain: Mapping[Any, tuple[float, float]] | None = None,
                      timeout: float | None = None, samples: int | None = None,
                      name: str = "your answer") -> None:
    """Check that a sympy answer is mathematically equivalent to `expected`.

    `answer` may be a sympy expression, Matrix, equation (``Eq``), finite set,
    Tuple, a Python number, a numpy array or nested list (for a Matrix), a
    Python set or list (for a FiniteSet), a tuple (for a Tuple), or text such
    as ``"x**2*exp(x)"`` (read with `mdl_student.safe_sympy.parse_answer_text`,
    never ``eval``).  `expected` may be any of the same.  `name` is how
    messages refer to the answer.

    Symbols are matched by name: every free symbol of both sides is replaced
    by one symbol per name, carrying the declared assumptions: from
    `assumptions` (``{"x": {"positive": True}}``) first, then `symbols`
    (Symbols, or a dict name -> Symbol), then the expected's own symbol of
    that name; otherwise a plain ``Symbol(name)``.  So an identity such as
    ``log(x*y) == log(x) + log(y)`` passes only when x and y are declared
    positive, whatever assumptions the student gave their own symbols.

    What is compared:

    - expressions: see the verdict rules below;
    - matrices: shape first (message with both shapes), then every entry;
    - equations: ``lhs - rhs`` of the answer must equal ``lhs - rhs`` of the
      expected equation or its negative (sides may be swapped; an equation
      multiplied by a constant is *not* accepted);
    - finite sets: as sets of equivalence classes (each element of either set
      must be equivalent to some element of the other);
    - Tuples: item by item;
    - inequalities, boolean conditions and other sets: by canonical form only.

    Verdict rules for one pair of expressions (difference ``d = a - e``):

    1. numeric second opinion: both are evaluated with 30 significant digits
       at `samples` points (default ``TOLERANCES.symbolic_samples``) where
       both are defined, out of 3 * `samples` candidates drawn afresh for
       every comparison from the operating system's entropy (never from a
       seed: nobody can know the points in advance) from `domain` (name or
       symbol -> (low, high)) or, by assumptions, from (0.1, 5) for
       positive/nonnegative, (-5, -0.1) for negative/nonpositive, 1..9 or
       -9..9 for integers and (-5, 5) otherwise, as exact rationals with a
       random denominator of 10**6 to 10**9.
       They agree at a point if ``|va - ve| <= rtol * max(|va|, |ve|) +
       1e-20`` with ``rtol = TOLERANCES.symbolic_sample_rtol``.  An
       expression with an undefined function ``f(x)``, or defined at too few
       points, gets no numeric opinion;
    2. if they differ at any point: fail, naming the point and the values
       ("at x = 0.3 yours gives 1.2, the expected one 0.8");
    3. otherwise the algebra tries, in order: ``d == 0``, expand, cancel;
       then, by what ``d`` contains, Piecewise folding (Abs, Max, Piecewise,
       Heaviside), trigsimp, rewriting in exp (trigonometric, hyperbolic,
       exp), expand_log and logcombine (without force, so the assumptions
       decide); then simplify, and ``d.equals(0)`` when the numeric stage had
       no opinion.  It proves "equal" when a step gives 0 and "different"
       when a step gives a nonzero constant.  (A power with an exponent above
       200, such as ``(x + 1)**1000000``, is never expanded: the algebra
       declares itself inconclusive at once);
    4. algebra equal -> pass.  The algebra gets 60% of the time; when it is
       inconclusive or out of time and the numbers agreed, the answer is
       confirmed at 4 * `samples` more fresh points (every other one, for a
       symbol without a declared domain, far out: magnitudes up to 1e7,
       integers up to 1e6) -> pass if they all agree (a few points alone
       never pass: a polynomial through them agrees there).  An answer
       built from pieces the expected one lacks (Abs, Max, Piecewise,
       floor, a condition ...) is not confirmed by points at all (it may
       agree on every point of a range and differ outside it): "could not
       decide".  Algebra proves different while numeric agreed -> fail,
       "could not decide" (a disagreement); no numeric opinion -> the
       algebra alone decides, and if it cannot: fail, "could not decide".

    The whole comparison gets `timeout` seconds (default
    ``TOLERANCES.symbolic_timeout_s``) in a forked child process (address
    space capped at 2 GiB above the parent's) that is killed when the time is
    up, so no input can hang the check; only answers that are structurally
    identical to the expected one skip the fork.  On platforms without
    ``fork`` (Windows) it runs in-process without a hard limit.  Answers
    containing decimals (Floats) are compared numerically with the same
    tolerance and get a hint to use exact fractions.
    """
    from mdl_student.safe_sympy import UnsafeExpression

    timeout = TOLERANCES.symbolic_timeout_s if timeout is None else float(timeout)
    samples = TOLERANCES.symbolic_samples if samples is None else int(samples)
    declared = _declared_symbols(symbols, assumptions)
    text_symbols = dict(declared)
    try:
        expected_obj = _coerce_symbolic(expected, None, text_symbols)
    except (_Unusable, UnsafeExpression) as exc:
        raise TypeError(f"the expected answer {exc}") from None
    try:
        for s in _free_symbols(expected_obj):
            text_symbols.setdefault(s.name, s)
    except RecursionError:
        pass
    try:
        answer_obj = _coerce_symbolic(answer, expected_obj, text_symbols)
    except UnsafeExpression as exc:
        raise _fail(f"{exc}".replace("your answer", name, 1)) from None
    except _Unreadable as exc:
        raise _fail(str(exc)) from None
    except _Unusable as exc:
        raise _fail(f"{name} {exc}") from None
    _check_kind(answer_obj, expected_obj, name)

    # Fast path: identical after matching symbols by name (no fork needed).
    if answer_obj is expected_obj:
        return
    try:
        a_c, e_c = _canonicalize(answer_obj, expected_obj, declared)
        if a_c == e_c:
            return
    except RecursionError:
        pass  # very deep expressions: the child has a larger recursion limit

    options = {"declared": declared, "domain": _domain_by_name(domain),
               "samples": samples, "rtol": TOLERANCES.symbolic_sample_rtol, "timeout": timeout}
    verdict, ended = _run_with_deadline(_decide, (answer_obj, expected_obj, options), timeout)
    try:
        extra = sorted({s.name for s in _free_symbols(answer_obj)}
                       - {s.name for s in _free_symbols(expected_obj)})
    except RecursionError:
        extra = []
    _raise_for_verdict(verdict, ended, name, timeout, answer_obj, extra)


def value_at(answer: Any, point: Mapping[str, Any], *, name: str = "your answer") -> Any:
    """A sympy answer with each symbol replaced by its value in `point` (keyed by NAME).

    Symbols are matched by name, as in `assert_equivalent`, so the answer may
    use the notebook's symbols or symbols the student declared again, with or
    without assumptions.  `answer` may be anything `assert_equivalent` reads
    (an expression, a Matrix or nested list, a Python or sympy number, text);
    `point` maps names to numbers (``{"a": 2, "b": sympy.Rational(1, 3)}``),
    substituted exactly.  Returns a sympy number or matrix, to compare with
    `assert_close` or `assert_exact`.  Fails with a message when the answer is
    not an expression, or uses a symbol that `point` does not name (a typo in
    a symbol name?); the message lists the names it may use.
    """
    import sympy as sp

    from mdl_student.safe_sympy import UnsafeExpression

    names = {str(key): sp.Symbol(str(key)) for key in point}
    try:
        obj = _coerce_symbolic(answer, None, dict(names))
    except UnsafeExpression as exc:
        raise _fail(f"{exc}".replace("your answer", name, 1)) from None
    except _Unreadable as exc:
        raise _fail(str(exc)) from None
    except _Unusable as exc:
        raise _fail(f"{name} {exc}") from None
    if not isinstance(obj, (sp.Expr, sp.MatrixBase)):
        raise _fail(f"{name} is {_a(_kind_of(obj))}, but an expression or a matrix was expected")
    symbols = getattr(obj, "free_symbols", set())
    unknown = sorted({str(s) for s in symbols} - set(names))
    if unknown:
        raise _fail(f"{name} uses {', '.join(unknown)}, which the question does not define "
                    f"(a typo in a symbol name?); use only {', '.join(sorted(names))}")
    values = {str(key): sp.sympify(value) for key, value in point.items()}
    return obj.xreplace({s: values[str(s)] for s in symbols})


# -- turning the verdict into a message ---------------------------------------


def _raise_for_verdict(verdict: dict[str, Any] | None, ended: str, name: str, timeout: float,
                       answer: Any, extra: list[str]) -> None:
    import sympy as sp

    if verdict is not None and verdict["status"] == "equal":
        return  # final, or provisional (numeric agreement) when time ran out
    hidden = is_concealed()
    if verdict is None or verdict["status"] == "undecided":
        reason = {
            "timeout": (f"the algebra did not finish within {timeout:g} s" if verdict else
                        f"neither the algebra nor the checks at random points finished "
                        f"within {timeout:g} s"),
            "crashed": "the check ran out of memory or recursion depth",
            "final": "checking at random points was inconclusive and the algebra "
                     "found no proof either way",
        }[ended]
        if verdict is not None and verdict.get("reason") == "disagree":
            reason = "the algebra and the checks at random points disagree"
        if verdict is not None and verdict.get("reason") == "pieces":
            reason = (f"the algebra found no proof, and checks at random points cannot vouch for the "
                      f"pieces of your answer ({verdict['pieces']}), which may change form away from "
                      f"the points")
        where = f" ({verdict['where']})" if verdict and verdict.get("where") else ""
        raise _fail(_("could not decide whether {name}{where} is equivalent to the expected "
                      "answer: {reason}. Try writing your answer in a simpler form.").format(
            name=name, where=where, reason=reason))
    kind = verdict.get("kind")
    where = f" ({verdict['where']})" if verdict.get("where") else ""
    what = _("equation") if verdict.get("equation") else _("answer")
    subject = f"{name}{where}"
    if kind == "point" and not verdict["point"]:  # no symbols: two numbers
        message = _("{subject} is not equal to the expected {what}: yours is {got}").format(
            subject=subject, what=what, got=verdict["got"])
        if not hidden:
            message += _(", the expected value is {expected}").format(expected=verdict["want"])
    elif kind == "point":
        side = _(" (as lhs - rhs)") if verdict.get("equation") else ""
        message = _("{subject} is not equivalent to the expected {what}: at {point} yours{side} gives {got}").format(
            subject=subject, what=what, point=verdict["point"], side=side, got=verdict["got"])
        if not hidden:
            message += _(", the expected one {expected}").format(expected=verdict["want"])
            if verdict.get("hint"):
                message += f"; {verdict['hint']}"
    elif kind == "algebra":
        message = _("{subject} is not equivalent to the expected {what}").format(subject=subject, what=what)
        if verdict.get("difference") and not hidden:
            message += _(": the difference simplifies to {difference}").format(difference=verdict["difference"])
        elif verdict.get("difference"):
            message += _(": the difference simplifies to a nonzero constant")
        else:
            message += _(": the algebra shows that they differ")
    elif kind == "set-extra":
        message = (f"{name} contains {verdict['element']}, which is not equivalent to "
                   f"any element of the expected set")
    elif kind == "set-missing":
        message = (f"{name} is missing {verdict['count']} element(s) of the expected set"
                   + ("" if hidden else f", for example {verdict['element']}"))
    elif kind == "structure":
        message = f"{subject} {verdict['reason']}"
    else:
        message = (f"{name} is not equivalent to the expected {_kind_of(answer)} "
                   f"(conditions, inequalities and sets other than finite sets are compared "
                   f"by their form)")
    floats = sorted(answer.atoms(sp.Float), key=str) if hasattr(answer, "atoms") else []
    if floats:
        message += _(". Your answer contains the decimal number {number}: symbolic answers "
                     "should be exact (write 1/3 or Rational(1, 3), not 0.333)").format(number=f"{float(floats[0]):.10g}")
    if extra and not hidden:
        message += _(". Note that {name} uses {symbols}, which the expected answer "
                     "does not (a typo in a symbol name?)").format(name=name, symbols=", ".join(extra))
    raise _fail(message)
