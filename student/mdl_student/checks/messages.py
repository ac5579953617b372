"""What a failing check says: `CheckFailure`, concealment, and the wording shared by every check.

`CheckFailure` is the one exception a check raises; `UnreadableAnswer` stands in for an answer
that could not reach the grader.  Inside `concealed()` (every hidden test case) no message shows
an expected value.  The helpers below word values, numbers, shapes and the usual slips (a sign,
a constant factor, a transpose) the same way in the numeric, gradient and symbolic checks.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from mdl_student.i18n import _


class CheckFailure(AssertionError):
    """An answer failed a check; the message says what to fix."""


class UnreadableAnswer:
    """What a test receives for an answer that exists but could not reach the grader.

    The grader's bridge puts one in place of a value the codec refused (an
    object array, an unknown type).  Any use of it, by a check or by a plain
    expression in a test (``len(x)``, ``x == 3``, ``x.shape``), fails with the
    reason, so the student reads why the answer could not be graded rather
    than "is None".
    """

    def __init__(self, name: str, reason: str) -> None:
        object.__setattr__(self, "_mdl_unreadable",
                           _("`{name}` could not be read by the grader: {reason}").format(name=name, reason=reason))

    def __repr__(self) -> str:
        return f"<unreadable answer: {object.__getattribute__(self, '_mdl_unreadable')}>"

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # protocol probes (copy, numpy) see "no such attribute"
        raise CheckFailure(object.__getattribute__(self, "_mdl_unreadable"))

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise CheckFailure(object.__getattribute__(self, "_mdl_unreadable"))

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __bool__ = __len__ = __iter__ = __getitem__ = __contains__ = __call__ = _refuse
    __float__ = __int__ = __index__ = __complex__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = _refuse
    __hash__ = None  # type: ignore[assignment]


# Both are known as `mdl_student.checks.<name>` (their public home): tracebacks and pickles keep
# naming them there, as before the checks became a package.
CheckFailure.__module__ = UnreadableAnswer.__module__ = "mdl_student.checks"


def _unreadable_reason(x: Any) -> str | None:
    """The reason an answer could not be read, when it is an `UnreadableAnswer`."""
    return object.__getattribute__(x, "_mdl_unreadable") if isinstance(x, UnreadableAnswer) else None


# -- concealment ---------------------------------------------------------------

# A ContextVar rather than a global so that concurrent grading threads (or
# asyncio tasks) each have their own setting.
_CONCEALED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autograder_checks_concealed", default=False)


@contextlib.contextmanager
def concealed() -> Iterator[None]:
    """Inside this block, failure messages never reveal expected values.

    The grader wraps every hidden test case in ``with concealed():``.  Shapes,
    indices, the student's own value at a point, and a relative error rounded
    to one significant digit may still appear.
    """
    token = _CONCEALED.set(True)
    try:
        yield
    finally:
        _CONCEALED.reset(token)


def is_concealed() -> bool:
    """True inside `concealed()`."""
    return _CONCEALED.get()


def _fail(message: str) -> CheckFailure:
    return CheckFailure(message)


# -- wording -------------------------------------------------------------------


def _quote(x: Any) -> str:
    """The student's value, cut short; inside `concealed()`, an ellipsis.

    A value a student function returned for a hidden call is what the student's code says about
    that call: text, symbol names or an expression could spell out the hidden inputs.
    """
    return "…" if is_concealed() else _short(x)


def _short(x: Any, limit: int = 60) -> str:
    """repr(x), cut to `limit` characters."""
    return _cut(repr(x), limit)


def _a(word: str) -> str:
    """The word with its indefinite article: "an object", "a list"."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt_number(v: Any) -> str:
    if isinstance(v, (complex, np.complexfloating)):
        return f"{complex(v):.10g}".strip("()")
    if isinstance(v, (float, np.floating)):
        text = f"{float(v):.10g}"
        # 2.0 rather than 2, so that a float never reads as an integer.
        return text if any(c in text for c in ".ein") else text + ".0"
    return str(v)


def _coarse(err: float) -> str:
    """A relative error rounded to one significant digit (safe to conceal)."""
    if not math.isfinite(err):
        return _("large")
    return f"~{err:.0e}"


def _fmt_ratio(r: float) -> str:
    """2 rather than 2.0000001; a small fraction when it is one, else 4 digits."""
    import fractions

    guess = fractions.Fraction(r).limit_denominator(100)
    if abs(r - guess) <= 1e-6 * max(1.0, abs(float(guess))):
        return str(guess)
    return f"{r:.4g}"


def _value_hint(a: np.ndarray, e: np.ndarray) -> str:
    """Visible-only diagnosis: a sign slip, a constant factor, a transpose."""
    with np.errstate(all="ignore"):
        if not (np.isfinite(a).all() and np.isfinite(e).all()) or a.size == 0 \
                or "c" in a.dtype.kind + e.dtype.kind:
            return ""
        if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and np.allclose(a, e.T) \
                and not np.allclose(a, e):
            return _("it equals the transpose of the expected value")
        nonzero = np.abs(e) > 0
        if not nonzero.any() or not np.array_equal(nonzero, np.abs(a) > 0):
            return ""
        ratio = a[nonzero] / e[nonzero]
        r = ratio.flat[0]
        if np.allclose(ratio, r, rtol=1e-6, atol=0) and not np.isclose(r, 1):
            if np.isclose(r, -1):
                return _("it is the negative of the expected value (a sign error?)")
            return _("it is about {ratio} times the expected value").format(ratio=_fmt_ratio(float(r)))
    return ""


# -- shapes --------------------------------------------------------------------


def _fmt_shape(shape: tuple[Any, ...]) -> str:
    return _("() (a single number)") if shape == () else str(tuple(shape))


def _shape_hint(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """A short diagnosis of the usual shape slips."""
    if want == () and got != ():
        if math.prod(got) == 1:
            return _("an array with one element where a single number was expected "
                     "(use float(...) or .item())")
        return _("an array where a single number was expected")
    if got == () and want != ():
        return _("a single number where an array was expected")
    if len(got) == 2 and len(want) == 2 and got == want[::-1]:
        return _("did you transpose?")
    if len(want) == 1 and got == (want[0], 1):
        return _("a column vector where a flat vector was expected (use .ravel() or .reshape(-1))")
    if len(want) == 1 and got == (1, want[0]):
        return _("a row vector where a flat vector was expected (use .ravel() or .reshape(-1))")
    if len(got) == 1 and want == (got[0], 1):
        return _("a flat vector where a column vector was expected (use .reshape(-1, 1))")
    if len(got) == 1 and want == (1, got[0]):
        return _("a flat vector where a row vector was expected (use .reshape(1, -1))")
    if math.prod(got) == math.prod(want):
        return _("the right number of elements in a different arrangement "
                 "(check reshape, axis order or a missing transpose)")
    if len(got) != len(want):
        return _("{got} dimension(s) where {want} were expected").format(got=len(got), want=len(want))
    return ""


def _shape_message(name: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    hint = _shape_hint(got, want)
    message = _("{name} has shape {got}, but the expected shape is {want}").format(
        name=name, got=_fmt_shape(got), want=_fmt_shape(want))
    return message + (": " + hint if hint else "")
