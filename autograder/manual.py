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
  The notebooks are copied made inert (:func:`inert_notebook`): formgrader renders them in the
  instructor's Jupyter session, where a stored script output would run.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

from autograder.i18n import _
from autograder.math_html import answer_html
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
            raise ValueError(_("{path}: the header needs student,grade_id,score,comment (missing {columns})").format(
                path=path, columns=", ".join(sorted(missing))))
        for row in reader:
            line = reader.line_num  # the file's line where this row ends (a quoted comment may span lines)
            where = _("{path} line {line}").format(path=path, line=line)
            text = (row.get("score") or "").strip()
            if not text:
                continue  # not graded yet
            grade_id = (row.get("grade_id") or "").strip()
            if grade_id not in max_points:
                raise ValueError(_("{where}: {grade_id} is not a manual question ({questions})").format(
                    where=where, grade_id=repr(grade_id), questions=", ".join(max_points)))
            score = _score(text, row, len(reader.fieldnames or []), where)
            if not 0 <= score <= max_points[grade_id]:
                raise ValueError(_("{where}: score {score} is outside 0..{points} for {grade_id}").format(
                    where=where, score=f"{score:g}", points=f"{max_points[grade_id]:g}", grade_id=grade_id))
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
        raise ValueError(_("{where}: {fields} fields where the header has {columns}: a comma in a score or comment? "
                           "Write decimals with a point (1.5) and put a comment with commas in double quotes").format(
            where=where, fields=columns + len(extra), columns=columns))
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(_("{where}: score {score} is not a number like 2 or 1.5").format(where=where,
                                                                                        score=repr(text[:20])))
    comment = (row.get("comment") or "").strip()
    if text.isdigit() and comment.isdigit():
        raise ValueError(_("{where}: score {score} with the comment {comment} looks like the decimal {whole},{part} "
                           "split by its comma: write {whole}.{part}, or a comment in words").format(
            where=where, score=text, comment=repr(comment[:20]), whole=text, part=comment))
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
    models = model_answers(records[0]["assignment"])
    for grade_id, points in questions.items():
        page = out_dir / MANUAL_PAGES / f"{grade_id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_answers_page(grade_id, points, records, models.get(grade_id)), encoding="utf-8")
        written.append(page)
    return written


def manual_points(records: list[dict[str, Any]]) -> dict[str, float]:
    """``{grade_id: points}`` of the manual questions, in the notebook's order."""
    points: dict[str, float] = {}
    for record in records:
        for grade_id, item in (record.get("manual") or {}).items():
            points.setdefault(grade_id, float(item["points"]))
    return points


_RUBRIC = re.compile(r"^\s*\**\s*Rubric\b", re.I | re.M)  # a marked part of the model answer: "**Rubric (2 points).** ..."


def model_answers(assignment_id: str) -> dict[str, tuple[str, str]]:
    """``{grade_id: (model answer, rubric)}`` of the source notebook's manual questions (the instructor's side).

    The model answer is the cell's solution region; the rubric is the cell's ``rubric`` metadata, or the part of
    the solution from a paragraph that starts with "Rubric" (``**Rubric (2 points).** ...``)."""
    import nbformat

    import grading_config

    try:
        assignment = grading_config.assignment(assignment_id)
        nb = nbformat.read(grading_config.PATHS.source / assignment.id / assignment.notebook, as_version=4)
    except (KeyError, OSError, ValueError):  # a toy or removed assignment: the page shows the answers alone
        return {}
    found = {}
    for cell in nb.cells:
        if not is_manual_cell(cell):
            continue
        model = cell.source
        if "### BEGIN SOLUTION" in model:
            model = model.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
        rubric = str(cell.metadata.get("rubric") or "")
        marked = _RUBRIC.search(model)
        if marked and not rubric:
            model, rubric = model[:marked.start()], model[marked.start():]
        found[nbgrader_meta(cell)["grade_id"]] = (model.strip(), rubric.strip())
    return found


PAGE_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}.answer{white-space:pre-wrap;"
              "background:#f6f6f6;padding:.8em;border-radius:4px}.model{background:#eef6ee}.rubric{background:#fff6e0}"
              "math[display=block]{margin:.4em 0}")


def _answers_page(grade_id: str, points: float, records: list[dict[str, Any]],
                  model: tuple[str, str] | None = None) -> str:
    """Every student's answer to one manual question, escaped (it is untrusted text), with its LaTeX as MathML,
    after the model answer and the rubric."""
    from mdl_student.i18n import current_language

    no_answer = html.escape(_("no answer"))
    rows = []
    for record in sorted(records, key=lambda r: r["student"]):
        answer = (record.get("manual") or {}).get(grade_id, {}).get("answer", "")
        body = answer_html(answer) if answer.strip() else f"<em>{no_answer}</em>"
        rows.append(f"<section><h2>{html.escape(record['student'])}</h2><div class='answer'>{body}</div></section>")
    reference = ""
    if model:
        model_word, rubric_word = html.escape(_("Model answer")), html.escape(_("Rubric"))
        reference = (f"<h2>{model_word}</h2><div class='answer model'>{answer_html(model[0])}</div>"
                     + (f"<h2>{rubric_word}</h2><div class='answer rubric'>{answer_html(model[1])}</div>"
                        if model[1] else ""))
    title = html.escape(_("{grade_id}: answers").format(grade_id=grade_id))
    heading = html.escape(_("{grade_id} ({points} points): every answer").format(grade_id=grade_id, points=f"{points:g}"))
    # the file and the command in <code>, put into the (escaped) sentence after it is translated
    how = html.escape(_("Grade them in {sheet} (student,grade_id,score,comment), then run {command} to refresh the "
                        "gradebook and the feedback pages. Formulas are drawn by the browser (MathML, converted by "
                        "the grader; no script runs here).")).format(sheet=f"<code>{MANUAL_GRADES}</code>",
                                                                     command="<code>mdl report</code>")
    answers = html.escape(_("Answers"))
    return (
        f"<!doctype html><html lang='{current_language()}'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>{heading}</h1><p>{how}</p>"
        + reference + f"<h2>{answers}</h2>" + "".join(rows) + "</body></html>\n"
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
                target.write_text(inert_notebook(notebook), encoding="utf-8")  # never the student's file as it is
    return db_path


# --------------------------------------------------------------------------- what an instructor's tool may render

MAX_NOTEBOOK_BYTES = 20 * 2**20  # as grading_config's max_notebook_mb: larger ones are not read
MAX_JSON_CONTAINERS = 1_000_000  # "{" and "[" counted in the bytes before parsing: bounds what parsing builds
PASSIVE_OUTPUTS = ("text/plain", "image/png", "image/jpeg", "image/gif")
CLEANED_OUTPUTS = ("text/html", "text/markdown", "text/latex")  # kept, their markup made inert
SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2", "h3", "h4", "h5",
             "h6", "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td",
             "tfoot", "th", "thead", "tr", "u", "ul"}
SAFE_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "width", "height"], "td": ["colspan", "rowspan"],
                   "th": ["colspan", "rowspan"], "*": ["class"]}
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?]")  # any tag's start: an unclosed one would take the page's next ">"
_SCRIPT_URL = re.compile(r"(?i)j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t\s*:")


def inert_notebook(path: Path) -> str:
    """A student's notebook as an instructor's tool (nbgrader's formgrader) may render it: nothing in it runs.

    formgrader renders a submission as HTML in a page of the instructor's Jupyter server, so a stored
    ``application/javascript`` output, a ``<script>`` in an HTML output or a Markdown cell, a widget, or
    a raw cell marked HTML would run with the instructor's session. Kept: code, text, PNG/JPEG/GIF images,
    and HTML, Markdown and LaTeX with only inert markup (bleach's allowlist; ``javascript:`` URLs
    broken); dropped: every other output type, widget state, raw cells' HTML format, attachments
    other than images. A notebook too large to parse within bounds becomes a one-cell note saying so.
    """
    raw = path.read_bytes()[: MAX_NOTEBOOK_BYTES + 1]
    too_big = len(raw) > MAX_NOTEBOOK_BYTES or raw.count(b"{") + raw.count(b"[") > MAX_JSON_CONTAINERS
    try:
        data = None if too_big else json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return json.dumps(_placeholder(path.name), indent=1)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    metadata.pop("widgets", None)
    data["metadata"] = metadata
    data["cells"] = [_inert_cell(cell) for cell in data["cells"] if isinstance(cell, dict)]
    return json.dumps(data, indent=1, ensure_ascii=False)


def _inert_cell(cell: dict[str, Any]) -> dict[str, Any]:
    kind = cell.get("cell_type")
    meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
    if kind == "raw":  # a raw cell marked text/html is copied into the page as it is
        meta = {k: v for k, v in meta.items() if k not in ("format", "raw_mimetype")}
    cell["metadata"] = meta
    if kind in ("markdown", "raw"):
        cell["source"] = _inert_markup(_text(cell.get("source", "")))
    if isinstance(cell.get("attachments"), dict):
        cell["attachments"] = {name: {m: v for m, v in item.items() if m in PASSIVE_OUTPUTS[1:]}
                               for name, item in cell["attachments"].items() if isinstance(item, dict)}
    if kind == "code":
        cell["outputs"] = [_inert_output(o) for o in cell.get("outputs", []) if isinstance(o, dict)]
    return cell


def _inert_output(output: dict[str, Any]) -> dict[str, Any]:
    data = output.get("data")
    if not isinstance(data, dict):
        return output  # stream and error outputs: text, escaped by every renderer
    kept = {m: v for m, v in data.items() if m in PASSIVE_OUTPUTS}
    kept.update({m: _inert_markup(_text(v)) for m, v in data.items() if m in CLEANED_OUTPUTS})
    dropped = sorted(set(data) - set(kept))
    if dropped and "text/plain" not in kept:
        kept["text/plain"] = _("[output not shown: {types} could run in the reader's browser]").format(
            types=", ".join(dropped))
    output["data"] = kept
    output["metadata"] = {m: v for m, v in (output.get("metadata") or {}).items() if m in kept} \
        if isinstance(output.get("metadata"), dict) else {}
    return output


def _inert_markup(markup: str) -> str:
    """Markdown, HTML or LaTeX with its HTML tags through bleach's allowlist and script URLs broken."""
    import bleach

    if _TAG.search(markup):
        markup = bleach.clean(markup, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                              protocols={"http", "https", "mailto", "attachment"}, strip=True, strip_comments=True)
    return _SCRIPT_URL.sub("script-url-removed:", markup)


def _text(source: Any) -> str:
    return source if isinstance(source, str) else "".join(str(s) for s in source) if isinstance(source, list) else ""


def _placeholder(name: str) -> dict[str, Any]:
    note = _("**{name} is not shown here**: it is too large, or not a notebook the grader can read within its "
             "limits, to be made safe to render. Read it in the sandbox if you need to.").format(name=name)
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "id": "not-shown", "metadata": {}, "source": note}]}


def read_nbgrader_manual(db_path: Path, assignment_id: str, notebook_name: str, grade_ids: list[str]) -> dict[tuple[str, str], tuple[float, str]]:
    """``{(student, grade_id): (score, comment)}`` for the manual cells graded in formgrader."""
    if not db_path.is_file():
        raise FileNotFoundError(_("no nbgrader gradebook at {path} (run `mdl formgrader` first)").format(path=db_path))
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
