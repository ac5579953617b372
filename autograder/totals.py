"""One student's total: the autograded score, the manual grades, the late penalty.

The one place that combines them, so that ``grades.csv``, the feedback pages, the report and
``mdl export`` all say the same number:

    final = (autograded score + manual scores given so far) * (1 - late penalty / 100)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.late import Lateness, assess_record, format_time, load_extensions
from autograder.manual import MANUAL_GRADES, manual_points, read_manual_grades
from autograder.out_folder import NBGRADER_DB_NAME, atomic_write_text
from autograder.records import load_records
from grading_config import LATE

AWAITING = "awaiting"


@dataclass
class Total:
    record: dict[str, Any]
    lateness: Lateness
    manual_max: dict[str, float]
    manual: dict[str, float] = field(default_factory=dict)  # graded manual questions only
    comments: dict[str, str] = field(default_factory=dict)

    @property
    def student(self) -> str:
        return self.record["student"]

    @property
    def awaiting(self) -> list[str]:
        return [g for g in self.manual_max if g not in self.manual]

    @property
    def raw(self) -> float:
        return round(float(self.record["score"]) + sum(self.manual.values()), 6)

    @property
    def max_score(self) -> float:
        return round(float(self.record["max_score"]) + sum(self.manual_max.values()), 6)

    @property
    def final(self) -> float:
        return round(self.raw * (1 - self.lateness.penalty_percent / 100), 6)


def remember_nbgrader_db(out_dir: Path, db: Path) -> Path:
    """DIR/nbgrader_db.txt: the gradebook mdl formgrader wrote to, so report and export read it without --nbgrader-db."""
    path = out_dir / NBGRADER_DB_NAME
    atomic_write_text(path, str(Path(db).resolve()) + "\n")
    return path


def remembered_nbgrader_db(out_dir: Path) -> Path | None:
    """The gradebook DIR/nbgrader_db.txt names; one that is gone is a ValueError (never grades silently 'awaiting')."""
    path = out_dir / NBGRADER_DB_NAME
    if not path.is_file():
        return None
    db = Path(path.read_text(encoding="utf-8").strip())
    if not db.is_file():
        raise ValueError(f"{path} names nbgrader's gradebook {db}, which is not there: run `mdl formgrader` again, "
                         f"pass --nbgrader-db, or delete {path.name} to use manual_grades.csv alone")
    return db


@dataclass
class ManualSources:
    """Where manual grades come from: DIR/manual_grades.csv, and nbgrader's gradebook: the one given, else the
    one DIR/nbgrader_db.txt remembers (written by mdl formgrader)."""

    out_dir: Path
    nbgrader_db: Path | None = None

    def load(self, records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, str]]:
        points = manual_points(records)
        if not points:
            return {}
        grades = read_manual_grades(self.out_dir / MANUAL_GRADES, points)
        if self.nbgrader_db is None:
            self.nbgrader_db = remembered_nbgrader_db(self.out_dir)
        if self.nbgrader_db is not None:
            from autograder.manual import read_nbgrader_manual
            import grading_config

            assignment = grading_config.assignment(records[0]["assignment"])
            grades.update(read_nbgrader_manual(self.nbgrader_db, assignment.id, assignment.notebook, list(points)))
        return grades


def class_records(out_dir: Path) -> list[dict[str, Any]]:
    """The records of one graded folder, all of one assignment, or a message saying what is wrong."""
    records = list(load_records(out_dir).values())
    if not records:
        raise FileNotFoundError(f"no graded submissions in {out_dir} (run `mdl grade ... --out {out_dir}` first)")
    assignments = {r["assignment"] for r in records}
    if len(assignments) > 1:
        raise ValueError(f"{out_dir} holds records of several assignments ({', '.join(sorted(assignments))})")
    return records


def check_instructor_files(out_dir: Path, manual_max: dict[str, float]) -> None:
    """Read ``extensions.csv`` and ``DIR/manual_grades.csv`` as the totals will: a bad line stops a grading run
    before it grades (ValueError naming the file and line), as it stops ``mdl report`` and ``mdl export``.

    Read only after grading, a bad line would drop every extension or manual grade from the pages written.
    """
    load_extensions(LATE.extensions_file)
    if manual_max:
        read_manual_grades(out_dir / MANUAL_GRADES, manual_max)


def totals(
    records: list[dict[str, Any]],
    out_dir: Path,
    nbgrader_db: Path | None = None,
    *,
    manual_grades: dict[tuple[str, str], tuple[float, str]] | None = None,
    extensions: dict[tuple[str, str], dt.datetime] | None = None,
) -> list[Total]:
    """The Total of every record, sorted by student; a bad manual_grades.csv or extensions.csv is a ValueError."""
    grades = ManualSources(out_dir, nbgrader_db).load(records) if manual_grades is None else manual_grades
    points = manual_points(records)
    extensions = load_extensions(LATE.extensions_file) if extensions is None else extensions
    result = []
    for record in sorted(records, key=lambda r: r["student"]):
        total = Total(record, assess_record(record, extensions), dict(points))
        for grade_id in points:
            if (record["student"], grade_id) in grades:
                total.manual[grade_id], total.comments[grade_id] = grades[(record["student"], grade_id)]
        result.append(total)
    return result


def extra_header(manual_ids: list[str]) -> list[str]:
    """The columns grades.csv gets after its q: columns (existing readers keep working)."""
    return [f"manual:{g}" for g in manual_ids] + ["submitted_at", "due", "days_late", "late_penalty_pct",
                                                  "final_score", "final_max_score"]


def extra_cells(total: Total) -> list[str]:
    late = total.lateness
    manual = [_num(total.manual[g]) if g in total.manual else AWAITING for g in total.manual_max]
    submitted = late.submitted_at.astimezone(dt.timezone.utc).isoformat() if late.submitted_at else ""
    return manual + [submitted, late.due.astimezone(dt.timezone.utc).isoformat(), str(late.days_late),
                     _num(late.penalty_percent), _num(total.final), _num(total.max_score)]


def _num(value: float) -> str:
    return f"{value:g}" if float(value) != int(value) else str(int(value))


__all__ = ["AWAITING", "Total", "totals", "check_instructor_files", "extra_header", "extra_cells", "format_time"]
