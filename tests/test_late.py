"""Late work: submission times from every source, due dates with extensions, the configured penalty."""

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

import grading_config
from grading_config import LatePolicy
from autograder.late import (SOURCE_CANVAS_LATE, SOURCE_COMMIT, SOURCE_NBGRADER, SOURCE_TIMES_FILE, assess,
                              load_extensions, notebook_time, parse_time, submission_times, unmatched_extensions)
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
    when, source = notebook_time(folder / "a1.ipynb", tmp_path)
    assert parse_time(when) == dt.datetime(2027, 2, 6, 9, 0, tzinfo=dt.timezone.utc) and source == SOURCE_NBGRADER


def test_classroom_repository_gives_its_last_commit_time(tmp_path):
    repo = tmp_path / "subs" / "ana"
    repo.mkdir(parents=True)
    (repo / "a1.ipynb").write_text("{}")
    _commit(repo, "2027-02-07T12:00:00+00:00")
    when, source = notebook_time(repo / "a1.ipynb", tmp_path / "subs")
    assert parse_time(when) == dt.datetime(2027, 2, 7, 12, 0, tzinfo=dt.timezone.utc) and source == SOURCE_COMMIT


def _commit(repo, date):
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "hand in"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env, capture_output=True)


def test_a_timestamp_txt_the_student_committed_is_not_believed_and_a_commit_date_is_their_own_word(tmp_path):
    """Issue 23, class 5: a Classroom clone's timestamp.txt (written by the student) made 4 days late on time."""
    repo = tmp_path / "subs" / "ana"
    (repo / "a1").mkdir(parents=True)
    (repo / "a1" / "a1.ipynb").write_text("{}")
    (repo / "a1" / "timestamp.txt").write_text(DUE.strftime("%Y-%m-%d %H:%M:%S UTC"))
    _commit(repo, _at(4 * 24 * 60))
    times = submission_times(tmp_path / "subs", [Submission("ana", repo / "a1" / "a1.ipynb")])
    assert times["ana"]["time_source"] == SOURCE_COMMIT
    late = assess(times["ana"]["submitted_at"], A1, "ana", policy=POLICY, extensions={}, source=SOURCE_COMMIT)
    assert late.days_late == 4 and "the student's own word" in late.describe()


def test_flat_notebooks_inside_the_instructors_repository_get_no_time(tmp_path):
    """Issue 23, class 5: every flat notebook got the course repository's last commit time (all late)."""
    course = tmp_path / "course"
    subs = course / "submissions" / "a1"
    subs.mkdir(parents=True)
    (subs / "ana.ipynb").write_text("{}")
    (course / "grading_config.py").write_text("")
    _commit(course, _at(3 * 24 * 60))
    assert submission_times(subs, [Submission("ana", subs / "ana.ipynb")]) == {}
    subs.joinpath("ben").mkdir()
    (subs / "ben" / "a1.ipynb").write_text("{}")  # a folder that is not a clone of its own either
    assert submission_times(subs, [Submission("ben", subs / "ben" / "a1.ipynb")]) == {}


def test_every_time_names_its_source_in_the_feedback_sentence(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ana.ipynb").write_text("{}")
    (subs / "submission_times.csv").write_text(f"student,submitted_at,source\nana,{_at(60)},GitHub push (pushed_at)\n")
    times = submission_times(subs, [Submission("ana", subs / "ana.ipynb")])
    late = assess(times["ana"]["submitted_at"], A1, "ana", policy=POLICY, extensions={},
                  source=times["ana"]["time_source"])
    assert "GitHub push (pushed_at)" in late.describe() and "submission_times.csv" in late.describe()
    assert "own word" not in late.describe()
    (subs / "submission_times.csv").write_text(f"student,submitted_at\nana,{_at(60)}\n")
    assert submission_times(subs, [Submission("ana", subs / "ana.ipynb")])["ana"]["time_source"] == SOURCE_TIMES_FILE


def test_rows_that_match_no_student_are_warnings_that_name_them(tmp_path, monkeypatch):
    """Issue 26, item 4 and issue 23, class 5: a misspelled or prefixed login lost its time silently."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    (subs / "submission_times.csv").write_text(f"student,submitted_at\nAlice,{_at(60)}\na1-bob,{_at(3 * 24 * 60)}\n")
    warnings = []
    times = submission_times(subs, [Submission("alice", subs / "alice.ipynb")], warn=warnings.append)
    assert "alice" in times  # case is not a different student
    assert len(warnings) == 1 and "'a1-bob'" in warnings[0] and "matches no submission" in warnings[0]
    extensions = tmp_path / "extensions.csv"
    extensions.write_text(f"student,assignment,new_due\nalice,a1,{_at(9000)}\nalcie,a1,{_at(9000)}\nbob,a2,{_at(1)}\n")
    lines = unmatched_extensions(A1, ["alice"], LatePolicy(extensions_file=extensions))
    assert len(lines) == 1 and "'alcie'" in lines[0]


def test_canvas_late_marker_without_a_time_costs_the_policys_first_step():
    """Issue 26, item 4: Canvas's LATE marker gave no penalty."""
    late = assess(None, A1, "ngcarol_1003", policy=POLICY, extensions={}, marked_late=True)
    assert late.late and late.penalty_percent == POLICY.percent_per_day
    assert "LATE" in late.describe() and "first step" in late.describe()
    extended = assess(None, A1, "ngcarol_1003", policy=POLICY, extensions={("ngcarol_1003", "a1"): DUE}, marked_late=True)
    assert extended.penalty_percent == 0
    times = submission_times(Path("/nonexistent"), [Submission("ngcarol_1003", None)], marked_late={"ngcarol_1003"})
    assert times["ngcarol_1003"] == {"submitted_at": None, "time_source": SOURCE_CANVAS_LATE, "lms_late": True}


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
    assert parse_time(times["ana"]["submitted_at"]) == dt.datetime(2027, 2, 5, 12, 0, tzinfo=dt.timezone.utc)
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


def test_grade_yml_classroom_layout_matches_its_times_to_the_logins(tmp_path):
    """Issue 23, class 5: grade.yml's folders stripped a1- while submission_times.csv kept the login, so a login
    a1-bob lost his time and made alice a duplicate. The workflow now writes Classroom's own layout."""
    from autograder.intake import find_submissions

    dest = tmp_path / "collected" / "a1-submissions"  # what grade.yml writes for the prefix a1-
    for repo in ("a1-alice", "a1-a1-bob"):
        (dest / repo).mkdir(parents=True)
        (dest / repo / "a1.ipynb").write_text("{}")
    (dest / "submission_times.csv").write_text(
        f"student,submitted_at,source\nalice,{_at(0)},GitHub's record of the last push (pushed_at)\n"
        f"a1-bob,{_at(3 * 24 * 60)},GitHub's record of the last push (pushed_at)\n")
    warnings = []
    with find_submissions(dest, A1) as intake:
        assert sorted(s.student for s in intake.submissions) == ["a1-bob", "alice"]
        assert all(s.status == "" for s in intake.submissions)
        times = submission_times(intake.root, intake.submissions, warn=warnings.append)
    assert warnings == [] and set(times) == {"alice", "a1-bob"}
    assert "pushed_at" in times["a1-bob"]["time_source"]
    assert assess(times["a1-bob"]["submitted_at"], A1, "a1-bob", policy=POLICY, extensions={}).days_late == 3
