"""Default tolerances of the answer checks (`mdl_student.checks`).

One place for them: the checks read them here, in the student's notebook and in the grader alike,
and `grading_config` re-exports them for the course's settings.  A test may pass its own.

Why these numbers: an answer computed in float32 is a correct answer unless a question asks for
float64 (the fairness standard).  float32 rounds each operation to about 6e-8 relative, and a
short computation (an affine map, a projection of a few columns) stays within 1e-6 of the float64
value relative to its inputs' scale.  So the default ``rtol`` (1e-5) leaves a margin of about ten
over float32 rounding, whatever container the value arrives in (a float32 array, a float64 array
cast from it, a Python float from ``tensor.item()``); and an answer whose array *is* float32 (or
half precision) also gets ``float32_atol`` (1e-6), so that entries that cancel to nearly zero are
not judged by their relative error.  A question that asks for float64 checks the dtype and passes
its own tighter tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    """Defaults for `mdl_student.checks`; a test may pass its own."""

    rtol: float = 1e-5
    atol: float = 1e-8
    # The absolute tolerance when the answer's own dtype is float32, float16 or complex64.
    float32_atol: float = 1e-6
    # Symbolic equivalence: algebra gets this long before we give up ...
    symbolic_timeout_s: float = 5.0
    # ... and this many random points give the numeric second opinion.
    symbolic_samples: int = 12
    symbolic_sample_rtol: float = 1e-8
    # Finite-difference gradient checks (central differences, float64).
    gradient_h: float = 1e-6
    gradient_rtol: float = 1e-6


TOLERANCES = Tolerances()
