"""Gradebook output: one record per submission, grades.csv, Gradescope results.json, a table.

Only the grader process writes here, and every write is atomic (a temporary
file in the same folder, then a rename), so a grader killed at any moment
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from autograder.grade import Outcome

RECORD_NAME = "record.json"
RESULTS_NAME = "results.json"
FEEDBACK_NAME = "feedback.html"
INCOMPLETE_NAME = "INCOMPLETE"  # next to grades.csv while a run has not finished (interrupted, killed)
SHARD_NAME = "shard.json"  # which shard of which assignment an --out folder holds (read by mdl merge)

# Terminal escape sequences (colours, cursor moves, erase-line, window titles, hyperlinks): a student
# name or exception message holding one could redraw the grader's screen ("control_full 30/30 ok").
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlink
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings
    r"|\x1b[ -/]*[0-~]?"  # two-character escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# Control characters (all but newline and tab) and the invisible marks that reorder text (bidi).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile("[\n\t\u2028\u2029]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: object, *, one_line: bool = False) -> str:
    """Student text made safe to show a person: the one filter for the terminal, messages and feedback.

    Escape sequences and control characters are removed (a carriage return could overwrite a line,
    an escape sequence redraw the screen), as are invisible bidi marks; lone surrogates become
    ``?`` so that any file can be written.  ``one_line`` also turns line breaks and tabs into a space.
    """
    text = text if isinstance(text, str) else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n")))
    if one_line:
        return _LINE_BREAK.sub(" ", text)
    return text.replace("\u2028", "\n").replace("\u2029", "\n")


def printable_data(data: Any) -> Any:
    """``data`` (JSON-like) with every string passed through :func:`printable`."""
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable(k) if isinstance(k, str) else k: printable_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [printable_data(v) for v in data]
    return data


def csv_cell(value: object) -> str:
    """A text cell of grades.csv: one printable line, with a leading ``'`` where a spreadsheet
    would read a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return): OWASP's CSV injection advice."""
    text = printable(value, one_line=True)  # a tab or CR becomes a space: the formula may follow it
    return "'" + text if text.lstrip().startswith(_FORMULA_START) else text


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def gradescope_results(outcome: Outcome) -> dict[str, Any]:
    """Gradescope's results.json schema, built by otter's own classes where tests ran."""
    header = f"status: {outcome.status}"
    notes = "\n".join(f"- {m}" for m in outcome.messages)
    output = header + ("\n" + notes if notes else "")
    if outcome.results is not None:
        from otter.run.run_autograder.autograder_config import AutograderConfig

        outcome.results.set_output(output)
        data = outcome.results.to_gradescope_dict(AutograderConfig({"show_hidden": True}))
        data["score"] = outcome.score
    else:
        data = {
            "score": 0.0,
            "output": output,
            "tests": [
                {"name": qid, "score": 0.0, "max_score": pts, "visibility": "visible", "output": f"not graded: {outcome.status}"}
                for qid, pts in outcome.max_scores.items()
            ],
        }
    data["extra_data"] = {"status": outcome.status, "student": outcome.student, "assignment": outcome.assignment,
                          "sandbox": _sandbox()}
    return data


def _sandbox() -> str:
    """Which isolation graded this submission ("bubblewrap" or "process"): kept with every result."""
    from autograder.sandbox import isolation

    return isolation().mechanism


def make_record(outcome: Outcome, fingerprint: str) -> dict[str, Any]:
    """Everything kept about one graded submission; plain data, so it survives a process pool.

    Every string in it is :func:`printable`: student text reaches the terminal, files and feedback only from here.
    """
    return printable_data({
        "student": outcome.student,
        "assignment": outcome.assignment,
        "status": outcome.status,
        "score": outcome.score,
        "max_score": outcome.max_score,
        "scores": outcome.scores,
        "max_scores": outcome.max_scores,
        "messages": outcome.messages,
        "sha256": outcome.sha256,
        "fingerprint": fingerprint,
        "seconds": outcome.seconds,
        "sandbox": _sandbox(),
        "results": gradescope_results(outcome),
        # for the feedback page and the manual questions (autograder.feedback, autograder.manual)
        "cases": case_results(outcome.results),
        "cells": getattr(outcome, "cells", {}),
        "manual": getattr(outcome, "manual", {}),
        "submitted_at": None,  # set by the batch (autograder.late)
    })


def save_record(record: dict[str, Any], out_dir: Path) -> None:
    student_dir = out_dir / _safe_name(record["student"])
    atomic_write_text(student_dir / RESULTS_NAME, json.dumps(record["results"], indent=2) + "\n")
    atomic_write_text(student_dir / RECORD_NAME, json.dumps(record, indent=2) + "\n")
    write_feedback(record, out_dir)


def load_records(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Records already written under out_dir (unreadable ones are ignored and regraded)."""
    records = {}
    if not out_dir.is_dir():
        return records
    for path in sorted(out_dir.glob(f"*/{RECORD_NAME}")):
        try:
            record = json.loads(path.read_text())
            records[record["student"]] = record
        except (OSError, ValueError, KeyError):
            continue
    return records


def _safe_name(student: str) -> str:
    """The student's output folder: the id itself (intake gives every submission a safe, unique one)."""
    from autograder.intake import student_id

    return student_id(student)


def grades_csv(records: list[dict[str, Any]], question_ids: list[str], out_dir: Path | None = None) -> str:
    """The gradebook; with ``out_dir``, the manual, late and final columns follow the q: columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extras = _extra_columns(records, out_dir) if out_dir is not None else ([], {})
    writer.writerow(["student", "assignment", "score", "max_score", "status"] + [f"q:{q}" for q in question_ids] + extras[0])
    for r in sorted(records, key=lambda r: r["student"]):
        writer.writerow(
            [csv_cell(r["student"]), csv_cell(r["assignment"]), _num(r["score"]), _num(r["max_score"]), csv_cell(r["status"])]
            + [_num(r["scores"].get(q, 0.0)) for q in question_ids]
            + extras[1].get(r["student"], [])
        )
    return buffer.getvalue()


def _extra_columns(records: list[dict[str, Any]], out_dir: Path) -> tuple[list[str], dict[str, list[str]]]:
    from autograder.manual import manual_points
    from autograder.totals import extra_cells, extra_header, totals

    try:
        rows = totals(records, out_dir)
    except ValueError as err:  # a bad manual_grades.csv or extensions.csv must not stop a grading run
        print(f"warning: {err}; manual grades and extensions are left out of grades.csv until it is fixed")
        rows = totals(records, out_dir, manual_grades={}, extensions={})
    return extra_header(list(manual_points(records))), {t.student: extra_cells(t) for t in rows}


def write_gradebook(records: list[dict[str, Any]], question_ids: list[str], out_dir: Path) -> Path:
    path = out_dir / "grades.csv"
    atomic_write_text(path, grades_csv(records, question_ids, out_dir))
    return path


def case_results(results: Any) -> dict[str, list[dict[str, Any]]]:
    """Each question's test cases (visible and hidden) as plain data: name, hidden, passed, message."""
    if results is None:
        return {}
    return {
        name: [{"name": r.test_case.name, "hidden": bool(r.test_case.hidden), "passed": bool(r.passed), "message": r.message}
               for r in test_file.test_case_results]
        for name, test_file in results.results.items()
    }


def write_feedback(record: dict[str, Any], out_dir: Path) -> None:
    """The student's feedback page, DIR/<student>/feedback.html (autograder.feedback)."""
    from autograder.feedback import feedback_html

    atomic_write_text(out_dir / _safe_name(record["student"]) / FEEDBACK_NAME, feedback_html(record, out_dir))


def _num(value: float) -> str:
    return f"{value:g}" if float(value) != int(value) else str(int(value))


def summary_line(record: dict[str, Any]) -> str:
    first = printable(record["messages"][0], one_line=True) if record["messages"] else ""
    first = first if len(first) < 90 else first[:87] + "..."
    return (
        f"{printable(record['student'], one_line=True):<24} {_num(record['score']):>6}/{_num(record['max_score']):<6} "
        f"{record['status']:<17} {record['seconds']:6.1f}s  {first}"
    )


def table(records: list[dict[str, Any]], question_ids: list[str]) -> str:
    """The gradebook as a fixed-width table for the terminal."""
    short = [q.split("_")[0] for q in question_ids]
    width = max([len("student")] + [len(r["student"]) for r in records])
    head = f"{'student':<{width}} {'score':>9}  {'status':<17}" + "".join(f"{s:>6}" for s in short)
    lines = [head, "-" * len(head)]
    for r in sorted(records, key=lambda r: r["student"]):
        cells = "".join(f"{_num(r['scores'].get(q, 0)):>6}" for q in question_ids)
        score = f"{_num(r['score'])}/{_num(r['max_score'])}"
        lines.append(f"{printable(r['student'], one_line=True):<{width}} {score:>9}  {r['status']:<17}{cells}")
    return "\n".join(lines)
