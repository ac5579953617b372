"""``mdl export DIR --format canvas|moodle|csv``: the totals in the columns an LMS imports.

Every format carries the same number, :mod:`autograder.totals`'s final score (autograded + manual
grades so far, less the late penalty).

* ``canvas``: Canvas's gradebook import (Grades > Import): ``Student, ID, SIS User ID,
  SIS Login ID, Section`` then one column named after the assignment, and a ``Points Possible``
  row. Canvas matches a row by ID, SIS User ID or SIS Login ID; we fill SIS Login ID with the
  student id the grader knows (the login of the hand-in), and the others stay empty.
* ``moodle``: Moodle's "Import grades from CSV file": a user identifier column (``Username``; map
  it to username, or to ID number/email, at import), a grade column and a feedback column, each
  chosen on Moodle's mapping screen.
* ``csv``: everything, one row per student: autograded, manual, late, total, status, feedback.

Cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed with
``'`` so that a spreadsheet never runs a student's name as a formula.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable

import grading_config

from autograder.out_folder import atomic_write_text
from autograder.safe_text import csv_cell
from autograder.totals import Total, class_records, totals

FORMATS = ("canvas", "moodle", "csv")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (numbers are written as they are): grades.csv's own rule."""
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return csv_cell(value)


def _feedback_line(total: Total) -> str:
    parts = [f"autograded {total.record['score']:g}/{total.record['max_score']:g} ({total.record['status']})"]
    for grade_id, points in total.manual_max.items():
        parts.append(f"{grade_id} {total.manual[grade_id]:g}/{points:g}" if grade_id in total.manual else f"{grade_id} awaiting a grade")
    if total.lateness.late:
        parts.append(f"late {total.lateness.days_late} day(s): -{total.lateness.penalty_percent:g}%")
    return "; ".join(parts)


def canvas_rows(rows: list[Total], title: str) -> list[list[Any]]:
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]
    points = ["    Points Possible", "", "", "", "", rows[0].max_score if rows else 0]
    return [header, points] + [[t.student, "", "", t.student, "", t.final] for t in rows]


def moodle_rows(rows: list[Total], title: str) -> list[list[Any]]:
    return [["Username", title, "Feedback"]] + [[t.student, t.final, _feedback_line(t)] for t in rows]


def plain_rows(rows: list[Total], title: str) -> list[list[Any]]:
    manual_ids = list(rows[0].manual_max) if rows else []
    header = (["student", "assignment", "status", "autograded", "autograded_max"] + [f"manual:{g}" for g in manual_ids]
              + ["manual_awaiting", "submitted_at", "days_late", "late_penalty_pct", "total", "max_total", "feedback"])
    body = []
    for t in rows:
        late = t.lateness
        body.append([t.student, t.record["assignment"], t.record["status"], t.record["score"], t.record["max_score"]]
                    + [t.manual.get(g, "awaiting") for g in manual_ids]
                    + [len(t.awaiting), late.submitted_at.isoformat() if late.submitted_at else "", late.days_late,
                       late.penalty_percent, t.final, t.max_score, _feedback_line(t)])
    return [header] + body


BUILDERS: dict[str, Callable[[list[Total], str], list[list[Any]]]] = {
    "canvas": canvas_rows, "moodle": moodle_rows, "csv": plain_rows,
}


def to_csv(table: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in table:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def export(out_dir: Path, fmt: str, target: Path | None = None, nbgrader_db: Path | None = None) -> tuple[Path, list[Total]]:
    """Write DIR/export-<fmt>.csv (or ``target``); returns the path and the totals written."""
    if fmt not in BUILDERS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    records = class_records(out_dir)
    rows = totals(records, out_dir, nbgrader_db)
    assignment = grading_config.assignment(records[0]["assignment"])
    path = target or out_dir / f"export-{fmt}.csv"
    atomic_write_text(path, to_csv(BUILDERS[fmt](rows, f"{assignment.title} ({assignment.id})")))
    return path, rows
