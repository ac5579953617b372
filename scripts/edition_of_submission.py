"""A submission of one edition made into the other: `python scripts/edition_of_submission.py a1 es IN.ipynb OUT.ipynb`.

Both editions have the same cells in the same order (a translated cell stands where its twin
stood), so the student's cells (code, answers) are kept and every other Markdown cell, and every
test cell (whose messages and comments a translated edition has in its language), is taken from the
chosen edition's release. Used for the Spanish example submissions and the test that a
submission grades the same in both editions.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.notebook_meta import SOURCE_LANGUAGE, nbgrader_meta, release_dir  # noqa: E402
from grading_config import PATHS, assignment  # noqa: E402


def _translatable(cell: nbformat.NotebookNode) -> bool:
    """A cell an edition words its own way: Markdown the student does not write, and a test cell."""
    meta = nbgrader_meta(cell)
    if meta.get("solution"):
        return False
    return cell.cell_type == "markdown" or bool(meta.get("grade"))


def in_edition(submission: nbformat.NotebookNode, assignment_id: str, lang: str) -> nbformat.NotebookNode:
    a = assignment(assignment_id)
    release = nbformat.read(release_dir(PATHS.release, a.id, lang) / a.notebook, as_version=4)
    english = nbformat.read(release_dir(PATHS.release, a.id, SOURCE_LANGUAGE) / a.notebook, as_version=4)
    by_source = {(c.cell_type, c.source): k for k, c in enumerate(english.cells) if _translatable(c)}
    out = copy.deepcopy(submission)
    for cell in out.cells:
        k = by_source.get((cell.cell_type, cell.source)) if _translatable(cell) else None
        if k is not None:
            cell.source = release.cells[k].source
    if lang != SOURCE_LANGUAGE:
        out.metadata["language_edition"] = lang
    else:
        out.metadata.pop("language_edition", None)
    return out


if __name__ == "__main__":
    a_id, lang, src, dst = sys.argv[1:5]
    nbformat.write(in_edition(nbformat.read(src, as_version=4), a_id, lang), dst)
