"""Late work: submission times from every source, due dates with extensions, the configured penalty."""

import datetime as dt
import os
import subprocess

import pytest

import grading_config
from grading_config import LatePolicy
from autograder.late import assess, load_extensions, notebook_time, parse_time, submission_times
from autograder.grade import Submission

A1 = grading_config.assignment("a1")
DUE = A1.due
POLICY = LatePolicy(percent_per_day=10, max_percent=50, grace_minutes=15)


def _at(minutes_after_due: float) -> str:
    return (DUE + dt.timedelta(minutes=minutes_after_due)).isoformat()


@pytest.mark.parametrize("minutes, days, penalty", [
    (-60, 0, 0),              # early
    (10, 0, 0),               # inside the grace period
    (16, 1, 10),              # just past grace: a started day counts
    (24 * 60 + 15, 1, 10),    # one day and the grace period
    (24 * 60 + 16, 2, 20),
    (30 * 24 * 60, 30, 50),   # the cap
])
def test_penalty_is_percent_per_started_day_after_grace_capped(minutes, days, penalty):
    late = assess(_at(minutes), A1, "ana", policy=POLICY, extensions={})
    assert (late.days_late, late.penalty_percent) == (days, penalty)
    assert late.late == (days > 0)


def test_no_submission_time_is_never_late():
    late = assess(None, A1, "ana", policy=POLICY, extensions={})
    assert not late.late and late.penalty_percent == 0
    assert "no submission time" in late.describe()


def test_an_extension_moves_the_due_date_for_that_student_only(tmp_path):
    path = tmp_path / "extensions.csv"
    path.write_text(f"student,assignment,new_due\nana,a1,{(DUE + dt.timedelta(days=3)).isoformat()}\n")
    extensions = load_extensions(path)
    two_days_late = _at(2 * 24 * 60)
    assert assess(two_days_late, A1, "ana", policy=POLICY, extensions=extensions).penalty_percent == 0
    assert assess(two_days_late, A1, "ana", policy=POLICY, extensions=extensions).extended
    assert assess(two_days_late, A1, "ben", policy=POLICY, extensions=extensions).penalty_percent == 20


def test_a_bad_extensions_file_names_its_line(tmp_path):
    path = tmp_path / "extensions.csv"
    path.write_text("student,assignment,new_due\nana,a1,next tuesday\n")
    with pytest.raises(ValueError, match="line 2"):
        load_extensions(path)


def test_times_parse_iso_and_nbgraders_timestamp_format_and_default_to_utc():
    assert parse_time("2027-02-05 17:10:00.000000 UTC") == dt.datetime(2027, 2, 5, 17, 10, tzinfo=dt.timezone.utc)
    assert parse_time("2027-02-05T18:10:00+01:00") == dt.datetime(2027, 2, 5, 17, 10, tzinfo=dt.timezone.utc)
    assert parse_time("2027-02-05T17:10:00Z") == parse_time("2027-02-05T17:10:00")


def test_nbgrader_timestamp_txt_beside_the_notebook(tmp_path):
    folder = tmp_path / "ana" / "a1"
    folder.mkdir(parents=True)
    (folder / "a1.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2027-02-06 09:00:00.000000 UTC")
    assert parse_time(notebook_time(folder / "a1.ipynb")) == dt.datetime(2027, 2, 6, 9, 0, tzinfo=dt.timezone.utc)


def test_classroom_repository_gives_its_last_commit_time(tmp_path):
    repo = tmp_path / "subs" / "ana"
    repo.mkdir(parents=True)
    (repo / "a1.ipynb").write_text("{}")
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "GIT_COMMITTER_DATE": "2027-02-07T12:00:00+00:00",
           "GIT_AUTHOR_DATE": "2027-02-07T12:00:00+00:00"}
    for cmd in (["init", "-q"], ["add", "a1.ipynb"], ["commit", "-q", "-m", "hand in"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env, capture_output=True)
    assert parse_time(notebook_time(repo / "a1.ipynb")) == dt.datetime(2027, 2, 7, 12, 0, tzinfo=dt.timezone.utc)


def test_an_lms_time_list_wins_and_a_bare_folder_has_no_time(tmp_path):
    subs = tmp_path / "subs"
    (subs / "ana" / "a1").mkdir(parents=True)
    (subs / "ana" / "a1" / "a1.ipynb").write_text("{}")
    (subs / "ana" / "a1" / "timestamp.txt").write_text("2027-02-06 09:00:00 UTC")
    (subs / "ben.ipynb").write_text("{}")
    (subs / "cy.ipynb").write_text("{}")
    (subs / "submission_times.csv").write_text("student,submitted_at\nana,2027-02-05T12:00:00Z\nben,2027-02-08T12:00:00Z\n")
    subs_found = [Submission("ana", subs / "ana" / "a1" / "a1.ipynb"), Submission("ben", subs / "ben.ipynb"),
                  Submission("cy", subs / "cy.ipynb")]
    times = submission_times(subs, subs_found)
    assert parse_time(times["ana"]) == dt.datetime(2027, 2, 5, 12, 0, tzinfo=dt.timezone.utc)
    assert "ben" in times and "cy" not in times


@pytest.mark.parametrize("bad_file", ["extensions", "manual_grades"])
def test_a_bad_line_in_an_instructors_file_stops_mdl_grade_before_it_grades(tmp_path, monkeypatch, bad_file):
    """Issue 23, class 6: one bad date used to drop every extension, and the feedback pages were written with
    penalties that should not apply; a bad manual grade dropped every manual grade from them."""
    from autograder.batch import grade_batch

    extensions = tmp_path / "extensions.csv"
    extensions.write_text(f"student,assignment,new_due\nana,a1,{(DUE + dt.timedelta(days=9)).isoformat()}\n"
                          + ("ben,a1,next tuesday\n" if bad_file == "extensions" else ""))
    monkeypatch.setattr("autograder.totals.LATE", LatePolicy(extensions_file=extensions))
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    out.mkdir()
    (subs / "ana.ipynb").write_text((grading_config.PATHS.release / "a1" / "a1.ipynb").read_text())
    (subs / "submission_times.csv").write_text(f"student,submitted_at\nana,{_at(3 * 24 * 60)}\n")
    if bad_file == "manual_grades":
        (out / "manual_grades.csv").write_text("student,grade_id,score,comment\nana,q9_projection_proof,1,5\n")
    with pytest.raises(ValueError, match=f"{bad_file}.csv.* line 3" if bad_file == "extensions" else "manual_grades.csv line 2"):
        grade_batch(A1, subs, out, jobs=1, echo=lambda line: None, progress=False)
    assert not (out / "ana").exists() and not (out / "grades.csv").exists()  # nothing graded, no page written
