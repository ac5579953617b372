"""`mdl feedback-export DIR --format moodle|canvas|classroom`: feedback pages laid out as each route back accepts.

Moodle's "Upload multiple feedback files in a zip" splits each path at its first four underscores
(<full name>_<participant>_<plugin>_<subplugin>_<file>) and needs the participant number of the
download; Canvas's "Re-Upload Submissions" takes the first all-digit part of a file's name as the
user id. The Classroom script is run against local repositories with a stand-in for `gh`.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile

import pytest

import grading_config
from autograder.cli import main
from autograder.feedback_export import feedback_export
from fixtures.ops_records import make_record, write_records


@pytest.fixture(autouse=True)
def _no_course_extensions(monkeypatch, tmp_path):
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


def _graded(tmp_path, students):
    return write_records(tmp_path / "out", [make_record(s, {"q1_affine": 4}) for s in students])


def moodle_import(zip_path):
    """{participant number: file} as Moodle's feedback zip import reads the paths."""
    found = {}
    for name in zipfile.ZipFile(zip_path).namelist():
        parts = name.split("_", 4)
        assert len(parts) == 5 and parts[2] == "assignsubmission" and parts[3] == "file", name
        found[parts[1]] = parts[4].lstrip("/")
    return found


def test_moodle_zip_has_one_participant_folder_per_student_of_the_download(tmp_path):
    out = _graded(tmp_path, ["Jane_Roe_871", "John_Doe_872", "ana"])  # intake's ids of "Jane Roe_871_assignsubmission_file_"
    lines = []
    path, count = feedback_export(out, "moodle", warn=lines.append)
    assert moodle_import(path) == {"871": "feedback.html", "872": "feedback.html"} and count == 2
    page = zipfile.ZipFile(path).read("Jane Roe_871_assignsubmission_file_/feedback.html").decode()
    assert "Autograded score" in page and "Jane_Roe_871" in page
    assert len(lines) == 1 and "ana" in lines[0] and "participant number" in lines[0]


def test_canvas_zip_names_each_file_by_the_students_canvas_user_id(tmp_path):
    out = _graded(tmp_path, ["doejohn_12345", "ngcarol_1003", "bob"])
    lines = []
    path, _ = feedback_export(out, "canvas", warn=lines.append)
    names = zipfile.ZipFile(path).namelist()
    user_ids = {next(p for p in n.split("_") if re.fullmatch(r"\d+", p)) for n in names}
    assert user_ids == {"12345", "1003"} and all(n.endswith("_feedback.html") for n in names)
    assert len(lines) == 1 and "bob" in lines[0]


def test_classroom_script_puts_each_page_on_a_feedback_branch_of_the_students_repository(tmp_path):
    out = _graded(tmp_path, ["alice", "o'brien"])
    path, count = feedback_export(out, "classroom")
    assert count == 2
    remotes, fake_bin = tmp_path / "remotes" / "course", tmp_path / "bin"
    fake_bin.mkdir()
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@x"}
    for login in ("alice", "o'brien"):
        seed = tmp_path / f"seed-{login}"
        subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
        (seed / "a1.ipynb").write_text("{}")
        subprocess.run(["git", "-C", str(seed), "add", "."], check=True)
        subprocess.run(["git", "-C", str(seed), "commit", "-qm", "hand-in"], check=True, env=git_env)
        subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remotes / f"a1-{login}")], check=True)
    # a stand-in for `gh repo clone OWNER/REPO DIR -- ARGS`: clones the local bare repository
    (fake_bin / "gh").write_text(f'#!/bin/sh\nrepo=$3; dir=$4; shift 5\nexec git clone "$@" "file://{tmp_path}/remotes/$repo" "$dir"\n')
    (fake_bin / "gh").chmod(0o755)
    env = {**git_env, "PATH": f"{fake_bin}:{os.environ['PATH']}", "ORG": "course", "PREFIX": "a1-"}
    run = subprocess.run(["sh", str(path)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    for login in ("alice", "o'brien"):
        shown = subprocess.run(["git", "-C", str(remotes / f"a1-{login}"), "show", "feedback-a1:feedback-a1.html"],
                               capture_output=True, text=True, check=True).stdout
        assert "Autograded score" in shown and f"<b>{login}</b>".replace("'", "&#x27;") in shown


def test_mdl_feedback_export_command(tmp_path, capsys):
    out = _graded(tmp_path, ["Jane_Roe_871"])
    assert main(["feedback-export", str(out), "--format", "moodle"]) == 0
    assert (out / "feedback-moodle.zip").is_file() and "1 student(s)" in capsys.readouterr().out
