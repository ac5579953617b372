"""Questions whose answer is a class: the test's own driver runs next to it, in the student's kernel.

Objects of a class the student wrote (A5's scalar autograd ``Value``) cannot cross the grader's
bridge: only numbers, arrays, strings and sympy objects do.  So a hidden test sends a *driver*, a
plain function of its own that builds objects of the class, uses them and returns plain numbers,
to the kernel together with the class (by name), and runs it there as a job::

    run_in_kernel("mdl_student.class_jobs:run_driver", drive, Value, build, inputs, seconds=20.0)

The driver is the test's code, not the notebook's: a student who redefines a helper that the
notebook provides changes nothing that is graded; only the class itself, written in an answer cell,
is.  Only the driver's result (plain data) comes back; the comparison happens in the grader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_driver(driver: Callable[..., Any], *args: Any) -> Any:
    """JOB (runs in the student's kernel): ``driver(*args)``, where args name the student's class."""
    return driver(*args)
