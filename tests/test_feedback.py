"""DIR/<student>/feedback.html: what a student reads; escaped, hidden tests neutral, cell numbers, statuses."""

import html
import re
import shutil
import subprocess

import nbformat
import pytest

import grading_config
from autograder.cell_map import cell_places, question_cells
from autograder.feedback import NEUTRAL_HIDDEN_FAILED, STATUS_EXPLAINED, feedback_html
from autograder.grade import Bundle
from fixtures.ops_records import case, make_record, write_records

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
SECRET = "expected 0.7310585786300049 at x = 17.25"
VISIBLE_FAILURE = ("❌ Test case failed\nError at line 17 in test q1_affine:\n"
                   "      assert_close(affine(beta, Omega, X), expected)\n"
                   "StudentCodeError: your function affine raised ValueError: shapes (2,3) (2,)")


@pytest.fixture(autouse=True)
def _no_course_extensions(monkeypatch, tmp_path):
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


def _record(**kw):
    cases = {"q1_affine": [case("q1_affine", False, False, VISIBLE_FAILURE),
                           case("q1_affine", True, False, f"❌ Hidden test failed: {SECRET}")],
             "q2_linear_example": [case("q2_linear_example", False, True), case("q2_linear_example", True, True)],
             "q3_triangular": [case("q3_triangular", False, True), case("q3_triangular", True, False, "❌ Hidden test failed (AssertionError)")]}
    return make_record(kw.pop("student", "ana"), {"q1_affine": 0, "q2_linear_example": 2, "q3_triangular": 2},
                       cases=cases, **kw)


def test_scores_and_visible_messages_without_compiled_test_line_numbers():
    page = feedback_html(_record())
    assert "0 / 4" in page and "2 / 2" in page and "2 / 4" in page
    assert "Autograded score" in page and "4 / 10" in page
    assert "your function affine raised ValueError" in page
    assert "check: assert_close(affine(beta, Omega, X), expected)" in page
    assert "Error at line" not in page and "line 17" not in page


def test_hidden_tests_say_passed_or_failed_with_a_neutral_line_only():
    page = feedback_html(_record())
    assert SECRET not in page and "0.7310585786300049" not in page
    assert page.count("Hidden test: failed") == 2 and "Hidden test: passed." in page
    assert NEUTRAL_HIDDEN_FAILED.split(".")[0] in page


def test_a_questions_hidden_cases_are_one_line_counting_the_passed_ones():
    """Three hidden cases, one passed: one line "1 of 3 passed" with the neutral advice once, not three lines."""
    cases = {"q1_affine": [case("q1_affine", False, True), case("q1_affine", True, True),
                           case("q1_affine", True, False, f"❌ Hidden test failed: {SECRET}"),
                           case("q1_affine", True, False, "❌ Hidden test failed (AssertionError)")],
             "q2_linear_example": [case("q2_linear_example", False, True), case("q2_linear_example", True, True),
                                   case("q2_linear_example", True, True)]}
    page = feedback_html(make_record("ana", {"q1_affine": 4 / 3, "q2_linear_example": 2}, cases=cases))
    assert SECRET not in page and "AssertionError" not in page
    assert page.count("Hidden tests: 1 of 3 passed.") == 1 and page.count("inputs you have not seen;") == 1
    assert "Hidden tests: all 2 passed." in page and "Hidden test: failed" not in page
    assert re.search(r"<span class='tag fail'>1/3</span> Hidden tests: 1 of 3", page)


def test_cells_of_a_record_without_headings_keep_their_numbers():
    page = feedback_html(_record())
    assert "your answer: cell 3; its test: cell 4" in page


def test_questions_are_titled_as_the_notebook_titles_them_and_cells_named_by_their_heading():
    record = _record()
    record["titles"] = {"q1_affine": "Q1 (code, 4 points)", "q2_linear_example": "Q2 (numeric, 2 points)"}
    record["cells"]["q1_affine"]["where"] = {"answers": ["the 1st code cell under \u201cQ1 (code, 4 points)\u201d"],
                                             "test": ["the 2nd code cell under \u201cQ1 (code, 4 points)\u201d"]}
    page = feedback_html(record)
    assert "<h3>Q1 (code, 4 points) <span class='qid'>q1_affine</span>" in page
    assert "Q2 (numeric, 2 points)" in page and "<h3>q3_triangular <span" in page  # no title: the id
    assert "your answer: the 1st code cell under \u201cQ1 (code, 4 points)\u201d; its test: the 2nd code cell" in page


def test_the_page_says_the_hidden_tests_carry_the_points():
    page = feedback_html(_record())
    assert "split between its visible test" not in page
    assert "The hidden tests carry the points" in page and "carries none" in page


def test_every_status_is_explained_in_plain_words():
    page = feedback_html(_record(status="timeout", messages=["cell 18: stopped after 30 s (time limit)"]))
    for status, text in STATUS_EXPLAINED.items():
        assert f">{status}<" in page and html.escape(text.split(".")[0]) in page
    assert "cell 18: stopped after 30 s" in page


def test_everything_the_student_controls_is_escaped():
    page = feedback_html(_record(student=HOSTILE, messages=[f"cell 3: NameError: {HOSTILE}"]))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_a_submission_that_never_ran_says_why_once():
    page = feedback_html(make_record("ana", {}, status="invalid-notebook", messages=["the file is empty"]))
    assert "No question was graded (invalid-notebook" in page and "the file is empty" in page
    missing = feedback_html(make_record("bob", {}, status="missing"))
    assert missing.count(STATUS_EXPLAINED["missing"]) == 3  # the summary box, the one sentence, the legend
    assert "Not graded" not in missing and "q3_triangular: 0 / 4" in missing


def test_late_and_manual_questions_appear_with_the_total():
    record = _record(submitted_at=(grading_config.assignment("a1").due.replace(day=6)).isoformat(),
                     manual={"q9_derivation": {"points": 2.0, "answer": "d/dx ..."}})
    page = feedback_html(record)
    assert "hours late" in page and "10 percent of the points taken off" in page
    assert "q9_derivation" in page and "awaiting a grade" in page
    assert "3.6 / 12" in page  # (4 autograded + 0 manual so far) * 0.9, out of 10 + 2


def test_question_cells_point_at_the_answer_and_test_cells_of_a_real_notebook():
    bundle = Bundle.load(grading_config.assignment("a1"))
    nb = nbformat.read(grading_config.PATHS.release / "a1" / "a1.ipynb", as_version=4)
    cells = question_cells(nb.cells, bundle.manifest.questions)
    for question in bundle.manifest.questions:
        located = cells[question["grade_id"]]
        test_cell = nb.cells[located["test"][0] - 1]
        assert test_cell.metadata["nbgrader"]["grade_id"] == question["grade_id"]
        for answer in located["answers"]:
            assert answer < located["test"][0]
            source = nb.cells[answer - 1].source
            assert any(re.search(rf"\b{p}\b", source) for p in question["params"])
    # each cell named as Jupyter shows it: by the heading above it
    titles = bundle.manifest.titles
    assert titles["q1_affine"] == "Q1 (code, 4 points)" and titles["q9_projection_proof"].startswith("Q9")
    places = cell_places(nb.cells)
    q1 = cells["q1_affine"]["test"][0]
    assert places[q1].startswith("the ") and "code cell under \u201cQ1 (code, 4 points)\u201d" in places[q1]
    # a cell inserted at the top shifts every number by one
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("my notes"))
    shifted = question_cells(nb.cells, bundle.manifest.questions)
    assert all(shifted[q]["test"][0] == cells[q]["test"][0] + 1 for q in cells)


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser (Debian package `chromium`); the page was not rendered")


def _chromium(*args: str, user_dir) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={user_dir}", "--hide-scrollbars"]
    return subprocess.run([_browser(), *flags, *args], capture_output=True, text=True, timeout=120)


def test_the_page_renders_in_a_headless_browser_and_runs_no_student_script(tmp_path):
    write_records(tmp_path, [_record(student="ana", messages=[f"cell 3: {HOSTILE}"])])
    page = tmp_path / "ana" / "feedback.html"
    shot = tmp_path / "feedback.png"
    _chromium("--window-size=1000,1400", f"--screenshot={shot}", page.as_uri(), user_dir=tmp_path / "chrome1")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = _chromium("--dump-dom", page.as_uri(), user_dir=tmp_path / "chrome2").stdout
    assert "Autograded score" in dom and "q1_affine" in dom
    assert "<title>Feedback: a1, ana</title>" in dom and "pwned</title>" not in dom


@pytest.mark.slow
def test_mdl_grade_writes_a_feedback_page_for_every_student_without_hidden_test_text(tmp_path):
    from autograder.batch import grade_batch

    examples = grading_config.PATHS.examples / "a1"
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("partial.ipynb", "not_a_notebook.ipynb"):
        shutil.copy(examples / name, subs / name)
    out = tmp_path / "out"
    grade_batch(grading_config.assignment("a1"), subs, out, jobs=1, echo=lambda s: None, progress=False)
    hidden = "\n".join(p.read_text() for p in (grading_config.PATHS.build / "a1" / "tests").glob("*.py"))
    hidden_lines = [l.strip() for l in hidden.splitlines() if l.startswith("        ") and len(l.strip()) > 20]
    for student in ("partial", "not_a_notebook"):
        page = (out / student / "feedback.html").read_text()
        assert "Autograded score" in page
        for line in hidden_lines:
            assert line not in page, f"hidden test text in {student}'s feedback: {line}"
        assert not re.search(r"line \d+ in test", page)
    partial = (out / "partial" / "feedback.html").read_text()
    assert "your answer: the " in partial and "code cell under \u201cQ1 (code, 4 points)\u201d" in partial
    assert "<h3>Q1 (code, 4 points) <span class='qid'>q1_affine</span>" in partial
    assert "No question was graded (invalid-notebook" in (out / "not_a_notebook" / "feedback.html").read_text()
