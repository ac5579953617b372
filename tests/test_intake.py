"""Intake: every hand-in layout becomes one row per student, named safely; links, duplicates and odd names are reported.

Most tests build a submissions folder (or zip) in a temporary folder and look only at what
``find_submissions`` decides: which students, which notebook each, which status and message.
A few grade end to end (``--student`` regrade, a single notebook as PATH), with notebooks that
need no kernel where the point is the gradebook, not the verdict.
"""

from __future__ import annotations

import csv
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grading_config import LIMITS, PATHS, ROOT, assignment
from autograder import out_folder, safe_text, safe_zip
from autograder.batch import grade_batch
from autograder.intake import IntakeError, find_submissions
from autograder.gradebook import grades_csv
from autograder.safe_text import csv_cell, printable, student_id

A1 = assignment("a1")
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def put(root: Path, relative: str, content: bytes = NOTEBOOK) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def found(path: Path) -> dict[str, object]:
    """student id -> the Submission intake made."""
    with find_submissions(path, A1) as result:
        return {s.student: s for s in result.submissions}


def zip_folder(folder: Path, archive: Path, inside: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, inside + path.relative_to(folder).as_posix())
    return archive


# --------------------------------------------------------------------------- layouts


def test_nbgrader_layout_each_student_folder_holds_the_assignment_folder(tmp_path):
    put(tmp_path, "alice/a1/a1.ipynb")
    put(tmp_path, "alice/a1/timestamp.txt", b"2027-02-01 10:00:00")
    put(tmp_path, "bob/a1/my copy.ipynb")
    put(tmp_path, "carol/a1/notes.txt", b"no notebook")
    put(tmp_path, "dan/a1/first.ipynb")
    put(tmp_path, "dan/a1/second.ipynb")
    subs = found(tmp_path)
    assert subs["alice"].path == tmp_path / "alice/a1/a1.ipynb" and subs["alice"].status == ""
    assert subs["bob"].path.name == "my copy.ipynb" and "renamed" in subs["bob"].note
    assert subs["carol"].status == "missing" and "notes.txt" in subs["carol"].note and "carol/a1/" in subs["carol"].note
    assert subs["dan"].status == "ambiguous" and "first.ipynb" in subs["dan"].note and "second.ipynb" in subs["dan"].note


def test_flat_layout_the_file_name_is_the_student(tmp_path):
    put(tmp_path, "alice.ipynb")
    put(tmp_path, "Bob Smith.IPYNB")
    put(tmp_path, "README.md", b"notes for the grader")
    with find_submissions(tmp_path, A1) as result:
        subs = {s.student: s for s in result.submissions}
        assert set(subs) == {"alice", "Bob_Smith"}
        assert "submitted as 'Bob Smith', graded as Bob_Smith" in subs["Bob_Smith"].note
        assert result.notes == ["2 submission(s) found (flat 2)", "ignored 1 file(s) that are not notebooks: README.md"]


def test_a_folder_per_student_holding_one_notebook_under_any_name(tmp_path):
    put(tmp_path, "alice/homework/linear algebra.ipynb")
    put(tmp_path, "alice/.ipynb_checkpoints/linear algebra-checkpoint.ipynb")  # hidden: not a second notebook
    put(tmp_path, "bob/a1.ipynb")
    put(tmp_path, "bob/scratch.ipynb")  # the one named as the assignment's notebook wins
    put(tmp_path, "carol/solution.py", b"print(1)")
    put(tmp_path, "carol/report.pdf", b"%PDF")
    put(tmp_path, "dan/.keep", b"")
    subs = found(tmp_path)
    assert subs["alice"].path.name == "linear algebra.ipynb" and subs["alice"].status == ""
    assert subs["bob"].path.name == "a1.ipynb"
    assert subs["carol"].status == "missing"
    assert "report.pdf" in subs["carol"].note and "solution.py" in subs["carol"].note
    assert subs["dan"].status == "missing" and "empty" in subs["dan"].note


def test_github_classroom_clones_are_named_by_login(tmp_path):
    classroom = tmp_path / "linear-algebra-submissions"
    put(classroom, "linear-algebra-alice/a1.ipynb")
    put(classroom, "linear-algebra-mary-jane/notebooks/work.ipynb")
    put(classroom, "linear-algebra-mary-jane/.git/HEAD", b"ref: refs/heads/main")
    subs = found(classroom)
    assert set(subs) == {"alice", "mary-jane"}
    assert subs["mary-jane"].path.name == "work.ipynb"
    # Without the -submissions folder the slug is unknown: only a leading "<assignment id>-" is removed.
    other = tmp_path / "class"
    put(other, "a1-alice/a1.ipynb")
    put(other, "b2-bob/a1.ipynb")
    assert set(found(other)) == {"alice", "b2-bob"}
    # The same clones zipped (the zip holds the -submissions folder): the same students.
    archive = tmp_path / "classroom.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(classroom.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(tmp_path).as_posix())
    assert set(found(archive)) == {"alice", "mary-jane"}


def test_a_zip_made_on_windows_with_backslashes_keeps_its_folders(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("alice\\a1\\a1.ipynb", NOTEBOOK)
        z.writestr("bob\\a1\\a1.ipynb", NOTEBOOK)
        z.writestr("__MACOSX/._alice", b"resource fork")
    subs = found(archive)
    assert set(subs) == {"alice", "bob"} and subs["alice"].path.name == "a1.ipynb"


def test_canvas_download_latest_upload_kept_late_marked_others_reported(tmp_path):
    put(tmp_path, "doejohn_12345_67890_a1.ipynb")
    put(tmp_path, "doejohn_LATE_12345_70001_a1-1.ipynb")  # re-uploaded after the due date: the latest
    put(tmp_path, "smithjane_23456_67000_a1.ipynb")
    put(tmp_path, "smithjane_23456_67001_notes.pdf", b"%PDF")
    put(tmp_path, "roejim_34567_text.html", b"<p>I wrote it here</p>")
    put(tmp_path, "obrien_mary_45678_67005_homework.ipynb")  # underscores in the sortable name
    put(tmp_path, "anon_x7Qe2_67100_a1.ipynb")  # anonymous grading
    subs = found(tmp_path)
    assert set(subs) == {"doejohn_12345", "smithjane_23456", "roejim_34567", "obrien_mary_45678", "anon_x7Qe2"}
    john = subs["doejohn_12345"]
    assert john.path.name == "doejohn_LATE_12345_70001_a1-1.ipynb"
    # the marker itself, not the file name quoted in "graded the latest, doejohn_LATE_..." (which passed before)
    assert "Canvas marks this submission LATE" in john.note
    assert "doejohn_12345_67890_a1.ipynb" in john.note and "not graded" in john.note
    assert subs["smithjane_23456"].path.name == "smithjane_23456_67000_a1.ipynb"
    assert subs["roejim_34567"].status == "missing" and "roejim_34567_text.html" in subs["roejim_34567"].note
    assert subs["obrien_mary_45678"].status == "" and subs["anon_x7Qe2"].status == ""


def test_canvas_late_file_alone_gets_the_students_id_and_the_late_mark(tmp_path):
    """Issue 26, item 1: a student whose only file is marked _LATE_ was graded as ngcarol_LATE_1003, unmarked."""
    put(tmp_path, "ngcarol_LATE_1003_70002_a1.ipynb")
    put(tmp_path, "doejohn_12345_67890_a1.ipynb")
    with find_submissions(tmp_path, A1) as result:
        subs = {s.student: s for s in result.submissions}
        assert set(subs) == {"ngcarol_1003", "doejohn_12345"}
        assert "Canvas marks this submission LATE" in subs["ngcarol_1003"].note
        assert result.marked_late == {"ngcarol_1003"}


def test_submission_times_csv_inside_a_zip_is_read_and_reported_as_used(tmp_path):
    """Issue 26, item 4: the times file was reported as "ignored", and inside a zip it was not used at all."""
    folder = tmp_path / "download"
    put(folder, "alice.ipynb")
    put(folder, "notes.txt", b"x")
    put(folder, "submission_times.csv", b"student,submitted_at\nalice,2027-02-01T10:00:00Z\n")
    from autograder.late import submission_times

    for path in (folder, zip_folder(folder, tmp_path / "download.zip")):
        with find_submissions(path, A1) as result:
            assert any("submission times read from submission_times.csv" in n for n in result.notes)
            assert not any("submission_times.csv" in n for n in result.notes if n.startswith("ignored"))
            times = submission_times(result.root, result.submissions)
            assert times["alice"]["submitted_at"].startswith("2027-02-01T10:00")


def test_moodle_download_folders_and_flat_files(tmp_path):
    put(tmp_path, "Jane Doe_1234_assignsubmission_file_/a1.ipynb")
    put(tmp_path, "Jane Doe_1234_assignsubmission_onlinetext_/onlinetext.html", b"<p>see the notebook</p>")
    put(tmp_path, "Bob Roe_5678_assignsubmission_file/work/a1.ipynb")  # Moodle 4: no trailing "_"
    put(tmp_path, "Bob Roe_5678_assignsubmission_file/work/a1 (1).ipynb")  # a second copy: the latest
    put(tmp_path, "Ann Lee_9012_assignsubmission_file_essay.pdf", b"%PDF")
    put(tmp_path, "Zoe Kim_3456_assignsubmission_file_a1.ipynb")
    subs = found(tmp_path)
    assert set(subs) == {"Jane_Doe_1234", "Bob_Roe_5678", "Ann_Lee_9012", "Zoe_Kim_3456"}
    assert subs["Jane_Doe_1234"].path.name == "a1.ipynb" and subs["Jane_Doe_1234"].status == ""
    assert subs["Bob_Roe_5678"].path.name == "a1 (1).ipynb" and "not graded" in subs["Bob_Roe_5678"].note
    assert subs["Ann_Lee_9012"].status == "missing" and "essay.pdf" in subs["Ann_Lee_9012"].note
    assert subs["Zoe_Kim_3456"].status == ""


@pytest.mark.parametrize("wrapped", [False, True], ids=["files at the top", "inside one folder"])
@pytest.mark.parametrize("layout", ["nbgrader", "flat", "canvas", "moodle"])
def test_a_zip_of_any_layout_gives_what_the_folder_gives(tmp_path, layout, wrapped):
    folder = tmp_path / "class"
    files = {
        "nbgrader": ["alice/a1/a1.ipynb", "bob/a1/a1.ipynb"],
        "flat": ["alice.ipynb", "bob.ipynb"],
        "canvas": ["alice_111_901_a1.ipynb", "bob_222_902_a1.ipynb"],
        "moodle": ["Alice A_111_assignsubmission_file_/a1.ipynb", "Bob B_222_assignsubmission_file_/a1.ipynb"],
    }[layout]
    for name in files:
        put(folder, name)
    archive = zip_folder(folder, tmp_path / "submissions.zip", inside="class/" if wrapped else "")
    from_folder = {k: (v.status, v.path.relative_to(folder).as_posix()) for k, v in found(folder).items()}
    with find_submissions(archive, A1) as result:
        root = result.submissions[0].path.parents[len(Path(from_folder[next(iter(from_folder))][1]).parts) - 1]
        from_zip = {s.student: (s.status, s.path.relative_to(root).as_posix()) for s in result.submissions}
        assert all(s.path.read_bytes() == NOTEBOOK for s in result.submissions)
        extracted = result.submissions[0].path
    assert from_zip == from_folder and len(from_zip) == 2
    assert not extracted.exists(), "the extraction is removed when intake is closed"


def test_a_single_notebook_as_path(tmp_path):
    path = put(tmp_path, "alice.ipynb")
    subs = found(path)
    assert list(subs) == ["alice"] and subs["alice"].path == path


# --------------------------------------------------------------------------- nothing to grade


@pytest.mark.parametrize("make", ["empty folder", "only other files", "empty zip", "zip without notebook",
                                  "does not exist", "not a zip"])
def test_nothing_to_grade_is_an_error_not_zero_submissions(tmp_path, make):
    target = tmp_path / "subs"
    if make == "empty folder":
        target.mkdir()
    elif make == "only other files":
        put(target, "notes.txt", b"x")
        put(target, "alice/report.pdf", b"%PDF")
    elif make == "empty zip":
        target = tmp_path / "subs.zip"
        zipfile.ZipFile(target, "w").close()
    elif make == "zip without notebook":
        target = tmp_path / "subs.zip"
        with zipfile.ZipFile(target, "w") as z:
            z.writestr("alice/report.pdf", b"%PDF")
    elif make == "not a zip":
        target = put(tmp_path, "subs.zip", b"this is not a zip archive")
    with pytest.raises(IntakeError) as err:
        find_submissions(target, A1)
    assert "\n" not in str(err.value)
    assert {"empty folder": "it is empty", "only other files": "notes.txt", "empty zip": "it is empty",
            "zip without notebook": "report.pdf", "does not exist": "does not exist",
            "not a zip": "not a readable zip"}[make] in str(err.value)


def test_mdl_grade_of_an_empty_folder_exits_non_zero_with_one_line(tmp_path):
    (tmp_path / "subs").mkdir()
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1", str(tmp_path / "subs"), "--out",
                          str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"mdl grade: error: no notebook (.ipynb) in {tmp_path / 'subs'} (it is empty)"]
    assert not (tmp_path / "out" / "grades.csv").exists()


# --------------------------------------------------------------------------- zips that attack


def test_zip_entries_that_escape_the_folder_refuse_the_whole_zip(tmp_path):
    for name in ["../evil.ipynb", "/etc/evil.ipynb", "alice/../../evil.ipynb", "C:/evil.ipynb"]:
        archive = tmp_path / "subs.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("alice.ipynb", NOTEBOOK)
            z.writestr(name, NOTEBOOK)
        with pytest.raises(IntakeError, match="outside its folder"):
            find_submissions(archive, A1)
        assert not (tmp_path / "evil.ipynb").exists()


def test_a_link_inside_a_zip_gives_its_student_a_refused_row_and_is_never_followed(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("alice.ipynb", NOTEBOOK)
        link = zipfile.ZipInfo("mallory.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, str(PATHS.source / "a1" / "a1.ipynb"))
    subs = found(archive)
    assert subs["alice"].status == ""
    assert subs["mallory"].status == "refused-symlink" and subs["mallory"].path is None


def test_zip_limits_on_count_size_and_notebook_size(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("alice.ipynb", NOTEBOOK)
        z.writestr("bob.ipynb", b"{" + b" " * (LIMITS.max_notebook_mb * 2**20 + 10) + b"}")  # compresses to kB
    subs = found(archive)
    assert subs["alice"].status == ""
    assert subs["bob"].status == "invalid-notebook" and "over the notebook size limit" in subs["bob"].note

    monkeypatch.setattr(safe_zip, "MAX_ZIP_MB", 1)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for k in range(3):
            z.writestr(f"s{k}.ipynb", b"{" + b" " * 600_000 + b"}")
    with pytest.raises(IntakeError, match="expands to more than 1 MB"):
        find_submissions(archive, A1)

    monkeypatch.setattr(safe_zip, "MAX_ZIP_ENTRIES", 5)
    with zipfile.ZipFile(archive, "w") as z:
        for k in range(6):
            z.writestr(f"s{k}.ipynb", NOTEBOOK)
    with pytest.raises(IntakeError, match="holds 6 entries"):
        find_submissions(archive, A1)


# --------------------------------------------------------------------------- links and names


def test_symlinks_anywhere_in_the_submissions_are_refused_not_followed(tmp_path):
    put(tmp_path, "alice.ipynb")
    (tmp_path / "mallory.ipynb").symlink_to(PATHS.source / "a1" / "a1.ipynb")
    (tmp_path / "copycat.ipynb").symlink_to(tmp_path / "alice.ipynb")
    (tmp_path / "eve").symlink_to(PATHS.source)
    put(tmp_path, "trudy/a1/README.txt", b"x")
    (tmp_path / "trudy" / "a1" / "a1.ipynb").symlink_to(PATHS.source / "a1" / "a1.ipynb")
    put(tmp_path, "oscar/notes.txt", b"x")
    (tmp_path / "oscar" / "a1").symlink_to(PATHS.source / "a1")  # nbgrader's <a>/ folder is a link
    subs = found(tmp_path)
    assert subs["alice"].status == ""
    for name in ("mallory", "copycat", "eve", "trudy", "oscar"):
        assert subs[name].status == "refused-symlink", name
        assert subs[name].path is None and "symbolic link" in subs[name].note


def test_names_that_collide_each_get_a_duplicate_row_under_an_id_and_folder_of_their_own(tmp_path):
    put(tmp_path, "alice.ipynb")
    put(tmp_path, "alice..ipynb")  # "alice." -> alice
    put(tmp_path, "Casey.ipynb")
    put(tmp_path, "casey.ipynb")  # differs only in case
    put(tmp_path, "Jos\u00e9.ipynb")
    put(tmp_path, "Jose\u0301.ipynb")  # the same name, decomposed (NFD)
    put(tmp_path, "pat.ipynb")
    put(tmp_path, "pat/a1/a1.ipynb")  # the same student, flat and nbgrader
    subs = found(tmp_path)
    groups = {"alice": 2, "casey": 2, "jos\u00e9": 2, "pat": 2}
    for stem, size in groups.items():
        members = [s for s in subs.values() if s.student.casefold().split(".dup")[0] == stem]
        assert len(members) == size and all(m.status == "duplicate" and m.path is None for m in members), stem
        assert all("2 submissions map to the same student" in m.note for m in members)
    folders = [student_id(s) for s in subs]
    assert len({f.casefold() for f in folders}) == len(subs) == 8, "one output folder per row, even on a case-blind disk"


def test_unusable_names_are_renamed_and_graded_never_crash(tmp_path):
    put(tmp_path, "grades.csv.ipynb")
    put(tmp_path, "INCOMPLETE.ipynb")
    put(tmp_path, "=HYPERLINK(evil).ipynb")
    put(tmp_path, "-rf.ipynb")
    put(tmp_path, "\x1b[2K\r\x1b[32mcontrol_full 30 of 30 ok\x1b[0m.ipynb")
    put(tmp_path, "#?!.ipynb")  # nothing usable left
    os.close(os.open(os.fsencode(tmp_path) + b"/caf\xe9.ipynb", os.O_CREAT | os.O_WRONLY))
    Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.ipynb")).write_bytes(NOTEBOOK)
    subs = found(tmp_path)
    ids = set(subs)
    assert {"_grades.csv", "_INCOMPLETE", "_HYPERLINK_evil_", "_rf", "control_full_30_of_30_ok", "caf_"} <= ids
    assert len(ids) == 7 and any(i.startswith("student-") for i in ids)
    assert all(s.status == "" and s.path is not None for s in subs.values())
    assert "not UTF-8" in subs["caf_"].note
    assert "submitted as 'grades.csv', graded as _grades.csv" in subs["_grades.csv"].note
    for sid in ids:
        assert sid == student_id(sid) and printable(sid, one_line=True) == sid
        assert not sid.startswith((".", "-", "=", "+", "@")) and "/" not in sid


@pytest.mark.parametrize("name", ["alice", "alice.", " alice ", "ALICE", "a/b", "a\\b", "..", ".", "", "\x00x",
                                  "\u202egnp.exe", "x" * 300, "Jos\u0065\u0301", "\udcff\udcfe", "con", "Lpt1.txt",
                                  "grades.csv", "\u0939\u093f\u0928\u094d\u0926\u0940"])
def test_student_ids_are_safe_folder_names_and_stable(name):
    sid = student_id(name)
    assert sid == student_id(sid)
    assert 0 < len(sid) <= safe_text.MAX_ID_LENGTH
    assert sid not in (".", "..") and "/" not in sid and "\\" not in sid and "\x00" not in sid
    assert not sid.startswith((".", "-")) and not sid.endswith((".", " "))
    assert sid.casefold() not in out_folder.RESERVED_NAMES
    sid.encode("utf-8")  # never a lone surrogate


def test_hindi_names_keep_their_vowel_signs():
    assert student_id("\u0939\u093f\u0928\u094d\u0926\u0940") == "\u0939\u093f\u0928\u094d\u0926\u0940"


# --------------------------------------------------------------------------- what reaches a person


def test_printable_removes_escape_sequences_control_characters_and_bidi_marks():
    fake = "\x1b[2K\r\x1b[32mcontrol_full   30/30   ok\x1b[0m\x07\x1b]0;title\x07 \u202eevil\x9b31m"
    assert printable(fake) == "control_full   30/30   ok evil"
    assert printable("line one\nline two\r\n\ttab") == "line one\nline two\n\ttab"
    assert printable("line one\nline two\ttab", one_line=True) == "line one line two tab"
    assert printable("lone \ud800 surrogate") == "lone ? surrogate"
    assert printable("\u00e9\u4e2d\U0001f600 \u200d ok") == "\u00e9\u4e2d\U0001f600 \u200d ok"  # text, not controls


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"])
def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_quote(cell):
    escaped = csv_cell(cell)
    assert escaped.startswith("'") and escaped[1:] == printable(cell, one_line=True)
    assert csv_cell("alice") == "alice" and csv_cell("ok") == "ok"


def test_grades_csv_escapes_every_text_cell(tmp_path):
    record = {"student": "=1+1", "assignment": "@a1", "status": "-ok", "score": 1.0, "max_score": 2.0,
              "scores": {"q1": 1.0}}
    rows = list(csv.reader(grades_csv([record], ["q1"]).splitlines()))
    assert rows[1][:5] == ["'=1+1", "'@a1", "1", "2", "'-ok"]


# --------------------------------------------------------------------------- the grade command


def _invalid(content: bytes = b'{"hello": 1}') -> bytes:
    """A file the grader refuses unread (invalid-notebook): its row costs no kernel."""
    return content


def test_regrading_one_student_keeps_every_other_row(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    put(subs, "ann.ipynb", _invalid())
    put(subs, "bob.ipynb", _invalid())
    put(subs, "cat/a1/notes.txt", b"x")
    first = {r["student"]: r for r in grade_batch(A1, subs, out, jobs=1, echo=lambda s: None, progress=False)}
    assert {s: r["status"] for s, r in first.items()} == {"ann": "invalid-notebook", "bob": "invalid-notebook", "cat": "missing"}
    before = (out / "grades.csv").read_text().splitlines()

    shutil.copy(PATHS.release / "a1" / "a1.ipynb", subs / "ann.ipynb")  # ann resubmits the (blank) release
    put(subs, "bob.ipynb", _invalid(b'{"changed": 2}'))  # bob changed too, but only ann is regraded
    lines: list[str] = []
    after = {r["student"]: r for r in grade_batch(A1, subs, out, jobs=1, echo=lines.append, progress=False, student="ann")}
    assert set(after) == {"ann", "bob", "cat"}
    assert after["ann"]["status"] == "ok" and after["ann"]["sha256"] != first["ann"]["sha256"]
    for name in ("bob", "cat"):
        assert after[name] == first[name]
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0] == before[0] and len(rows) == 4
    assert [r for r in rows if not r.startswith("ann,")] == [r for r in before if not r.startswith("ann,")]
    assert not (out / "INCOMPLETE").exists()

    with pytest.raises(IntakeError, match="no submission of student 'zed'"):
        grade_batch(A1, subs, out, jobs=1, echo=lambda s: None, progress=False, student="zed")


def test_grading_a_single_notebook_and_a_zip_writes_their_rows(tmp_path):
    path = put(tmp_path / "in", "alice.ipynb", _invalid())
    records = grade_batch(A1, path, tmp_path / "out1", jobs=1, echo=lambda s: None, progress=False)
    assert [(r["student"], r["status"]) for r in records] == [("alice", "invalid-notebook")]
    put(tmp_path / "in", "bob/a1/a1.ipynb", _invalid())
    archive = zip_folder(tmp_path / "in", tmp_path / "class.zip")
    records = grade_batch(A1, archive, tmp_path / "out2", jobs=1, echo=lambda s: None, progress=False)
    assert [(r["student"], r["status"]) for r in records] == [("alice", "invalid-notebook"), ("bob", "invalid-notebook")]
    assert (tmp_path / "out2" / "bob" / "results.json").is_file()


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_jobs_below_one_is_an_error(tmp_path, jobs):
    put(tmp_path / "subs", "alice.ipynb", _invalid())
    from autograder.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["grade", "a1", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--jobs", jobs])
    assert stop.value.code == 2
    with pytest.raises(ValueError, match="at least 1"):
        grade_batch(A1, tmp_path / "subs", tmp_path / "out", jobs=0, echo=lambda s: None, progress=False)
    assert not (tmp_path / "out").exists()


def test_the_readme_documents_every_layout_and_status():
    readme = (ROOT / "README.md").read_text()
    for word in ("nbgrader", "flat", "GitHub Classroom", "Canvas", "Moodle", ".zip", "LATE"):
        assert word in readme, word
    for status in ("missing", "ambiguous", "duplicate", "refused-symlink"):
        assert f"`{status}`" in readme, status


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_writes_what_finished_says_incomplete_and_the_next_run_resumes(tmp_path, jobs):
    """Ctrl-C as a terminal sends it: SIGINT to the grader's whole process group (grader and pool workers)."""
    import signal
    import time

    import nbformat

    subs, out = tmp_path / "subs", tmp_path / "out"
    put(subs, "a_bad1.ipynb", _invalid(b'{"k": 1}'))
    put(subs, "a_bad2.ipynb", _invalid(b'{"k": 2}'))
    slow = nbformat.read(PATHS.release / "a1" / "a1.ipynb", as_version=4)
    slow.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(6)"))
    for name in ("z_slow1", "z_slow2"):
        nbformat.write(slow, subs / f"{name}.ipynb")
    command = [sys.executable, "-m", "autograder", "grade", "a1", str(subs), "--out", str(out), "--jobs", jobs]

    # a terminal's grader takes SIGINT; one started in the background by a shell without job control inherits it
    # ignored (and Python then installs no KeyboardInterrupt handler), so the test starts it as a terminal would
    grader = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while not (out / "a_bad2" / "record.json").exists() and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(0.05)
    time.sleep(2.5)  # a slow notebook is now in its kernel
    os.killpg(grader.pid, signal.SIGINT)
    stdout, stderr = grader.communicate(timeout=120)
    assert grader.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.strip().splitlines()[-1].startswith("mdl grade: interrupted: 2 of 4 submission(s) graded")
    assert (out / "INCOMPLETE").is_file()
    with (out / "grades.csv").open() as handle:
        assert sorted(r["student"] for r in csv.DictReader(handle)) == ["a_bad1", "a_bad2"]
    time.sleep(0.5)
    from test_sandbox import leftover_sandbox_processes

    assert leftover_sandbox_processes() == []

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "2 submission(s) unchanged since the last run: kept" in resumed.stdout
    assert not (out / "INCOMPLETE").exists()
    with (out / "grades.csv").open() as handle:
        rows = {r["student"]: r["status"] for r in csv.DictReader(handle)}
    assert rows == {"a_bad1": "invalid-notebook", "a_bad2": "invalid-notebook", "z_slow1": "ok", "z_slow2": "ok"}


# --------------------------------------------------------------------------- zips that break extraction (issue 23, class 6)


@pytest.mark.parametrize("entries", [
    ["bob", "bob/a1.ipynb"],  # a file, then a folder of the same name
    ["bob/a1.ipynb", "bob"],  # a folder, then a file of the same name
    ["/".join(["d" * 250] * 17) + "/a1.ipynb"],  # every name short enough, the path over 4096 bytes
])
def test_a_zip_whose_entries_cannot_be_extracted_stops_mdl_grade_with_one_line(tmp_path, entries):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("alice.ipynb", NOTEBOOK)
        for name in entries:
            z.writestr(name, NOTEBOOK)
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1", str(archive), "--out", str(tmp_path / "out")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdl grade: error: ") and "cannot be extracted" in lines[0], lines
    assert "refused, nothing graded" in lines[0] and len(lines[0]) < 600
    assert not (tmp_path / "out" / "grades.csv").exists()


# --------------------------------------------------------------------------- names that fold or look alike (issue 23, class 7)


def test_names_that_only_a_loose_case_folding_merges_are_two_students(tmp_path):
    """casefold() makes ß "ss": Strauß and Strauss were one id, a duplicate, and neither was graded."""
    put(tmp_path, "Strauß.ipynb")
    put(tmp_path, "Strauss.ipynb")
    put(tmp_path, "Casey.ipynb")
    put(tmp_path, "casey.ipynb")  # what a case-blind disk merges is still one id
    subs = found(tmp_path)
    assert subs["Strauß"].status == "" and subs["Strauss"].status == ""
    assert subs["Strauß"].path.name == "Strauß.ipynb" and subs["Strauss"].path.name == "Strauss.ipynb"
    assert {s.status for name, s in subs.items() if name.lower().startswith("casey")} == {"duplicate"}
    assert safe_text.fold_case("Strauß") != safe_text.fold_case("Strauss")
    assert safe_text.fold_case("CASEY") == safe_text.fold_case("casey")
    assert safe_text.fold_case("Jose\u0301") == safe_text.fold_case("Jos\u00e9")


def test_ids_that_look_alike_are_both_graded_and_flagged(tmp_path):
    put(tmp_path, "\u0430lice.ipynb")  # Cyrillic а
    put(tmp_path, "alice.ipynb")
    put(tmp_path, "\u041delen.ipynb")  # Cyrillic Н
    put(tmp_path, "Helen.ipynb")
    put(tmp_path, "bob.ipynb")
    with find_submissions(tmp_path, A1) as result:
        subs = {s.student: s for s in result.submissions}
        notes = result.notes
    assert set(subs) == {"\u0430lice", "alice", "\u041delen", "Helen", "bob"}
    assert all(s.status == "" and s.path is not None for s in subs.values())
    alike = [n for n in notes if n.startswith("ids that look alike")]
    assert len(alike) == 2
    assert "'\u0430lice' (Cyrillic \u0430)" in " ".join(alike) and "'alice'" in " ".join(alike)
    for sid in ("\u0430lice", "alice", "\u041delen", "Helen"):
        assert "looks like another student's id" in subs[sid].note, sid
    assert "Cyrillic \u0430" in subs["\u0430lice"].note and "alice" not in subs["\u0430lice"].note.replace("\u0430lice", "")
    assert subs["bob"].note == ""
