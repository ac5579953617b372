"""DIR/<student>/results.json: one record's results in Gradescope's schema, as Gradescope reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.out_folder import RESULTS_NAME, atomic_write_text
from autograder.records import student_folder


def write_results(record: dict[str, Any], out_dir: Path) -> Path:
    """Write the record's Gradescope results (built when the record was made) next to its record.json."""
    path = student_folder(out_dir, record["student"]) / RESULTS_NAME
    atomic_write_text(path, json.dumps(record["results"], indent=2) + "\n")
    return path
