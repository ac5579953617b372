"""`mdl export DIR --format canvas|moodle|csv`: the columns each LMS imports, one total, no spreadsheet formulas."""

import csv
import io

import pytest

import grading_config
from autograder.cli import main
from autograder.export import export, safe_cell
from fixtures.ops_records import make_record, write_records

DUE = grading_config.assignment("a1").due
TITLE = "Applied linear algebra (a1)"


@pytest.fixture(autouse=True)
def _no_course_extensions(monkeypatch, tmp_path):
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


@pytest.fixture
def graded(tmp_path):
    records = [
        make_record("ana", {"q1_affine": 4, "q2_linear_example": 2, "q3_triangular": 4}),
        make_record("=HYPERLINK(\"http://x\")", {"q1_affine": 2}, submitted_at=DUE.replace(day=DUE.day + 1).isoformat()),
    ]
    return write_records(tmp_path / "out", records)


def _rows(path):
    return list(csv.reader(io.StringIO(path.read_text())))


def test_canvas_has_its_identity_columns_a_points_possible_row_and_the_total(graded):
    path, _ = export(graded, "canvas")
    rows = _rows(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", TITLE]
    assert rows[1][0].strip() == "Points Possible" and rows[1][-1] == "10"
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["ana"][-1] == "10"
    assert by_login["'=HYPERLINK(\"http://x\")"][-1] == "1.8"  # 2 points, 1 day late: -10%


def test_moodle_has_an_identifier_a_grade_and_a_feedback_column(graded):
    rows = _rows(export(graded, "moodle")[0])
    assert rows[0] == ["Username", TITLE, "Feedback"]
    late = [r for r in rows if r[0].startswith("'=")][0]
    assert late[1] == "1.8" and "late 1 day(s): -10%" in late[2]


def test_plain_csv_has_every_part_of_the_total(graded):
    rows = _rows(export(graded, "csv")[0])
    header = rows[0]
    ana = dict(zip(header, [r for r in rows if r[0] == "ana"][0]))
    assert ana["autograded"] == "10" and ana["total"] == "10" and ana["max_total"] == "10" and ana["days_late"] == "0"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+2", "@SUM(A1)"])
def test_cells_that_a_spreadsheet_would_run_are_quoted(text):
    assert safe_cell(text) == "'" + text
    assert safe_cell("ana") == "ana" and safe_cell(3.5) == "3.5"


@pytest.mark.parametrize("text", ["\t=1+1", "\r=1+1", "\x1b[2J=1"])
def test_control_characters_cannot_hide_a_formula(text):
    assert not safe_cell(text).startswith(("\t", "\r", "\x1b", "=", "+", "-", "@"))


def test_no_exported_cell_starts_a_formula(graded):
    for fmt in ("canvas", "moodle", "csv"):
        for row in _rows(export(graded, fmt)[0]):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), (fmt, row)


def test_mdl_export_command_writes_the_file_and_refuses_an_unknown_format(graded, capsys):
    assert main(["export", str(graded), "--format", "canvas"]) == 0
    assert (graded / "export-canvas.csv").exists()
    with pytest.raises(SystemExit):
        main(["export", str(graded), "--format", "blackboard"])
