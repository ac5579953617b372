"""Which cells of a student's notebook each question is about, and the answers to its manual questions.

Found while grading (the notebook is at hand then) and kept in the record, so that the feedback page
and the manual grading pages can point at the student's own cells without reading the notebook again.
"""

from __future__ import annotations

import ast
from typing import Any

from autograder.compile_tests import python_source, top_level_bindings
from autograder.notebook_meta import heading_of, manual_answers

# Parsing student text costs the grader's own process about 400 bytes of memory and 10 us per
# character (a 4 MB cell: 1.7 GB and a minute), so only this much of a notebook is parsed.
MAX_CELL_CHARS = 64 * 1024  # a cell longer than this is not parsed (it defines nothing we can see)
MAX_NOTEBOOK_CHARS = 1024 * 1024  # cells past this much parsed text are not parsed either


def annotate_for_feedback(outcome: Any, cells: list[Any] | None, manifest: Any) -> list[str]:
    """Keep on the outcome what the feedback page and the manual questions need from the notebook.

    Returns notes for the student: the cells too long to be parsed for the feedback's cell numbers.
    """
    outcome.titles = dict(getattr(manifest, "titles", {}) or {})
    manual = getattr(manifest, "manual_questions", [])
    answers = manual_answers(cells or [], [q["grade_id"] for q in manual])
    outcome.manual = {q["grade_id"]: {"points": q["points"], "answer": answers[q["grade_id"]]} for q in manual}
    if cells is None:
        return []
    unread: list[int] = []
    outcome.cells = question_cells(cells, manifest.questions, unread=unread)
    places = cell_places(cells)
    for located in outcome.cells.values():
        located["where"] = {part: [places[i] for i in located[part] if i in places] for part in ("answers", "test")}
    if not unread:
        return []
    shown = ", ".join(str(i) for i in unread[:10]) + (f" and {len(unread) - 10} more" if len(unread) > 10 else "")
    return [f"cell {shown}: too long to be read for the feedback's cell numbers (at most {MAX_CELL_CHARS // 1024} KB "
            f"a cell, {MAX_NOTEBOOK_CHARS // 2**20} MB in all); it still ran and was graded"]


def question_cells(cells: list[Any], questions: list[dict[str, Any]],
                   unread: list[int] | None = None) -> dict[str, dict[str, list[int]]]:
    """For each question, the 1-based cell numbers of the student's notebook it is about.

    ``answers``: the last cells before the test that define a name the test reads; ``test``: the
    notebook's own copy of the question's test cell (matched by grade_id). Code cells over
    ``MAX_CELL_CHARS``, or past ``MAX_NOTEBOOK_CHARS`` in all, are not parsed; their numbers go to ``unread``.
    """
    budget = MAX_NOTEBOOK_CHARS
    defined: dict[str, int] = {}
    located: dict[str, dict[str, list[int]]] = {}
    wanted = {q["grade_id"]: q for q in questions}
    for index, cell in enumerate(cells, start=1):
        meta = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
        grade_id = (meta.get("nbgrader") or {}).get("grade_id") if isinstance(meta.get("nbgrader"), dict) else None
        if grade_id in wanted and cell.get("cell_type") == "code" and (meta.get("nbgrader") or {}).get("grade"):
            params = wanted[grade_id]["params"]
            located[grade_id] = {"answers": sorted({defined[p] for p in params if p in defined}), "test": [index]}
            continue
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = source if isinstance(source, str) else "".join(source)
            if len(source) > MAX_CELL_CHARS or len(source) > budget:
                if unread is not None:
                    unread.append(index)
                continue
            budget -= len(source)
            for name in _names_bound(source):
                defined[name] = index
    for grade_id, question in wanted.items():  # a test cell the student deleted: point at the answers anyway
        located.setdefault(grade_id, {"answers": sorted({defined[p] for p in question["params"] if p in defined}), "test": []})
    return located


def _names_bound(source: str) -> set[str]:
    try:
        imports, names = top_level_bindings(ast.parse(python_source(source)))
    except Exception:  # noqa: BLE001  (a student's cell that does not parse defines nothing we can see)
        return set()
    return names | set(imports)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def cell_places(cells: list[Any]) -> dict[int, str]:
    """Each code cell's place as a student finds it in Jupyter: ``the 2nd code cell under "Q1 (code, 4 points)"``.

    Jupyter numbers no cell (execution counts are absent from a graded notebook and change at every
    run), but it shows the headings: a code cell is named by the Markdown heading above it and its
    rank among the code cells after that heading. Keys are 1-based positions in the notebook.
    """
    places: dict[int, str] = {}
    heading, rank = None, 0
    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            source = source if isinstance(source, str) else "".join(str(s) for s in source)
            text = heading_of({**cell, "source": source[:MAX_CELL_CHARS]})
            if text:
                heading, rank = text[:120], 0
        elif cell.get("cell_type") == "code":
            rank += 1
            places[index] = (f"the {_ordinal(rank)} code cell under \u201c{heading}\u201d" if heading
                             else f"the {_ordinal(rank)} code cell from the top")
    return places
