"""Answer checks that every test cell imports.

Instructors' visible tests, the grader's hidden tests and students running the
visible tests in JupyterLab all call these functions.  Each check returns None
when the answer is right and raises `CheckFailure` (an AssertionError, so
otter and pytest count it as a failed test) with a message a student can act
on when it is not.

Four families:

- numbers and arrays: `assert_close`, `assert_exact` (integers: counts,
  shapes), `assert_shape`, `assert_dtype_kind`;
- sympy answers: `assert_equivalent` (algebra with a hard time limit, plus a
  numeric second opinion at random points) and `value_at` (an answer at a
  point); both match symbols by name, so symbols declared again, with or
  without assumptions, are the same symbols;
- gradients: `assert_gradient`, `assert_gradient_at_random_points` (the
  central differences they use are private: nothing here answers a question);
- student functions: `assert_function_matches`.

Hidden tests run inside `concealed()`: there, no message shows an expected
value (numbers, expressions or elements); shapes, indices, the point where
two expressions differ and a coarse relative error are still shown.

Default tolerances come from `mdl_student.tolerances.TOLERANCES`, the one place for
them.  Importing this package is cheap: numpy only; sympy and torch are
imported when a check first needs them.

One module per idea; each imports only those below it:

- `numeric`: assert_close, assert_exact, assert_shape, assert_dtype_kind, assert_function_matches;
- `gradient`: assert_gradient, assert_gradient_at_random_points (and the private central differences);
- `symbolic`: assert_equivalent and value_at, and the message for a verdict; below it
  `verdict` (what the forked child decides), `algebra` (proofs by rewriting), `sampling`
  (values at random points, confirmation) and `expressions` (reading sympy answers);
- `answers`: reading an answer as a numpy array, or the reason why not;
- `deadline`: running work in a forked child that is killed at a deadline;
- `messages`: CheckFailure, UnreadableAnswer, concealment, and the wording every check shares.
"""

from mdl_student.checks.deadline import _run_with_deadline
from mdl_student.checks.gradient import assert_gradient, assert_gradient_at_random_points
from mdl_student.checks.messages import CheckFailure, UnreadableAnswer, concealed, is_concealed
from mdl_student.checks.numeric import (
    assert_close, assert_dtype_kind, assert_exact, assert_function_matches, assert_shape)
from mdl_student.checks.sampling import _Sampler
from mdl_student.checks.symbolic import assert_equivalent, value_at

# `_Sampler` (tests/test_adversarial.py, the adversarial corpus) and `_run_with_deadline`
# (benchmarks/bench_symbolic.py) are private, imported from here by the course's own tests.
__all__ = [
    "CheckFailure",
    "UnreadableAnswer",
    "assert_close",
    "assert_dtype_kind",
    "assert_equivalent",
    "assert_exact",
    "assert_function_matches",
    "assert_gradient",
    "assert_gradient_at_random_points",
    "assert_shape",
    "concealed",
    "is_concealed",
    "value_at",
]
