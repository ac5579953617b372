"""`mdl validate`: the instructor's notebook earns full marks, the untouched release earns nothing.

Both are graded exactly as a student's submission would be (sandbox, bridge,
compiled tests), so a test that cannot pass, or one that passes on a stub, is
caught before students ever see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from grading_config import LIMITS, PATHS, Assignment

from autograder.grade import Bundle, Submission, grade_submission


@dataclass
class ValidationReport:
    assignment: str
    problems: list[str] = field(default_factory=list)
    source_score: float = 0.0
    release_score: float = 0.0
    max_score: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate(assignment: Assignment, echo: Callable[[str], None] = print) -> ValidationReport:
    bundle = Bundle.load(assignment)
    report = ValidationReport(assignment.id, max_score=bundle.manifest.max_score)
    limits = assignment.limits or LIMITS
    source = grade_submission(Submission("instructor-source", PATHS.source / assignment.id / assignment.notebook), bundle, limits=limits)
    report.source_score = source.score
    if source.status != "ok":
        report.problems.append(f"the source notebook graded with status {source.status}: {source.messages}")
    for qid, points in source.max_scores.items():
        if source.scores[qid] != points:
            report.problems.append(f"source notebook: {qid} earned {source.scores[qid]} of {points}")
    if source.messages and source.status == "ok":
        report.problems += [f"source notebook: {m}" for m in source.messages]
    release = grade_submission(Submission("untouched-release", PATHS.release / assignment.id / assignment.notebook), bundle, limits=limits)
    report.release_score = release.score
    for qid, earned in release.scores.items():
        if earned != 0:
            report.problems.append(f"untouched release: {qid} earned {earned} points without any work")
    verdict = "ok" if report.ok else "FAILED"
    echo(
        f"validate {assignment.id}: {verdict} (source {source.score:g}/{report.max_score:g} in {source.seconds:.1f}s, "
        f"release {release.score:g}/{report.max_score:g})"
    )
    for problem in report.problems:
        echo(f"  - {problem}")
    return report
