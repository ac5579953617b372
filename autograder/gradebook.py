"""The gradebook: ``grades.csv`` (autograded, manual, late and final columns) and its terminal table."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from autograder.i18n import _
from autograder.manual import manual_points
from autograder.out_folder import GRADES_NAME, atomic_write_text
from autograder.safe_text import csv_cell, printable
from autograder.totals import extra_cells, extra_header, totals


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
    try:
        rows = totals(records, out_dir)
    except ValueError as err:  # a bad manual_grades.csv or extensions.csv must not stop a grading run
        print(_("warning: {error}; manual grades and extensions are left out of grades.csv until it is fixed").format(
            error=err))
        rows = totals(records, out_dir, manual_grades={}, extensions={})
    return extra_header(list(manual_points(records))), {t.student: extra_cells(t) for t in rows}


def write_gradebook(records: list[dict[str, Any]], question_ids: list[str], out_dir: Path) -> Path:
    """Write DIR/grades.csv (atomically) from the records."""
    path = out_dir / GRADES_NAME
    atomic_write_text(path, grades_csv(records, question_ids, out_dir))
    return path


def _num(value: float) -> str:
    return f"{value:g}" if float(value) != int(value) else str(int(value))


def summary_line(record: dict[str, Any]) -> str:
    """One record as one line of the terminal: student, score, status, seconds, first message."""
    first = printable(record["messages"][0], one_line=True) if record["messages"] else ""
    first = first if len(first) < 90 else first[:87] + "..."
    return (
        f"{printable(record['student'], one_line=True):<24} {_num(record['score']):>6}/{_num(record['max_score']):<6} "
        f"{record['status']:<17} {record['seconds']:6.1f}s  {first}"
    )


def _short(value: float) -> str:
    """A score as the terminal table shows it: at most two decimals (grades.csv keeps every digit)."""
    return _num(round(float(value), 2))


def table(records: list[dict[str, Any]], question_ids: list[str]) -> str:
    """The gradebook as a fixed-width table for the terminal; every column as wide as its widest entry."""
    short = [q.split("_")[0] for q in question_ids]
    student_word, score_word, status_word = _("student"), _("score"), _("status")
    rows = sorted(records, key=lambda r: r["student"])
    names = [printable(r["student"], one_line=True) for r in rows]
    scores = [f"{_short(r['score'])}/{_short(r['max_score'])}" for r in rows]
    cells = [[_short(r["scores"].get(q, 0)) for q in question_ids] for r in rows]
    width = max([len(student_word)] + [len(n) for n in names])
    score_width = max([9, len(score_word)] + [len(s) for s in scores])
    status_width = max([17, len(status_word)] + [len(r["status"]) for r in rows])
    columns = [max([6, len(label) + 1] + [len(row[k]) + 1 for row in cells]) for k, label in enumerate(short)]
    head = (f"{student_word:<{width}} {score_word:>{score_width}}  {status_word:<{status_width}}"
            + "".join(f"{label:>{w}}" for label, w in zip(short, columns)))
    lines = [head, "-" * len(head)]
    for name, score, r, row in zip(names, scores, rows, cells):
        lines.append(f"{name:<{width}} {score:>{score_width}}  {r['status']:<{status_width}}"
                     + "".join(f"{c:>{w}}" for c, w in zip(row, columns)))
    return "\n".join(lines)
