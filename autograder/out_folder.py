"""An ``--out`` folder's files: their names, the names a student id may not take, and atomic writes.

Only the grader process writes there, and every write is atomic (a temporary file in the same
folder, then a rename), so a grader killed at any moment leaves either the old file or the new
one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

GRADES_NAME = "grades.csv"
RECORD_NAME = "record.json"  # DIR/<student>/: everything kept about one graded submission
RESULTS_NAME = "results.json"  # DIR/<student>/: Gradescope's schema
FEEDBACK_NAME = "feedback.html"  # DIR/<student>/: what the student reads
INCOMPLETE_NAME = "INCOMPLETE"  # next to grades.csv while a run has not finished (interrupted, killed)
SHARD_NAME = "shard.json"  # which shard of which assignment an --out folder holds (read by mdl merge)
NBGRADER_DB_NAME = "nbgrader_db.txt"  # the nbgrader gradebook mdl formgrader wrote to (read by report, export)
HANDED_IN_NAME = "handed_in_as.csv"  # login -> the id the download gave (doejane_1234), for the LMS exports

# Names a student id must never take: the grader's own files next to the student folders.
RESERVED_NAMES = {GRADES_NAME, INCOMPLETE_NAME.casefold(), SHARD_NAME, "manual_grades.csv", "extensions.csv",
                  "index.html", "report", "manual", HANDED_IN_NAME, NBGRADER_DB_NAME, FEEDBACK_NAME, RESULTS_NAME, RECORD_NAME}


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
