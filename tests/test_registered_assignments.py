"""Every assignment registered in grading_config.py ships what the suite tests it with (issue 24, item 1).

The parametrised tests (test_build.py, test_examples.py, test_fairness.py) take their assignments
from the registry, not from the files that happen to exist; this test says, by name, which file a
registered assignment lacks, so that deleting one fails here instead of shrinking the suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grading_config import ASSIGNMENTS, PATHS, Assignment


def missing_files(a: Assignment) -> list[str]:
    """What the suite needs for assignment ``a`` and does not find, as paths relative to the repository."""
    examples = PATHS.examples / a.id
    needed: list[Path] = [
        PATHS.source / a.id / a.notebook,  # the build and the solutions' tests
        PATHS.release / a.id / a.notebook,  # what students receive (test_build.py checks it is fresh)
        examples / "expected.json",  # test_examples.py: each example student's status and scores
        examples / "near_zero_effort.ipynb",  # test_fairness.py: earns 0 on every question
    ]
    missing = [str(p.relative_to(PATHS.root)) for p in needed if not p.is_file()]
    if len(list(examples.glob("correct_alt_*.ipynb"))) < 2:  # test_fairness.py: full marks in other forms
        missing.append(f"{(examples / 'correct_alt_*.ipynb').relative_to(PATHS.root)} (at least two)")
    return missing


@pytest.mark.parametrize("a", ASSIGNMENTS, ids=[a.id for a in ASSIGNMENTS])
def test_every_registered_assignment_has_source_release_examples_and_expected_scores(a):
    missing = missing_files(a)
    assert not missing, f"{a.id} is registered in grading_config.py but lacks: {', '.join(missing)}"


@pytest.mark.parametrize("a", ASSIGNMENTS, ids=[a.id for a in ASSIGNMENTS])
def test_expected_scores_name_every_example_notebook(a):
    """An example notebook without an expected row would be graded and checked against nothing."""
    folder = PATHS.examples / a.id
    expected_file = folder / "expected.json"
    if not expected_file.is_file():
        pytest.fail(f"{expected_file.relative_to(PATHS.root)} is missing")
    expected = json.loads(expected_file.read_text())
    notebooks = {p.stem for p in folder.glob("*.ipynb")}
    assert notebooks, f"{folder.relative_to(PATHS.root)} holds no example notebook"
    assert notebooks <= set(expected), f"{a.id}: no expected row for {sorted(notebooks - set(expected))}"
