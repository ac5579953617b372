"""Nothing lost: a grader killed with SIGKILL in the middle of a batch, run again, gives the whole gradebook.

`mdl grade` runs as a subprocess on six submissions; the moment the first
record appears the whole process group (grader, pool workers) gets SIGKILL.
Running the same command again must give exactly the grades.csv of a clean,
uninterrupted run, regrading only what was lost.  A third run keeps
everything (unchanged content and tests); `--force` regrades everything.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading_config import PATHS, ROOT

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "adversarial" / "submissions"
STUDENTS = ["control_full", "control_partial", "monkeypatch_numpy", "os_exit", "sys_exit"]


def mdl_grade(subs: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "autograder", "grade", "a1", str(subs), "--out", str(out), "--jobs", "2", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return output


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/record.json")}


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("resume") / "subs"
    subs.mkdir()
    for name in STUDENTS:
        shutil.copy(CORPUS / f"{name}.ipynb", subs / f"{name}.ipynb")
    shutil.copy(PATHS.release / "a1" / "a1.ipynb", subs / "untouched_release.ipynb")
    return subs


@pytest.fixture(scope="module")
def clean_run(submissions, tmp_path_factory) -> Path:
    """The reference: the same batch, never interrupted."""
    out = tmp_path_factory.mktemp("clean") / "out"
    finish(mdl_grade(submissions, out))
    return out


def test_sigkill_in_the_middle_of_a_batch_then_rerun_gives_the_complete_gradebook(submissions, clean_run, tmp_path):
    killed_out, clean_out = tmp_path / "killed", clean_run
    grader = mdl_grade(submissions, killed_out)
    deadline = time.monotonic() + 300
    while not records(killed_out) and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(0.05)
    os.killpg(grader.pid, signal.SIGKILL)  # the grader and its pool workers, mid-batch
    grader.wait()
    survivors = records(killed_out)
    assert 1 <= len(survivors) < 6, f"the kill should land mid-batch; {len(survivors)} records were written"

    time.sleep(0.5)  # kernels die with their grader (bubblewrap --die-with-parent, PR_SET_PDEATHSIG)
    from test_sandbox import leftover_sandbox_processes

    assert leftover_sandbox_processes() == []

    resumed = finish(mdl_grade(submissions, killed_out))
    assert f"{len(survivors)} submission(s) unchanged since the last run: kept" in resumed

    assert (killed_out / "grades.csv").read_text() == (clean_out / "grades.csv").read_text()
    with (killed_out / "grades.csv").open() as handle:
        assert sorted(r["student"] for r in csv.DictReader(handle)) == sorted([*STUDENTS, "untouched_release"])
    after, clean = records(killed_out), records(clean_out)
    for student, record in clean.items():
        for key in ("status", "score", "scores", "messages", "sha256", "fingerprint"):
            assert after[student][key] == record[key], (student, key)
    for student, record in survivors.items():  # what was written before the kill was kept, not redone
        assert after[student]["seconds"] == record["seconds"]


def test_rerun_keeps_what_did_not_change_and_force_regrades_it(submissions, clean_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean_run, out)
    first = records(out)
    kept = finish(mdl_grade(submissions, out))
    assert "6 submission(s) unchanged since the last run: kept" in kept
    assert records(out) == first

    forced = finish(mdl_grade(submissions, out, "--force"))
    assert "unchanged since the last run" not in forced
    again = records(out)
    assert {s: r["scores"] for s, r in again.items()} == {s: r["scores"] for s, r in first.items()}
    assert all(again[s]["seconds"] != first[s]["seconds"] for s in first), "--force regrades every submission"
