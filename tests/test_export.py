"""`mdl export DIR --format canvas|moodle|csv`: the columns each LMS imports, one total, no spreadsheet formulas."""

import csv
import io
import re

import pytest

import grading_config
from autograder.cli import main
from autograder.export import export, safe_cell
from autograder.roster import load_roster
from fixtures.ops_records import make_record, write_records

DUE = grading_config.assignment("a1").due
TITLE = "Applied linear algebra"


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
    assert rows[0] == ["ID number", "Email address", "Username", TITLE, "Feedback"]
    late = [r for r in rows if r[2].startswith("'=")][0]
    assert late[3] == "1.8" and "late 1 day(s): -10%" in late[4]


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
    for fmt in ("canvas", "moodle", "csv", "moodle-worksheet"):
        for row in _rows(export(graded, fmt)[0]):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), (fmt, row)


def test_mdl_export_command_writes_the_file_and_refuses_an_unknown_format(graded, capsys):
    assert main(["export", str(graded), "--format", "canvas"]) == 0
    assert (graded / "export-canvas.csv").exists()
    with pytest.raises(SystemExit):
        main(["export", str(graded), "--format", "blackboard"])


# --------------------------------------------------------------------------- imports that match (issue 26, item 2)
# The files below mirror what Canvas and Moodle give an instructor; the checks apply their importers' rules:
# Canvas's gradebook importer matches a student by ID, then SIS User ID, then SIS Login ID, then the exact name,
# and an assignment column by the id in "Title (id)", else by its exact title (anything else is a new column).
# Moodle's assignment worksheet upload matches "Identifier" = "Participant N"; its gradebook CSV import matches
# ID number, email address or username only, and stops at the first row whose user it does not know.

CANVAS_GRADEBOOK = (  # Grades > Export, as Canvas writes it
    "Student,ID,SIS User ID,SIS Login ID,Section,Applied linear algebra (4411),Current Score\n"
    "    Points Possible,,,,,10,(read only)\n"
    "\"Doe, John\",12345,S001,jdoe@uni.example,MDL 101,,\n"
    "\"Roe, Jane\",22222,S002,jane@uni.example,MDL 101,,\n"
    "\"Ng, Carol\",1003,S003,carol@uni.example,MDL 101,,\n")
MOODLE_WORKSHEET = (  # Grading action > Download grading worksheet
    "Identifier,\"Full name\",\"Email address\",Status,Grade,\"Maximum Grade\",\"Grade can be changed\","
    "\"Last modified (submission)\",\"Last modified (grade)\",\"Feedback comments\"\n"
    "\"Participant 871\",\"Jane Roe\",jane@uni.example,\"Submitted for grading\",,10.00,Yes,"
    "\"Friday, 2 October 2026, 11:58 PM\",-,\n"
    "\"Participant 872\",\"John Doe\",jdoe@uni.example,\"Submitted for grading\",,10.00,Yes,"
    "\"Friday, 2 October 2026, 10:00 PM\",-,\n")
MOODLE_USERS = {"username": {"jdoe", "jane", "ngcarol"}, "email": {"jdoe@uni.example", "jane@uni.example"},
                "idnumber": {"S001", "S002", "S003"}}
ROSTER = ("login,name,email,canvas_id,sis_id,sis_login_id\n"
          "jdoe,\"Doe, John\",jdoe@uni.example,12345,S001,jdoe@uni.example\n"
          "jane,\"Roe, Jane\",jane@uni.example,22222,S002,jane@uni.example\n"
          "ngcarol,\"Ng, Carol\",carol@uni.example,,S003,carol@uni.example\n")


def _table(text):
    return list(csv.DictReader(io.StringIO(text)))


def canvas_import(gradebook: str, upload: str) -> tuple[dict[str, str], str | None]:
    """Canvas's gradebook importer, its matching rules only: {canvas user id: grade} and the column it fills."""
    known = [r for r in _table(gradebook) if r["ID"]]
    rows = _table(upload)
    column = [c for c in rows[0] if c not in ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")][0]
    existing = [c for c in _table(gradebook)[0] if c.endswith(")") and c not in ("Current Score",)]
    by_id = re.search(r"\((\d+)\)$", column)
    target = next((c for c in existing if by_id and c.endswith(f"({by_id[1]})") or c.rsplit(" (", 1)[0] == column), None)
    grades = {}
    for row in rows:
        if row["Student"].strip() == "Points Possible":
            continue
        for key in ("ID", "SIS User ID", "SIS Login ID", "Student"):
            match = [k for k in known if row[key] and k[key] == row[key]]
            if match:
                grades[match[0]["ID"]] = row[column]
                break
        else:
            raise AssertionError(f"Canvas matches no student for {row}")
    return grades, target


def _graded_class(tmp_path, students, handed_in_as=None):
    from autograder.batch import keep_handed_in_as

    out = write_records(tmp_path / "out", [make_record(s, {"q1_affine": 4, "q2_linear_example": 2}) for s in students])
    keep_handed_in_as(out, handed_in_as or {})
    return out


def test_canvas_rows_match_every_student_and_the_assignment_column_by_its_canvas_id(tmp_path):
    roster = load_roster(_write(tmp_path / "roster.csv", ROSTER))
    out = _graded_class(tmp_path, ["jdoe", "jane", "ngcarol"])
    path, _ = export(out, "canvas", roster=roster, canvas_assignment_id="4411")
    grades, column = canvas_import(CANVAS_GRADEBOOK, path.read_text())
    assert grades == {"12345": "6", "22222": "6", "1003": "6"}
    assert column == "Applied linear algebra (4411)"


def test_canvas_without_a_roster_takes_the_user_id_from_the_download_and_matches_by_title(tmp_path):
    out = _graded_class(tmp_path, ["doejohn_12345", "ngcarol_1003"])
    lines = []
    path, _ = export(out, "canvas", warn=lines.append)
    grades, column = canvas_import(CANVAS_GRADEBOOK, path.read_text())
    assert grades == {"12345": "6", "1003": "6"} and column == "Applied linear algebra (4411)"
    assert lines == []


def test_a_roster_login_keeps_the_canvas_id_the_download_gave(tmp_path):
    roster = load_roster(_write(tmp_path / "roster.csv", "login,name\njdoe,\"Doe, John\"\n"))
    out = _graded_class(tmp_path, ["jdoe"], {"doejohn_12345": "jdoe"})
    grades, _ = canvas_import(CANVAS_GRADEBOOK, export(out, "canvas", roster=roster)[0].read_text())
    assert grades == {"12345": "6"}


def test_moodle_worksheet_rows_are_the_downloads_participants(tmp_path):
    out = _graded_class(tmp_path, ["Jane_Roe_871", "John_Doe_872", "ana"])  # intake's ids of Moodle's folders
    lines = []
    rows = _table(export(out, "moodle-worksheet", warn=lines.append)[0].read_text())
    assert list(rows[0]) == list(_table(MOODLE_WORKSHEET)[0])
    participants = {r["Identifier"] for r in _table(MOODLE_WORKSHEET)}
    assert {r["Identifier"] for r in rows} == participants
    jane = [r for r in rows if r["Identifier"] == "Participant 871"][0]
    assert jane["Full name"] == "Jane Roe" and jane["Grade"] == "6" and jane["Maximum Grade"] == "10"
    assert re.fullmatch(r"\w+day, \d\d? \w+ \d{4}, \d\d:\d\d [AP]M", jane["Last modified (grade)"])
    assert "autograded 6/10" in jane["Feedback comments"]
    assert len(lines) == 1 and "ana" in lines[0] and "participant number" in lines[0]


def test_moodle_gradebook_rows_match_id_number_email_or_username_and_unknown_students_are_left_out(tmp_path):
    roster = load_roster(_write(tmp_path / "roster.csv", ROSTER))
    out = _graded_class(tmp_path, ["jdoe", "jane", "ngcarol", "stranger"])
    lines = []
    rows = _table(export(out, "moodle", roster=roster, warn=lines.append)[0].read_text())
    for row in rows:  # Moodle would stop at the first row it cannot match
        assert (row["ID number"] in MOODLE_USERS["idnumber"] or row["Email address"] in MOODLE_USERS["email"]
                or row["Username"] in MOODLE_USERS["username"]), row
    assert {r["Username"] for r in rows} == {"jdoe", "jane", "ngcarol"}
    assert len(lines) == 1 and "stranger" in lines[0]


def test_mdl_export_takes_the_roster_and_the_canvas_assignment_id(tmp_path, capsys):
    _write(tmp_path / "roster.csv", ROSTER)
    out = _graded_class(tmp_path, ["jdoe", "jane", "ngcarol"])
    assert main(["export", str(out), "--format", "canvas", "--roster", str(tmp_path / "roster.csv"),
                 "--canvas-assignment-id", "4411"]) == 0
    assert canvas_import(CANVAS_GRADEBOOK, (out / "export-canvas.csv").read_text())[1] == "Applied linear algebra (4411)"


def _write(path, text):
    path.write_text(text)
    return path


def test_mdl_grade_keeps_the_download_ids_a_roster_renamed_so_the_worksheet_still_matches(tmp_path):
    """A Moodle download graded with a roster: rows under logins, the worksheet under the download's participants."""
    from autograder.batch import grade_batch

    subs = tmp_path / "subs"
    for folder in ("Jane Roe_871_assignsubmission_file_", "John Doe_872_assignsubmission_file_"):
        (subs / folder).mkdir(parents=True)
        (subs / folder / "a1.ipynb").write_bytes(b'{"not": "a notebook"}')  # invalid: graded without a kernel
    roster = _write(tmp_path / "roster.csv", "login,name,email\njane,Jane Roe,jane@uni.example\n"
                                               "jdoe,John Doe,jdoe@uni.example\n")
    out = tmp_path / "out"
    grade_batch(grading_config.assignment("a1"), subs, out, jobs=1, echo=lambda s: None, progress=False, roster=roster)
    rows = _table(export(out, "moodle-worksheet", roster=load_roster(roster))[0].read_text())
    assert {(r["Identifier"], r["Full name"], r["Email address"]) for r in rows} == {
        ("Participant 871", "Jane Roe", "jane@uni.example"), ("Participant 872", "John Doe", "jdoe@uni.example")}


def test_mdl_export_counts_the_rows_it_wrote_not_the_students_it_left_out(tmp_path, capsys):
    """A student Moodle cannot match is left out with a warning; the summary line counts what the file holds."""
    _write(tmp_path / "roster.csv", ROSTER)
    out = _graded_class(tmp_path, ["jdoe", "jane", "ngcarol", "stranger"])
    assert main(["export", str(out), "--format", "moodle", "--roster", str(tmp_path / "roster.csv")]) == 0
    captured = capsys.readouterr()
    assert len(_table((out / "export-moodle.csv").read_text())) == 3
    assert "stranger" in captured.err
    assert captured.out.startswith("3 row(s) for moodle")
