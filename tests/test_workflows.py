"""GitHub Actions workflows: valid against GitHub's workflow schema, and doing what the README says."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(found).exists():
        pytest.skip("check-jsonschema is not installed (it is in the `test` extra: pip install -e '.[test]')")
    return found


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS[0].parent / name).read_text())


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "grade.yml", "capstone-gpu.yml"}


def test_every_workflow_is_valid_under_githubs_schema():
    # the schema is vendored inside check-jsonschema: no network needed; one call checks every file
    done = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    done = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "stepz" in done.stdout


def _steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) + str(step.get("with", "")) for step in job["steps"])


def test_ci_runs_make_test_with_python_311_and_bubblewrap_on_push_and_pull_request():
    ci = _load("ci.yml")
    triggers = ci[True] if True in ci else ci["on"]  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    text = _steps_text(ci["jobs"]["test"])
    assert "actions/setup-python" in text and "3.11" in text
    assert "install -y -qq bubblewrap" in text
    assert "make test" in text


def test_grade_workflow_shards_then_merges_and_uploads_grades_feedback_and_report():
    jobs = _load("grade.yml")["jobs"]
    grade = jobs["grade"]
    assert "shard" in grade["strategy"]["matrix"]
    assert "--shard" in _steps_text(grade) and "strategy.job-total" in _steps_text(grade)
    merge = jobs["merge"]
    assert merge["needs"] == "grade"
    text = _steps_text(merge)
    assert "mdl merge" in text and "mdl report" in text and "mdl export" in text
    uploads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    names = {s["with"]["name"] for s in uploads}
    assert names == {"grades", "feedback", "report"}
    paths = "\n".join(s["with"]["path"] for s in uploads)
    assert "grades.csv" in paths and "feedback.html" in paths and "/report" in paths


def test_capstone_gpu_sets_up_python_and_the_sandbox_itself():
    job = _load("capstone-gpu.yml")["jobs"]["grade-capstone-gpu"]
    text = _steps_text(job)
    assert "actions/setup-python" in text and "3.11" in text
    assert "bubblewrap" in text and "--profile gpu" in text
