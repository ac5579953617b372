"""`mdl report DIR`: class statistics, plots, index.html; grades.csv keeps its columns and gains the new ones at the end."""

import csv
import json

import pytest

import grading_config
from autograder.class_report import write_report
from autograder.cli import main
from autograder.gradebook import grades_csv
from fixtures.ops_records import QUESTIONS, make_record, write_records

DUE = grading_config.assignment("a1").due


@pytest.fixture(autouse=True)
def _no_course_extensions(monkeypatch, tmp_path):
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


@pytest.fixture
def graded(tmp_path):
    records = [
        make_record("ana", {"q1_affine": 4, "q2_linear_example": 2, "q3_triangular": 4}),
        make_record("ben", {"q1_affine": 2, "q2_linear_example": 2, "q3_triangular": 0},
                    submitted_at=DUE.replace(day=DUE.day + 1).isoformat()),  # 24 h late: 1 day, 10%
        make_record("cy", {"q1_affine": 4, "q2_linear_example": 0, "q3_triangular": 0}),
        make_record("dee", {}, status="invalid-notebook", messages=["the file is empty"]),
    ]
    return write_records(tmp_path / "out", records)


def test_summary_numbers_are_the_class_statistics(graded):
    _, summary = write_report(graded)
    # autograded totals: 10, 4, 4, 0
    assert summary.students == 4 and summary.mean == 4.5 and summary.median == 4.0
    assert summary.mean_final == pytest.approx((10 + 3.6 + 4 + 0) / 4, abs=1e-3)
    assert summary.statuses == {"ok": 3, "invalid-notebook": 1} and summary.late == 1
    rates = {q.grade_id: q.full_marks_rate for q in summary.questions}
    assert rates == {"q1_affine": 0.5, "q2_linear_example": 0.5, "q3_triangular": 0.25}
    assert [q.grade_id for q in summary.hardest][0] == "q3_triangular"
    visible = {q.grade_id: q.visible_pass_rate for q in summary.questions}
    assert visible["q3_triangular"] == pytest.approx(1 / 3, abs=1e-3)  # of the 3 notebooks whose tests ran


def test_report_folder_has_index_plots_and_summary_linking_everything(graded):
    index, _ = write_report(graded)
    html = index.read_text()
    for png in ("totals.png", "pass_rates.png"):
        data = (graded / "report" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
        assert f'src="{png}"' in html
    for student in ("ana", "ben", "cy", "dee"):
        assert f"href='../{student}/feedback.html'" in html and (graded / student / "feedback.html").exists()
    assert "href='../grades.csv'" in html
    data = json.loads((graded / "report" / "summary.json").read_text())
    assert data["hardest"][0] == "q3_triangular" and data["median"] == 4.0


def test_grades_csv_keeps_its_first_columns_and_appends_late_and_final(graded):
    write_report(graded)
    with (graded / "grades.csv").open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
        handle.seek(0)
        header = next(csv.reader(handle))
    base = ["student", "assignment", "score", "max_score", "status"] + [f"q:{q}" for q in QUESTIONS]
    assert header[:len(base)] == base
    assert header[len(base):] == ["submitted_at", "due", "days_late", "late_penalty_pct", "final_score", "final_max_score"]
    assert rows["ben"]["days_late"] == "1" and rows["ben"]["late_penalty_pct"] == "10" and rows["ben"]["final_score"] == "3.6"
    assert rows["ana"]["final_score"] == "10" and rows["ana"]["submitted_at"] == ""


def test_grades_csv_without_a_folder_is_the_plain_gradebook():
    text = grades_csv([make_record("ana", {"q1_affine": 4})], list(QUESTIONS))
    assert text.splitlines()[0].endswith("q:q3_triangular")


def test_mdl_report_command_and_its_error_for_an_empty_folder(graded, tmp_path, capsys):
    assert main(["report", str(graded)]) == 0
    assert "mean 4.5, median 4" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "no graded submissions" in capsys.readouterr().err


def _run_in_a_terminal(argv, cols=120):
    """Run a command with stdout and stderr on a pseudo-terminal of a given width; its raw output."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_per_student_lines_are_not_written_over_the_progress_bar(tmp_path):
    import sys
    from pathlib import Path

    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("ana", "ben", "cy"):
        (subs / f"{name}.ipynb").write_text("not a notebook")  # refused unread: no kernel, fast
    mdl = str(Path(sys.executable).parent / "mdl")
    output = _run_in_a_terminal([mdl, "grade", "a1", str(subs), "--out", str(tmp_path / "out"), "--jobs", "1"])
    assert "%|" in output, "the progress bar was drawn"
    for name in ("ana", "ben", "cy"):
        line = next(l for l in output.split("\n") if f"{name} " in l and "invalid-notebook" in l and "0/30" in l)
        shown = line.rstrip("\r").split("\r")[-1]  # what the terminal shows once every carriage return is applied
        assert shown.startswith(name), repr(line)


def test_the_terminal_table_keeps_fractional_scores_in_their_columns():
    """Thirds of a point (a question of 3 hidden cases) once ran into the next column: '01.33333'."""
    from autograder.gradebook import table
    from fixtures.ops_records import make_record

    records = [make_record("partial", {"q1_affine": 4 / 3, "q2_linear_example": 0, "q3_triangular": 2 + 2 / 3}),
               make_record("a_long_student_name_here", {"q1_affine": 4, "q2_linear_example": 2, "q3_triangular": 4})]
    lines = table(records, ["q1_affine", "q2_linear_example", "q3_triangular"]).splitlines()
    assert lines[2].split() == ["a_long_student_name_here", "10/10", "ok", "4", "2", "4"]
    partial = lines[3].split()
    assert partial[0] == "partial" and partial[3:] == ["1.33", "0", "2.67"]
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header: columns line up
