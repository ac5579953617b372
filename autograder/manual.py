"""Manually graded questions: nbgrader's manual-grade Markdown cells, graded by a person.

A manual question is a Markdown cell with nbgrader metadata ``grade: true, solution: true,
points: N, grade_id: ...`` (a derivation, an explanation).  nbgrader's release replaces the
answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` with "YOUR ANSWER HERE".
The grader never scores it: the gradebook shows it as ``awaiting`` until an instructor grades it

* in ``DIR/manual_grades.csv`` (``student,grade_id,score,comment``; ``mdl grade`` writes the
  file with an empty row per student and question, and ``DIR/manual/<grade_id>.html`` shows every
  student's answer), or
* in nbgrader's formgrader: ``mdl formgrader A DIR --course C --submissions PATH`` writes the
  autograded scores into nbgrader's gradebook (``C/gradebook.db``, through nbgrader's own
  Gradebook API) and the notebooks into ``C/autograded/``, so formgrader shows one combined grade
  and asks only for the manual cells; ``mdl export --nbgrader-db C/gradebook.db`` reads them back.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

from autograder.notebook_meta import is_manual_cell, is_test_cell, nbgrader_meta

MANUAL_GRADES = "manual_grades.csv"
MANUAL_PAGES = "manual"


# --------------------------------------------------------------------------- the CSV route


def read_manual_grades(path: Path, max_points: dict[str, float]) -> dict[tuple[str, str], tuple[float, str]]:
    """``{(student, grade_id): (score, comment)}`` of the rows with a score; a bad row is a ValueError naming it."""
    if not path.is_file():
        return {}
    grades = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, restkey=_EXTRA_FIELDS)
        missing = {"student", "grade_id", "score"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: the header needs student,grade_id,score,comment (missing {', '.join(sorted(missing))})")
        for row in reader:
            line = reader.line_num  # the file's line where this row ends (a quoted comment may span lines)
            text = (row.get("score") or "").strip()
            if not text:
                continue  # not graded yet
            grade_id = (row.get("grade_id") or "").strip()
            if grade_id not in max_points:
                raise ValueError(f"{path} line {line}: {grade_id!r} is not a manual question ({', '.join(max_points)})")
            score = _score(text, row, len(reader.fieldnames or []), f"{path} line {line}")
            if not 0 <= score <= max_points[grade_id]:
                raise ValueError(f"{path} line {line}: score {score:g} is outside 0..{max_points[grade_id]:g} for {grade_id}")
            grades[((row.get("student") or "").strip(), grade_id)] = (score, (row.get("comment") or "").strip())
    return grades


_EXTRA_FIELDS = "\0extra"  # where csv puts the fields of a row beyond the header's
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")  # 2, 1.5, .5: no sign, exponent, underscore, nan or inf


def _score(text: str, row: dict[str, Any], columns: int, where: str) -> float:
    """The score of a row, or a ValueError where the row's fields or its number are doubtful.

    ``alice,q9,1,5`` is the decimal ``1,5`` split by its comma as often as it is a score of 1 with
    the comment "5": refused, as is a row with more fields than the header and a number Python would
    read but a person would not write (``1_5``, ``1e1``, ``nan``).
    """
    extra = row.get(_EXTRA_FIELDS)
    if extra:
        raise ValueError(f"{where}: {columns + len(extra)} fields where the header has {columns}: a comma in a score "
                         "or comment? Write decimals with a point (1.5) and put a comment with commas in double quotes")
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(f"{where}: score {text[:20]!r} is not a number like 2 or 1.5")
    comment = (row.get("comment") or "").strip()
    if text.isdigit() and comment.isdigit():
        raise ValueError(f"{where}: score {text} with the comment {comment[:20]!r} looks like the decimal {text},{comment} "
                         f"split by its comma: write {text}.{comment}, or a comment in words")
    return float(text)


def write_grading_sheets(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """``manual_grades.csv`` with an empty row per student and question (only if absent: it is the
    instructor's file), and one page per question showing every student's answer."""
    questions = manual_points(records)
    if not questions:
        return []
    written = []
    sheet = out_dir / MANUAL_GRADES
    if not sheet.exists():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["student", "grade_id", "score", "comment"])
        for record in sorted(records, key=lambda r: r["student"]):
            for grade_id in questions:
                writer.writerow([record["student"], grade_id, "", ""])
        sheet.write_text(buffer.getvalue(), encoding="utf-8")
        written.append(sheet)
    for grade_id, points in questions.items():
        page = out_dir / MANUAL_PAGES / f"{grade_id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_answers_page(grade_id, points, records), encoding="utf-8")
        written.append(page)
    return written


def manual_points(records: list[dict[str, Any]]) -> dict[str, float]:
    """``{grade_id: points}`` of the manual questions, in the notebook's order."""
    points: dict[str, float] = {}
    for record in records:
        for grade_id, item in (record.get("manual") or {}).items():
            points.setdefault(grade_id, float(item["points"]))
    return points


def _answers_page(grade_id: str, points: float, records: list[dict[str, Any]]) -> str:
    """Every student's answer to one manual question, escaped (it is untrusted text)."""
    rows = []
    for record in sorted(records, key=lambda r: r["student"]):
        answer = (record.get("manual") or {}).get(grade_id, {}).get("answer", "")
        body = html.escape(answer) if answer.strip() else "<em>no answer</em>"
        rows.append(f"<section><h2>{html.escape(record['student'])}</h2><pre>{body}</pre></section>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(grade_id)}: answers</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{white-space:pre-wrap;"
        "background:#f6f6f6;padding:.8em;border-radius:4px}</style></head><body>"
        f"<h1>{html.escape(grade_id)} ({points:g} points): every answer</h1>"
        f"<p>Grade them in <code>{MANUAL_GRADES}</code> (student,grade_id,score,comment), then run "
        "<code>mdl report</code> to refresh the gradebook and the feedback pages.</p>"
        + "".join(rows) + "</body></html>\n"
    )


# --------------------------------------------------------------------------- the formgrader route


def _gradebook(db_path: Path):  # type: ignore[no-untyped-def]
    import os
    import sys

    from nbgrader.api import Gradebook

    # nbgrader shells out to alembic for its database: the venv's bin must be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(f"sqlite:///{db_path}")


def sync_to_nbgrader(
    assignment_id: str,
    notebook_name: str,
    records: list[dict[str, Any]],
    source_notebook: Path,
    course_dir: Path,
    submissions: dict[str, Path] | None = None,
) -> Path:
    """Write our autograded scores into nbgrader's gradebook so formgrader shows one combined grade.

    Registers the assignment's graded cells (autograded tests and manual Markdown cells, with their
    points) through nbgrader's Gradebook API, adds a submission per student with every autograded
    cell's ``auto_score`` set and marked as needing no manual grade, and copies each notebook into
    ``course_dir/autograded/<student>/<a>/`` where formgrader reads it. Manual scores an instructor
    already gave in formgrader are kept. Returns the database path.
    """
    import nbformat


    course_dir.mkdir(parents=True, exist_ok=True)
    db_path = course_dir / "gradebook.db"
    nb_stem = Path(notebook_name).stem
    source = nbformat.read(source_notebook, as_version=4)
    graded = [c for c in source.cells if is_test_cell(c) or is_manual_cell(c)]
    with _gradebook(db_path) as gb:
        gb.update_or_create_assignment(assignment_id)
        gb.update_or_create_notebook(nb_stem, assignment_id)
        for cell in graded:
            meta = nbgrader_meta(cell)
            gb.update_or_create_grade_cell(meta["grade_id"], nb_stem, assignment_id,
                                           max_score=float(meta["points"]), cell_type=cell.cell_type)
            if is_manual_cell(cell):
                gb.update_or_create_solution_cell(meta["grade_id"], nb_stem, assignment_id)
        for record in records:
            student = record["student"]
            gb.update_or_create_student(student)
            try:
                gb.find_submission(assignment_id, student)
            except Exception:  # noqa: BLE001  (nbgrader raises MissingEntry)
                with warnings.catch_warnings():  # nbgrader's own add_submission warns about its session; harmless
                    warnings.filterwarnings("ignore", message=".*not in session.*")
                    gb.add_submission(assignment_id, student)
            for grade_id, score in record["scores"].items():
                grade = gb.find_grade(grade_id, nb_stem, assignment_id, student)
                grade.auto_score = float(score)
                grade.needs_manual_grade = False
            gb.db.commit()
            notebook = (submissions or {}).get(student)
            if notebook is not None and notebook.is_file():
                target = course_dir / "autograded" / student / assignment_id / notebook_name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(notebook, target)
    return db_path


def read_nbgrader_manual(db_path: Path, assignment_id: str, notebook_name: str, grade_ids: list[str]) -> dict[tuple[str, str], tuple[float, str]]:
    """``{(student, grade_id): (score, comment)}`` for the manual cells graded in formgrader."""
    if not db_path.is_file():
        raise FileNotFoundError(f"no nbgrader gradebook at {db_path} (run `mdl formgrader` first)")
    nb_stem = Path(notebook_name).stem
    grades = {}
    with _gradebook(db_path) as gb:
        for student in gb.students:
            for grade_id in grade_ids:
                try:
                    grade = gb.find_grade(grade_id, nb_stem, assignment_id, student.id)
                except Exception:  # noqa: BLE001  (no submission of this student)
                    continue
                if grade.manual_score is not None:
                    comment = ""
                    try:
                        comment = gb.find_comment(grade_id, nb_stem, assignment_id, student.id).manual_comment or ""
                    except Exception:  # noqa: BLE001
                        pass
                    grades[(student.id, grade_id)] = (float(grade.manual_score), comment)
    return grades
