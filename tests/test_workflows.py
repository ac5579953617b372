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
    pack = next(s["run"] for s in merge["steps"] if "ci_artifact.sh pack" in str(s.get("run", "")))
    assert "grades.csv" in pack and "feedback.html" in pack and "/report" in pack


def _uploads(workflow):
    return [(job, s) for job, body in workflow["jobs"].items() for s in body["steps"]
            if str(s.get("uses", "")).startswith("actions/upload-artifact")]


def test_grade_workflow_never_uploads_submissions_or_records_readable_from_a_public_repository():
    """Issue 26, item 7: every submission and every record.json was an artifact anyone could download."""
    workflow = _load("grade.yml")
    text = (WORKFLOWS[0].parent / "grade.yml").read_text()
    assert "ARTIFACT_KEY: ${{ secrets.ARTIFACT_KEY }}" in text
    first = workflow["jobs"]["collect"]["steps"][0]["run"]
    assert "visibility" in first and "public" in first and "ARTIFACT_KEY" in first and "exit 1" in first
    for job, step in _uploads(workflow):
        # only packed files (encrypted when ARTIFACT_KEY is set), never a folder of submissions or records
        assert step["with"]["path"].strip().endswith(".tgz*"), (job, step["with"]["path"])
    for job, body in workflow["jobs"].items():
        for step in body["steps"]:
            run = str(step.get("run", ""))
            assert "record.json" not in run and "results.json" not in run
    assert "geekyeggo/delete-artifact" in _steps_text(workflow["jobs"]["merge"])


def test_ci_artifacts_are_encrypted_with_the_key_and_unpack_again(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "ci_artifact.sh"
    (tmp_path / "graded").mkdir()
    (tmp_path / "graded" / "grades.csv").write_text("student,score\nana,30\n")
    env = {"PATH": "/usr/bin:/bin", "ARTIFACT_KEY": "a course secret"}
    subprocess.run(["bash", str(script), "pack", "grades.tgz", "graded"], cwd=tmp_path, env=env, check=True)
    packed = tmp_path / "grades.tgz.enc"
    assert packed.exists() and not (tmp_path / "grades.tgz").exists()
    assert b"ana,30" not in packed.read_bytes()
    (tmp_path / "art").mkdir()
    packed.rename(tmp_path / "art" / packed.name)
    subprocess.run(["bash", str(script), "unpack", "art", "out"], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "out" / "graded" / "grades.csv").read_text() == "student,score\nana,30\n"
    wrong = subprocess.run(["bash", str(script), "unpack", "art", "out2"], cwd=tmp_path,
                           env={**env, "ARTIFACT_KEY": "guess"}, capture_output=True)
    assert not (tmp_path / "out2" / "graded" / "grades.csv").exists() or wrong.returncode != 0


def test_grade_workflow_caches_pip_and_installs_torch_only_for_the_capstone():
    workflow = _load("grade.yml")
    for job in ("grade", "merge"):
        setup = next(s for s in workflow["jobs"][job]["steps"] if "setup-python" in str(s.get("uses", "")))
        assert setup["with"]["cache"] == "pip"
    assert "STUDENT_EXTRAS=" in _steps_text(workflow["jobs"]["grade"])
    plan = next(s["run"] for s in workflow["jobs"]["collect"]["steps"] if s.get("id") == "plan")
    assert ".capstone" in plan and "[capstone]" in plan
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "STUDENT_EXTRAS ?= [capstone]" in makefile and "./student$(STUDENT_EXTRAS)" in makefile


def test_classroom_times_are_githubs_push_record_not_the_commit_date():
    """Issue 23, class 5: the commit date is the student's clock; the folders stripped a1- from a1-bob."""
    collect = _steps_text(_load("grade.yml")["jobs"]["collect"])
    assert "pushedAt" in collect and "%cI" not in collect and "git log" not in collect
    assert 'dest="collected/${PREFIX}submissions"' in collect and '"$dest/${repo}"' in collect


def test_capstone_gpu_sets_up_python_and_the_sandbox_itself():
    job = _load("capstone-gpu.yml")["jobs"]["grade-capstone-gpu"]
    text = _steps_text(job)
    assert "actions/setup-python" in text and "3.11" in text
    assert "bubblewrap" in text and "--profile gpu" in text
