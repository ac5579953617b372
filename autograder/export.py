"""``mdl export DIR --format canvas|moodle|csv``: the totals in the columns an LMS imports.

Every format carries the same number, :mod:`autograder.totals`'s final score (autograded + manual
grades so far, less the late penalty).

* ``canvas``: Canvas's gradebook import (Grades > Import): ``Student, ID, SIS User ID,
  SIS Login ID, Section``, one column for the assignment and a ``Points Possible`` row. Canvas
  matches a row by ``ID`` (its user id), then the SIS ids, then the exact name, and an assignment
  column by the id in ``Title (123)`` (else by its exact title; an unknown title makes a new
  column). ``ID`` comes from the roster's ``canvas_id`` or the Canvas download's file name
  (``doejane_1234_...``: 1234); the SIS ids from the roster (``sis_id``, ``sis_login_id``); the
  assignment id from ``Assignment.canvas_id`` in grading_config.py or ``--canvas-assignment-id``.
* ``moodle``: Moodle's gradebook "Import grades from CSV file", which matches only ID number, email
  address or username and stops at the first user it does not know: ``ID number``, ``Email
  address``, ``Username`` from the roster (``sis_id`` or ``idnumber``, ``email``,
  ``moodle_username`` or the login), the grade and a feedback column. Students the roster does
  not know are left out and named in a warning.
* ``moodle-worksheet``: the assignment's offline grading worksheet (Grading action > Upload
  grading worksheet; "Offline grading worksheet" on in the assignment's feedback types), for a
  Moodle download: ``Identifier`` = ``Participant N`` with the number of the download's folder
  (``Jane Doe_1234_assignsubmission_file``), ``Full name``, ``Email address``, ``Status``,
  ``Grade``, ``Maximum Grade``, ``Grade can be changed``, ``Last modified (submission)``, ``Last
  modified (grade)`` (now: Moodle skips a row whose grade changed after it) and ``Feedback
  comments``. Students without a participant number are left out and named in a warning.
* ``csv``: everything, one row per student: autograded, manual, late, total, status, feedback.

Who a student was in the download (``doejane_1234``, ``Jane Doe_1234``) is kept by ``mdl grade``
in ``DIR/handed_in_as.csv`` when a roster renamed them to their login.

Cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed with
``'`` so that a spreadsheet never runs a student's name as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import grading_config

import datetime as dt

from autograder.i18n import _
from autograder.out_folder import HANDED_IN_NAME, atomic_write_text
from autograder.safe_text import csv_cell
from autograder.totals import Total, class_records, totals

FORMATS = ("canvas", "moodle", "moodle-worksheet", "csv")
LMS_ID = re.compile(r"^(?P<name>.*?)_(?P<number>\d+)$")  # a Canvas or Moodle download's id: <name>_<user number>


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (numbers are written as they are): grades.csv's own rule."""
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return csv_cell(value)


def _feedback_line(total: Total) -> str:
    """The feedback cell a student reads in the LMS, in the run's language (the status stays a code)."""
    parts = [_("autograded {score}/{max_score} ({status})").format(
        score=f"{total.record['score']:g}", max_score=f"{total.record['max_score']:g}", status=total.record["status"])]
    for grade_id, points in total.manual_max.items():
        parts.append(f"{grade_id} {total.manual[grade_id]:g}/{points:g}" if grade_id in total.manual
                     else _("{grade_id} awaiting a grade").format(grade_id=grade_id))
    if total.lateness.late:
        parts.append(_("late {days} day(s): -{penalty}%").format(
            days=total.lateness.days_late, penalty=f"{total.lateness.penalty_percent:g}"))
    return "; ".join(parts)


@dataclass
class Identities:
    """Who each graded student is in the LMS: their roster row and the id their download gave them."""

    roster: Any = None  # autograder.roster.Roster (loaded by the caller: the roster is this module's peer)
    handed_in_as: dict[str, str] = field(default_factory=dict)  # login -> id intake gave (doejane_1234)
    skipped: list[str] = field(default_factory=list)  # warnings: students an import would not match
    left_out: set[str] = field(default_factory=set)  # students the file has no row for

    def row(self, student: str) -> Any:
        if self.roster is None:
            return None
        return next((s for s in self.roster.students if s.login.casefold() == student.casefold()), None)

    def lms_number(self, student: str) -> tuple[str, str] | None:
        """(name, number) of the download's ``<name>_<number>`` id, if the student came from one."""
        match = LMS_ID.match(self.handed_in_as.get(student, student))
        return (match["name"], match["number"]) if match else None


def read_handed_in_as(out_dir: Path) -> dict[str, str]:
    path = out_dir / HANDED_IN_NAME
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["login"]: r["handed_in_as"] for r in csv.DictReader(handle) if r.get("login")}


def canvas_rows(rows: list[Total], column: str, who: Identities) -> list[list[Any]]:
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]
    points = ["    Points Possible", "", "", "", "", rows[0].max_score if rows else 0]
    body = []
    for t in rows:
        student, lms = who.row(t.student), who.lms_number(t.student)
        ids = student.ids if student else {}
        canvas_id = ids.get("canvas_id") or (lms[1] if lms else "")
        sis_user = ids.get("sis_id", "")
        sis_login = ids.get("sis_login_id") or ("" if canvas_id or sis_user else t.student)
        name = (student.name if student and student.name else "") or t.student
        if not (canvas_id or sis_user):
            who.skipped.append(_("{student}: no Canvas user id (roster canvas_id or a Canvas download's file name); "
                                 "Canvas will match the row by SIS Login ID or the exact name only").format(student=t.student))
        body.append([name, canvas_id, sis_user, sis_login, "", t.final])
    return [header, points] + body


def moodle_rows(rows: list[Total], title: str, who: Identities) -> list[list[Any]]:
    """Moodle's gradebook import: a row only for a student it can match (it stops at the first unknown user)."""
    body = []
    for t in rows:
        student = who.row(t.student)
        if who.roster is not None and student is None:
            who.skipped.append(_("{student}: not in {roster}, left out (Moodle's import stops at a user it does "
                                 "not know)").format(student=t.student, roster=who.roster.source.name))
            who.left_out.add(t.student)
            continue
        ids = student.ids if student else {}
        body.append([ids.get("idnumber") or ids.get("sis_id", ""), student.email if student else "",
                     ids.get("moodle_username") or t.student, t.final, _feedback_line(t)])
    return [["ID number", "Email address", "Username", title, "Feedback"]] + body


MOODLE_TIME = "%A, %d %B %Y, %I:%M %p"  # how Moodle prints "Last modified (grade)" (strtotime reads it back)


def moodle_worksheet_rows(rows: list[Total], title: str, who: Identities) -> list[list[Any]]:
    """The assignment's offline grading worksheet, one row per student of the Moodle download."""
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    now = dt.datetime.now().strftime(MOODLE_TIME)
    body = []
    for t in rows:
        student, lms = who.row(t.student), who.lms_number(t.student)
        number = lms[1] if lms else None
        if number is None:
            who.skipped.append(_("{student}: no Moodle participant number (only a Moodle download's folder names "
                                 "carry it), left out of the worksheet").format(student=t.student))
            who.left_out.add(t.student)
            continue
        name = (student.name if student and student.name else "") or lms[0].replace("_", " ")  # Jane_Roe: Jane Roe
        body.append([f"Participant {number}", name, student.email if student else "", "", t.final, t.max_score,
                     "Yes", "", now, _feedback_line(t)])
    return [header] + body


def plain_rows(rows: list[Total], title: str, who: Identities) -> list[list[Any]]:
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


BUILDERS: dict[str, Callable[[list[Total], str, Identities], list[list[Any]]]] = {
    "canvas": canvas_rows, "moodle": moodle_rows, "moodle-worksheet": moodle_worksheet_rows, "csv": plain_rows,
}


def to_csv(table: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in table:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def export(out_dir: Path, fmt: str, target: Path | None = None, nbgrader_db: Path | None = None, *,
           roster: Any = None, canvas_assignment_id: str | None = None,
           warn: Callable[[str], None] | None = None) -> tuple[Path, list[Total]]:
    """Write DIR/export-<fmt>.csv (or ``target``); returns the path and the totals written (a student the
    format leaves out, such as one Moodle could not match, is not among them).

    ``roster``: the course roster (an ``autograder.roster.Roster``, or None); ``warn`` gets
    one line per student the LMS's import would not match (left out, or matched by name only).
    """
    if fmt not in BUILDERS:
        raise ValueError(_("--format must be one of {formats}, not {format}").format(formats=", ".join(FORMATS),
                                                                                  format=repr(fmt)))
    records = class_records(out_dir)
    rows = totals(records, out_dir, nbgrader_db)
    assignment = grading_config.assignment(records[0]["assignment"])
    who = Identities(roster, read_handed_in_as(out_dir))
    canvas_id = canvas_assignment_id or getattr(assignment, "canvas_id", None)
    column = {"canvas": f"{assignment.title} ({canvas_id})" if canvas_id else assignment.title,
              "csv": f"{assignment.title} ({assignment.id})"}.get(fmt, assignment.title)
    path = target or out_dir / f"export-{fmt}.csv"
    atomic_write_text(path, to_csv(BUILDERS[fmt](rows, column, who)))
    for line in who.skipped:
        (warn or (lambda text: None))(_("warning: {line}").format(line=line))
    return path, [t for t in rows if t.student not in who.left_out]
