"""Manual questions (nbgrader's manual-grade Markdown cells): kept by the build, awaiting in the gradebook,
graded in manual_grades.csv or in nbgrader's formgrader, combined by mdl export."""

import csv
import datetime as dt
import io
import shutil

import nbformat
import pytest

import grading_config
from grading_config import Assignment, Paths
from autograder import build as build_module
from autograder.build import BuildError, check_release_for_leaks, generate_releases
from autograder.compile_tests import compile_notebook, write_bundle
from autograder.export import export
from autograder.manual import MANUAL_GRADES, read_manual_grades, read_nbgrader_manual, sync_to_nbgrader
from autograder.batch import keep_record
from autograder.gradebook import write_gradebook
from autograder.records import load_records
from autograder.totals import totals

FIXTURE = grading_config.PATHS.root / "tests" / "fixtures" / "manual_source.ipynb"
TOY = Assignment("toy", "Toy with a manual question", "toy.ipynb", dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
SOLUTION_LINE = "double(a x + b y) = 2 a x + 2 b y = a double(x) + b double(y): additive and homogeneous."


@pytest.fixture(autouse=True)
def _toy_is_registered(monkeypatch, tmp_path):
    monkeypatch.setattr(grading_config, "ASSIGNMENTS", grading_config.ASSIGNMENTS + (TOY,))
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course folder holding only the toy assignment's source notebook."""
    root = tmp_path / "course"
    (root / "source" / "toy").mkdir(parents=True)
    shutil.copy(FIXTURE, root / "source" / "toy" / "toy.ipynb")
    paths = Paths(root=root, source=root / "source", release=root / "release", build=root / "build")
    monkeypatch.setattr(build_module, "PATHS", paths)
    return paths


def _record(student, auto, answer="my derivation"):
    return {"student": student, "assignment": "toy", "status": "ok", "score": auto, "max_score": 2.0,
            "scores": {"q1_double": auto}, "max_scores": {"q1_double": 2.0}, "messages": [], "sha256": "x",
            "fingerprint": "f", "seconds": 1.0, "sandbox": "bubblewrap", "results": {}, "cases": {}, "cells": {},
            "manual": {"q2_explain": {"points": 3.0, "answer": answer}}, "submitted_at": None}


def test_the_manifest_lists_the_manual_question_apart_from_the_autograded_ones():
    manifest, files = compile_notebook(FIXTURE, "toy")
    assert manifest.manual_questions == [{"grade_id": "q2_explain", "points": 3.0}]
    assert [q["grade_id"] for q in manifest.questions] == ["q1_double"] and set(files) == {"q1_double.py"}
    assert manifest.max_score == 2.0  # autograded points; the manual ones are added by autograder.totals


def test_the_release_keeps_the_manual_cell_without_its_solution(course, tmp_path):
    staged = tmp_path / "staged"
    generate_releases([TOY], staged)
    release = nbformat.read(staged / "toy" / "toy.ipynb", as_version=4)
    manual = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q2_explain"]
    assert len(manual) == 1 and manual[0].cell_type == "markdown"
    assert manual[0].metadata["nbgrader"]["grade"] and manual[0].metadata["nbgrader"]["points"] == 3
    assert "YOUR ANSWER HERE" in manual[0].source and SOLUTION_LINE not in manual[0].source
    check_release_for_leaks(course.source / "toy" / "toy.ipynb", staged / "toy" / "toy.ipynb")


def test_the_leak_check_covers_markdown_answers(course, tmp_path):
    staged = tmp_path / "staged"
    generate_releases([TOY], staged)
    release_path = staged / "toy" / "toy.ipynb"
    release = nbformat.read(release_path, as_version=4)
    release.cells[-1].source = SOLUTION_LINE
    nbformat.write(release, release_path)
    with pytest.raises(BuildError, match="q2_explain"):
        check_release_for_leaks(course.source / "toy" / "toy.ipynb", release_path)


def test_a_manual_cell_without_points_is_a_build_error_naming_it(tmp_path):
    nb = nbformat.read(FIXTURE, as_version=4)
    del nb.cells[-1].metadata["nbgrader"]["points"]
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="cell 5 .q2_explain.*points"):
        compile_notebook(path, "toy")


def test_gradebook_shows_awaiting_then_the_csv_grade_and_export_combines_them(tmp_path, capsys):
    out = tmp_path / "out"
    for record in (_record("ana", 2.0), _record("ben", 1.0)):
        keep_record(record, out)
    from autograder.manual import write_grading_sheets

    write_grading_sheets(list(load_records(out).values()), out)
    write_gradebook(list(load_records(out).values()), ["q1_double"], out)
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}
    assert rows["ana"]["manual:q2_explain"] == "awaiting" and rows["ana"]["final_max_score"] == "5"
    assert "awaiting a grade" in (out / "ana" / "feedback.html").read_text()
    assert "my derivation" in (out / "manual" / "q2_explain.html").read_text()
    # the instructor fills in the sheet mdl grade wrote
    sheet = (out / MANUAL_GRADES).read_text().splitlines()
    assert sheet == ["student,grade_id,score,comment", "ana,q2_explain,,", "ben,q2_explain,,"]
    (out / MANUAL_GRADES).write_text("student,grade_id,score,comment\nana,q2_explain,2.5,\"clear, one step missing\"\nben,q2_explain,,\n")
    path, result = export(out, "csv")
    exported = {r["student"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}
    assert exported["ana"]["manual:q2_explain"] == "2.5" and exported["ana"]["total"] == "4.5"
    assert exported["ben"]["manual:q2_explain"] == "awaiting" and exported["ben"]["manual_awaiting"] == "1"
    assert exported["ana"]["max_total"] == "5"


def test_a_bad_manual_grade_is_refused_with_its_line(tmp_path):
    sheet = tmp_path / MANUAL_GRADES
    sheet.write_text("student,grade_id,score,comment\nana,q2_explain,4,\n")
    with pytest.raises(ValueError, match="line 2: score 4 is outside 0..3"):
        read_manual_grades(sheet, {"q2_explain": 3.0})
    sheet.write_text("student,grade_id,score,comment\nana,q9_nope,1,\n")
    with pytest.raises(ValueError, match="not a manual question"):
        read_manual_grades(sheet, {"q2_explain": 3.0})


def test_formgrader_route_nbgrader_gradebook_holds_one_combined_grade(tmp_path):
    from autograder.manual import _gradebook

    out, course = tmp_path / "out", tmp_path / "nbgrader-course"
    records = [_record("ana", 2.0), _record("ben", 1.0)]
    for record in records:
        keep_record(record, out)
    notebook = tmp_path / "ana.ipynb"
    shutil.copy(FIXTURE, notebook)
    db = sync_to_nbgrader("toy", "toy.ipynb", records, FIXTURE, course, {"ana": notebook})
    assert (course / "autograded" / "ana" / "toy" / "toy.ipynb").exists()
    with _gradebook(db) as gb:
        submission = gb.find_submission("toy", "ana")
        assert submission.score == pytest.approx(2.0) and submission.max_score == pytest.approx(5.0)
        assert submission.needs_manual_grade  # only the manual cell waits
        manual = gb.find_grade("q2_explain", "toy", "toy", "ana")
        assert manual.needs_manual_grade and manual.auto_score is None
        assert not gb.find_grade("q1_double", "toy", "toy", "ana").needs_manual_grade
        # what formgrader does when the instructor types a score
        manual.manual_score = 3.0
        manual.needs_manual_grade = False
        gb.db.commit()
        assert gb.find_submission("toy", "ana").score == pytest.approx(5.0)
    # syncing again (a regrade) keeps the instructor's manual score
    sync_to_nbgrader("toy", "toy.ipynb", records, FIXTURE, course)
    assert read_nbgrader_manual(db, "toy", "toy.ipynb", ["q2_explain"]) == {("ana", "q2_explain"): (3.0, "")}
    rows = {t.student: t for t in totals(records, out, db)}
    assert rows["ana"].final == 5.0 and rows["ben"].awaiting == ["q2_explain"]


@pytest.mark.slow
def test_grading_keeps_the_students_manual_answer_and_scores_the_rest(course, tmp_path):
    from autograder.grade import Bundle, Submission, grade_submission

    manifest = write_bundle(course.source / "toy" / "toy.ipynb", "toy", course.build / "toy")
    bundle = Bundle(TOY, manifest, course.build / "toy" / "tests", {})
    nb = nbformat.read(FIXTURE, as_version=4)
    nb.cells[1].source = "def double(x):\n    return x + x"
    nb.cells[4].source = "It is $x \\mapsto 2x$, a matrix <b>times</b> a vector."
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    outcome = grade_submission(Submission("ana", path), bundle)
    assert outcome.status == "ok" and outcome.scores == {"q1_double": 2.0}
    assert outcome.manual == {"q2_explain": {"points": 3.0, "answer": nb.cells[4].source}}


@pytest.mark.slow
def test_a1s_manual_question_is_awaiting_for_every_example_student(graded_class):
    """A1 ends with a manual question (q9_projection_proof, 2 points): the example class shows it awaiting."""
    graded = graded_class("a1")
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((graded.out / "grades.csv").read_text()))}
    for student, want in graded.expected.items():
        for grade_id, state in want["manual"].items():
            assert rows[student][f"manual:{grade_id}"] == state, student
        assert rows[student]["final_max_score"] == "32" and rows[student]["max_score"] == "30"
    sheet = list(csv.DictReader(io.StringIO((graded.out / MANUAL_GRADES).read_text())))
    assert {(r["student"], r["grade_id"]) for r in sheet} == {(s, "q9_projection_proof") for s in graded.expected}
    assert (graded.out / "manual" / "q9_projection_proof.html").exists()


@pytest.mark.parametrize("row, why", [
    ("ana,q2_explain,1,5", "looks like the decimal 1,5"),  # a decimal comma: 1 point and the comment "5"?
    ("ana,q2_explain,1,5,good", "5 fields where the header has 4"),
    ("ana,q2_explain,1_5,", "not a number like 2 or 1.5"),  # Python reads 15
    ("ana,q2_explain,1e0,", "not a number like 2 or 1.5"),
    ("ana,q2_explain,nan,", "not a number like 2 or 1.5"),
    ("ana,q2_explain,-0,", "not a number like 2 or 1.5"),
])
def test_a_manual_grade_whose_fields_or_number_are_doubtful_is_refused_naming_file_and_line(tmp_path, row, why):
    sheet = tmp_path / MANUAL_GRADES
    sheet.write_text(f"student,grade_id,score,comment\nben,q2_explain,2,fine\n{row}\n")
    with pytest.raises(ValueError, match=f"{MANUAL_GRADES} line 3: .*{why}"):
        read_manual_grades(sheet, {"q2_explain": 3.0})


def test_plain_scores_and_quoted_comments_with_commas_are_read(tmp_path):
    sheet = tmp_path / MANUAL_GRADES
    sheet.write_text('student,grade_id,score,comment\nana,q2_explain,1.5,"good, but see (b)"\n'
                     'ben,q2_explain,.5,\ncy,q2_explain,2,see 3\n')
    assert read_manual_grades(sheet, {"q2_explain": 3.0}) == {
        ("ana", "q2_explain"): (1.5, "good, but see (b)"), ("ben", "q2_explain"): (0.5, ""),
        ("cy", "q2_explain"): (2.0, "see 3")}


@pytest.mark.slow
def test_formgrader_gets_notebooks_whose_stored_outputs_and_cells_run_nothing(tmp_path):
    """Issue 23, class 8: formgrader renders submissions in the instructor's Jupyter session; a stored script
    output (the corpus's stored_active_outputs: each script sets the title to PWNED) must arrive inert."""
    import re

    from nbconvert import HTMLExporter

    a1 = grading_config.assignment("a1")
    corpus = grading_config.PATHS.root / "tests" / "adversarial" / "submissions" / "stored_active_outputs.ipynb"
    record = {"student": "mallory", "assignment": "a1", "scores": {"q1_affine": 4.0}}
    sync_to_nbgrader("a1", a1.notebook, [record], grading_config.PATHS.source / "a1" / a1.notebook,
                     tmp_path / "course", {"mallory": corpus})
    copied = tmp_path / "course" / "autograded" / "mallory" / "a1" / a1.notebook
    text = copied.read_text()
    assert "PWNED" in corpus.read_text()
    for active in ("<script", "onerror", "javascript:"):
        assert active not in text, active
    nb = nbformat.reads(text, as_version=4)
    passive = {"text/plain", "image/png", "image/jpeg", "image/gif", "text/html", "text/markdown", "text/latex"}
    assert all(set(o.get("data", {})) <= passive for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "widgets" not in nb.metadata and all("raw_mimetype" not in c.metadata for c in nb.cells)
    assert all(m != "image/svg+xml" for c in nb.cells for item in c.get("attachments", {}).values() for m in item)
    kept = nbformat.read(corpus, as_version=4)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [c.source for c in kept.cells if c.cell_type == "code"]
    outputs = next(c for c in nb.cells if c.get("id") == "active-outputs").outputs
    assert [sorted(o.data) for o in outputs] == [["text/plain"], ["text/html", "text/plain"], ["text/plain"],
                                                 ["text/plain"], ["text/latex"]]
    assert "<b>table</b>" in outputs[1].data["text/html"] and "My notes" in text
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)  # as formgrader renders it
    scripts = " ".join(re.findall(r"(?is)<script\b.*?</script>", page))
    assert "PWNED" not in scripts
    assert not re.search(r"(?i)\bon\w+\s*=\s*[\"']?[^\"'>]*PWNED", page) and "javascript:document" not in page


def test_the_nbgrader_gradebook_is_remembered_so_report_and_export_need_no_option(tmp_path):
    """Issue 26, item 5: without --nbgrader-db every time, formgrader's grades went back to 'awaiting'."""
    from autograder.manual import _gradebook
    from autograder.totals import remember_nbgrader_db

    out, course = tmp_path / "out", tmp_path / "nbgrader-course"
    records = [_record("ana", 2.0)]
    for record in records:
        keep_record(record, out)
    db = sync_to_nbgrader("toy", "toy.ipynb", records, FIXTURE, course)
    with _gradebook(db) as gb:
        manual = gb.find_grade("q2_explain", "toy", "toy", "ana")
        manual.manual_score, manual.needs_manual_grade = 3.0, False
        gb.db.commit()
    assert totals(records, out)[0].awaiting == ["q2_explain"]  # nothing remembered yet
    remember_nbgrader_db(out, db)
    assert totals(records, out)[0].final == 5.0 and totals(records, out)[0].awaiting == []
    db.rename(db.with_name("moved.db"))  # a gradebook that is gone stops the run, naming it
    with pytest.raises(ValueError, match="nbgrader_db.txt names nbgrader's gradebook .*gradebook.db, which is not there"):
        totals(records, out)


def test_the_manual_page_draws_latex_as_mathml_and_shows_the_model_answer_and_the_rubric(tmp_path):
    """Issue 26, item 5: the page showed LaTeX raw (its CSP blocks MathJax) and no model answer."""
    from autograder.manual import write_grading_sheets

    answer = ("Since $\\mathbf P^2 = \\mathbf P$, it is a projection.\n$$\\frac{a}{b}$$\n"
              "$\\href{javascript:alert(1)}{x}$ and $\\text{<script>alert(2)</script>}$ and $\\notacommand{$")
    record = {**_record("ana", 2.0), "assignment": "a1",
              "manual": {"q9_projection_proof": {"points": 2.0, "answer": answer}}}
    write_grading_sheets([record], tmp_path)
    page = (tmp_path / "manual" / "q9_projection_proof.html").read_text()
    student = page.split("<h2>Answers</h2>")[1]
    assert student.count("<math") == 4 and "<mfrac>" in student and "$$" not in student
    assert "<script" not in page and "javascript:" not in page and "href" not in page
    assert "default-src 'none'" in page
    model = page.split("<h2>Model answer</h2>")[1].split("<h2>Answers</h2>")[0]
    assert "<math" in model and "invertible" in model  # A1's Q9 solution, from the source notebook


def test_a_rubric_paragraph_of_the_solution_is_shown_apart_from_the_model_answer():
    from autograder.manual import model_answers

    models = model_answers("a3")
    model, rubric = models["q4_sigmoid_with_cross_entropy"]
    assert rubric.startswith("**Rubric (2 points).**") and "Rubric" not in model and model
