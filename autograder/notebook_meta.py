"""What a notebook's cells are, read from their nbgrader metadata: tests, solutions, skipped cells, manual questions.

The one place that reads nbgrader's cell metadata; below ``build``, ``compile_tests``, ``grade`` and
``manual``, and importing none of them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

SKIP_TAG = "skip-when-grading"  # cells students run for themselves (long training jobs, plots)
MAX_ANSWER_CHARS = 20_000  # a manual answer: a derivation fits; a pasted novel is cut (and says so)


def nbgrader_meta(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_test_cell(cell: Any) -> bool:
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_solution_cell(cell: Any) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_skipped_cell(cell: Any) -> bool:
    """Cells the grader does not run: tagged `skip-when-grading` (students run them themselves)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and SKIP_TAG in tags



def is_manual_cell(cell: Any) -> bool:
    """nbgrader's manually graded answer: a Markdown cell that is both graded and a solution."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(meta, dict) and cell.get("cell_type") == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def manual_questions(cells: list[Any], where: str) -> list[dict[str, Any]]:
    """``[{"grade_id", "points"}]`` of the notebook's manual questions; a bad cell is a ValueError naming it."""
    questions = []
    for index, cell in enumerate(cells, start=1):
        if not is_manual_cell(cell):
            continue
        meta = cell["metadata"]["nbgrader"]
        grade_id, points = str(meta.get("grade_id") or ""), meta.get("points")
        if not grade_id.isidentifier():
            raise ValueError(f"{where} cell {index}: a manually graded cell needs a grade_id that is a Python identifier")
        if not isinstance(points, (int, float)) or points <= 0:
            raise ValueError(f"{where} cell {index} ({grade_id}): a manually graded cell needs positive nbgrader points")
        questions.append({"grade_id": grade_id, "points": float(points)})
    return questions


def manual_answers(cells: list[Any], grade_ids: list[str]) -> dict[str, str]:
    """The student's text of each manual question (cut at MAX_ANSWER_CHARS); absent cells give ''."""
    answers = dict.fromkeys(grade_ids, "")
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") if isinstance(cell.get("metadata"), dict) else None
        if cell.get("cell_type") == "markdown" and grade_id in answers:
            source = cell.get("source", "")
            text = source if isinstance(source, str) else "".join(source)
            answers[grade_id] = text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS] + "\n[... cut]"
    return answers


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def heading_of(cell: Any) -> str | None:
    """The last Markdown heading of a cell that is not an answer (``### Q1 (code, 4 points)`` -> its text)."""
    if cell.get("cell_type") != "markdown" or is_solution_cell(cell):
        return None
    found = None
    for line in _source(cell).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            found = text or found
    return found


def question_titles(cells: list[Any]) -> dict[str, str]:
    """``{grade_id: the Markdown heading just before its graded cell}`` (``"Q1 (code, 4 points)"``).

    What the student sees in the notebook above each question; the feedback page names questions by it.
    """
    titles: dict[str, str] = {}
    last: str | None = None
    for cell in cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and meta.get("grade_id") and last:
            titles.setdefault(str(meta["grade_id"]), last[:200])
        last = heading_of(cell) or last
    return titles


# Language editions. One source notebook carries both languages, each release one: a Markdown cell
# tagged ``lang:en`` or ``lang:es`` (cell metadata "tags") belongs to that edition only; untagged
# cells (all code, tests, points, grade ids and shared Markdown) belong to every edition, so a
# submission of either edition grades the same. A translated twin of a locked cell repeats its grade_id.
# English is released at ``release/<a>/<a>.ipynb`` (where it always was), another edition at
# ``release/<a>/<lang>/<a>.ipynb``.

SOURCE_LANGUAGE = "en"
TAG_PREFIX = "lang:"


def lang_tag(lang: str) -> str:
    return TAG_PREFIX + lang


def cell_language(cell: Any) -> str | None:
    """The edition a cell belongs to (``None``: shared by every edition)."""
    tags = cell.get("metadata", {}).get("tags", []) or []
    langs = [t[len(TAG_PREFIX):] for t in tags if isinstance(t, str) and t.startswith(TAG_PREFIX)]
    return langs[0] if langs else None


def languages_of(nb: Any) -> set[str]:
    """The editions a source notebook has: English always, others where it has cells tagged for them."""
    return {SOURCE_LANGUAGE} | {lang for cell in nb.cells if (lang := cell_language(cell))}


def edition(nb: Any, lang: str) -> Any:
    """The notebook a student of ``lang`` reads: the shared cells and those tagged ``lang:<lang>``
    (their language tag dropped, so that both editions' shared cells are identical)."""
    out = copy.deepcopy(nb)
    kept = []
    for cell in out.cells:
        cell_lang = cell_language(cell)
        if cell_lang not in (None, lang):
            continue
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if not str(t).startswith(TAG_PREFIX)]
        if "tags" in cell.get("metadata", {}):
            if tags:
                cell.metadata["tags"] = tags
            else:
                del cell.metadata["tags"]
        kept.append(cell)
    out.cells = kept
    if lang != SOURCE_LANGUAGE:  # the grader answers a submission of this edition in its language
        out.metadata["language_edition"] = lang
    return out


def release_dir(release_root: Path, assignment_id: str, lang: str) -> Path:
    """Where an edition is released: English in release/<a>/, another language in release/<a>/<lang>/."""
    base = release_root / assignment_id
    return base if lang == SOURCE_LANGUAGE else base / lang
