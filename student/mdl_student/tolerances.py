"""Default tolerances of the answer checks (`mdl_student.checks`).

One place for them: the checks read them here, in the student's notebook and in the grader alike,
and `grading_config` re-exports them for the course's settings.  A test may pass its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    """Defaults for `mdl_student.checks`; a test may pass its own."""

    rtol: float = 1e-7
    atol: float = 1e-10
    # Symbolic equivalence: algebra gets this long before we give up ...
    symbolic_timeout_s: float = 5.0
    # ... and this many random points give the numeric second opinion.
    symbolic_samples: int = 12
    symbolic_sample_rtol: float = 1e-8
    # Finite-difference gradient checks (central differences, float64).
    gradient_h: float = 1e-6
    gradient_rtol: float = 1e-6


TOLERANCES = Tolerances()
