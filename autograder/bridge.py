"""The grader's side of the bridge: what crosses from the student's kernel, and how.

This module and :mod:`mdl_student.codec` are the whole trust boundary.  A test
function receives, for every student-defined name it reads:

* a plain value decoded by the codec (never unpickled, never evaluated), or
* a :class:`StudentFunction` proxy: calling it encodes the arguments, runs the
  student's function *in the kernel*, and decodes the result; or
* ``None`` when the student's notebook does not define the name.

The kernel can only answer; every comparison happens here, in the grader.
"""

from __future__ import annotations

import builtins
from typing import Any, Callable

from autograder.i18n import _
from mdl_student.codec import CodecError, decode_value, encode_value
from mdl_student.checks import UnreadableAnswer
from autograder.sandbox import Kernel, KernelError, KernelTimeout

# Exception classes a hidden test's message may name.  A class the student defines could carry the
# hidden inputs in its name (``type(f"E{n}", (Exception,), {})``), so it is not named.
_NAMEABLE_ERRORS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
) | {"LinAlgError"}


class StudentCodeError(Exception):
    """The student's function raised, ran too long, or returned something unreadable.

    Raised inside a hidden test (under ``concealed()``), its message is neutral: the exception's
    type and one fixed sentence, never the exception's text, the kernel's exit status or anything
    else the student's code chose, which could quote the hidden inputs it was called with.
    """


def _student_error(message: str, neutral: str) -> StudentCodeError:
    from mdl_student.checks import is_concealed

    return StudentCodeError(neutral if is_concealed() else message)


def _neutral_failure(failed: Callable[[str], str], label: str, error_type: Any) -> str:
    """What a hidden test may say about a call that failed: which kind of failure, nothing the code wrote."""
    if error_type == "CellTimeout":
        return _("calling {label} ran past its time limit").format(label=label)
    if error_type == "CodecError":
        return _("{label} returned a value that cannot be sent to the grader").format(label=label)
    kind = error_type if error_type in _NAMEABLE_ERRORS else _("an exception of a class of its own")
    return failed(kind) + _(" (its message is not shown for hidden tests)")


class StudentFunction:
    """A stand-in for a function defined in the student's kernel."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self._kernel = kernel
        self.__name__ = name
        self._mdl_student_name = name  # how the codec sends it back to the kernel

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"

    def run_job(self, target: str, *args: Any, seconds: float, **kwargs: Any) -> Any:
        """Run a trusted course function beside this student function, in its kernel (:func:`run_in_kernel`).

        The one interface course code that grades a long job (the capstone's DPO training) uses to
        reach the grader: it is handed student functions and calls this method on one of them.
        """
        return run_in_kernel(target, *args, seconds=seconds, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            payload_args = encode_value(args, allow_functions=True)
            payload_kwargs = encode_value(kwargs, allow_functions=True)
        except CodecError as err:
            raise TypeError(f"the test passes a value the bridge cannot send: {err}") from err
        return _answer(
            lambda: self._kernel.call(self.__name__, payload_args, payload_kwargs),
            self.__name__, lambda error: _("your function {name} raised {error}").format(name=self.__name__, error=error),
        )


def _answer(request: Any, label: str, failed: Callable[[str], str] | str) -> Any:
    """Send one request to the kernel and decode its value; every failure is the student code's.

    ``failed(error)`` words a failure of the student's code ("your function f raised ValueError: ...");
    a text is a prefix put before the error.
    """
    if isinstance(failed, str):
        prefix = failed
        failed = lambda error: f"{prefix} {error}"  # noqa: E731
    try:
        reply = request()
    except KernelTimeout as err:
        raise _student_error(_("calling {label}: {error}").format(label=label, error=err),
                             _("calling {label} ran past its time limit").format(label=label)) from err
    except KernelError as err:  # its exit status or signal could be chosen to quote the inputs
        raise _student_error(_("calling {label}: {error}").format(label=label, error=err),
                             _("calling {label} stopped the kernel").format(label=label)) from err
    if not reply.get("ok"):
        error = reply["error"] if "error" in reply else _("an error")
        if reply.get("error_type") == "CellTimeout":  # the kernel's agent words it in English: said here in the run's language
            error = _("the call ran past its time limit")
        raise _student_error(failed(error), _neutral_failure(failed, label, reply.get("error_type")))
    try:
        return decode_value(reply.get("value"))
    except CodecError as err:
        raise _student_error(_("{label} returned a value the grader cannot read: {error}").format(label=label, error=err),
                             _("{label} returned a value the grader cannot read").format(label=label)) from err


def run_in_kernel(target: str, *args: Any, seconds: float, **kwargs: Any) -> Any:
    """Run a trusted course function (``"package.module:function"``) inside the student's kernel.

    Student functions among the arguments are passed as themselves, so a long
    job that calls them often (the capstone's DPO training) runs next to them,
    in the sandbox, and only its result crosses back through the codec.
    """
    kernels = {id(a._kernel): a._kernel for a in [*args, *kwargs.values()] if isinstance(a, StudentFunction)}
    if len(kernels) != 1:
        raise TypeError("run_in_kernel needs at least one student function argument (from one kernel)")
    kernel = next(iter(kernels.values()))
    payload_args, payload_kwargs = encode_value(args, allow_functions=True), encode_value(kwargs, allow_functions=True)
    label = target.split(":")[-1]
    return _answer(lambda: kernel.job(target, payload_args, payload_kwargs, seconds), label,
                   lambda error: _("{label} failed with your code: {error}").format(label=label, error=error))


def environment(kernel: Kernel, names: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values and proxies for the names tests need, and a note for each name that failed.

    The grader calls this in the question's forked child (:func:`autograder.grade.score`), never in
    its own process: rebuilding a value the student chose (a sympy object whose constructor does
    unbounded work, millions of nested lists) is bounded by the question's time and memory limits.
    """
    env: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if not names:
        return env, problems
    found = kernel.lookup(names)
    for name in names:
        entry = found.get(name, {"kind": "missing"})
        kind = entry.get("kind")
        if kind == "function":
            env[name] = StudentFunction(kernel, name)
        elif kind == "value":
            try:
                env[name] = decode_value(entry.get("value"))
            except CodecError as err:
                env[name] = UnreadableAnswer(name, str(err))  # tests say why, not "is None"
                problems[name] = _("`{name}` could not be read: {error}").format(name=name, error=err)
        elif kind == "error":
            env[name] = UnreadableAnswer(name, str(entry.get("error")).removeprefix(f"`{name}`: "))
            problems[name] = str(entry.get("error"))
        else:
            env[name] = None
            problems[name] = _("`{name}` is not defined (did its cell run without errors?)").format(name=name)
    return env, problems
