"""Which cells of a student's notebook each question is about, and the answers to its manual questions.

Found while grading (the notebook is at hand then) and kept in the record, so that the feedback page
and the manual grading pages can point at the student's own cells without reading the notebook again.
"""

from __future__ import annotations

import ast
from typing import Any

from autograder.compile_tests import python_source, top_level_bindings
from autograder.notebook_meta import manual_answers


def annotate_for_feedback(outcome: Any, cells: list[Any] | None, manifest: Any) -> None:
    """Keep on the outcome what the feedback page and the manual questions need from the notebook."""
    manual = getattr(manifest, "manual_questions", [])
    answers = manual_answers(cells or [], [q["grade_id"] for q in manual])
    outcome.manual = {q["grade_id"]: {"points": q["points"], "answer": answers[q["grade_id"]]} for q in manual}
    if cells is not None:
        outcome.cells = question_cells(cells, manifest.questions)


def question_cells(cells: list[Any], questions: list[dict[str, Any]]) -> dict[str, dict[str, list[int]]]:
    """For each question, the 1-based cell numbers of the student's notebook it is about.

    ``answers``: the last cells before the test that define a name the test reads; ``test``: the
    notebook's own copy of the question's test cell (matched by grade_id).
    """
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
            for name in _names_bound(cell.get("source", "")):
                defined[name] = index
    for grade_id, question in wanted.items():  # a test cell the student deleted: point at the answers anyway
        located.setdefault(grade_id, {"answers": sorted({defined[p] for p in question["params"] if p in defined}), "test": []})
    return located


def _names_bound(source: Any) -> set[str]:
    try:
        imports, names = top_level_bindings(ast.parse(python_source(source if isinstance(source, str) else "".join(source))))
    except Exception:  # noqa: BLE001  (a student's cell that does not parse defines nothing we can see)
        return set()
    return names | set(imports)
