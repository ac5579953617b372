"""Default tolerances of the answer checks (`mdl_student.checks`).

One place for them: the checks read them here, in the student's notebook and in the grader alike,
and `grading_config` re-exports them for the course's settings.  A test may pass its own.

Why these numbers: an answer computed in float32 is a correct answer unless a question asks for
float64 (the fairness standard), whatever container it arrives in (a float32 array or tensor, a
float64 array cast from one, a list, a Python float from ``tensor.item()``).  float32 rounds each
operation to about 6e-8 relative; a short computation on data of order one (an affine map, a
projection, a loss) stays within about 1e-7 of the float64 value, absolutely, even where terms
cancel.  So ``rtol`` 1e-5 and ``atol`` 1e-6 leave a margin of about ten over float32 rounding
(measured: 200 of 200 random float32 affine maps pass, entries near zero included), and a value
smaller than 1e-6 is compared only absolutely: a test about tiny numbers passes its own ``atol``.
A question that asks for float64 checks the dtype and passes its own tighter tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    """Defaults for `mdl_student.checks`; a test may pass its own."""

    rtol: float = 1e-5
    atol: float = 1e-6
    # Symbolic equivalence: algebra gets this long before we give up ...
    symbolic_timeout_s: float = 5.0
    # ... and this many random points give the numeric second opinion.
    symbolic_samples: int = 12
    symbolic_sample_rtol: float = 1e-8
    # Finite-difference gradient checks (central differences, float64).
    gradient_h: float = 1e-6
    gradient_rtol: float = 1e-6


TOLERANCES = Tolerances()
