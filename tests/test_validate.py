"""`mdl validate` and its generated students: a weak test is found before a student finds it (issue 21).

A toy assignment of three questions (a function, a value, a symbolic answer) whose tests meet the
rule: every generated wrong student earns 0 and every correct form full marks. The same toy with one
hidden test weakened to check only a shape fails validation, naming the question and the students
that earned points. The answer forms themselves are checked on their own, quickly.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import sympy as sp

from grading_config import assignment
from autograder import answer_forms
from autograder.compile_tests import write_bundle
from autograder.grade import Bundle
from autograder.validate import validate

SETUP = "import numpy as np\nimport sympy as sp\nx = sp.Symbol('x', positive=True)"
ANSWERS = {
    "scale_answer": 'def scale(v):\n    """Twice v, as a float array."""\n    ### BEGIN SOLUTION\n'
                    "    return 2 * np.asarray(v, dtype=float)\n    ### END SOLUTION",
    "total_answer": "### BEGIN SOLUTION\ntotal = float(np.sum([1.5, 2.5, 2.0]))\n### END SOLUTION",
    "expr_answer": "### BEGIN SOLUTION\nexpr = (x + 1) ** 2\n### END SOLUTION",
}
SCALE_HIDDEN = ("assert_function_matches(scale, lambda v: 2 * v, "
                "lambda rng: (rng.normal(size=int(rng.integers(1, 6))),), n=5, seed=3)")
TESTS = {
    "q1_scale": ("from mdl_student.checks import assert_close, assert_function_matches, assert_shape\n"
                 "assert_close(scale(np.array([1.0, 2.0])), [2.0, 4.0], name='scale([1, 2])')", SCALE_HIDDEN),
    "q2_total": ("from mdl_student.checks import assert_close, assert_shape\n"
                 "assert_shape(total, (), name='total')  # a number; its value is not given away",
                 "assert_close(total, 6.0, name='total')"),
    "q3_expr": ("import sympy as sp\nfrom mdl_student.checks import assert_close, assert_equivalent, value_at\n"
                "assert_close(value_at(expr, {'x': 1}, name='expr'), 4, name='expr at x = 1')",
                "assert_equivalent(expr, (sp.Symbol('x', positive=True) + 1) ** 2, name='expr')"),
}


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def _toy(folder: Path, hidden: dict[str, str] | None = None,
         visible: dict[str, str] | None = None) -> tuple[Path, Path, Bundle]:
    """The toy's source, its release (solutions stubbed, hidden tests cut, as nbgrader makes it) and its bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    cells = [_cell(SETUP, grade=False, solution=False, locked=True, grade_id="setup")]
    for (answer_id, answer), (test_id, (visible_code, default_hidden)) in zip(ANSWERS.items(), TESTS.items()):
        cells.append(_cell(answer, grade=False, solution=True, locked=False, grade_id=answer_id))
        hidden_code = (hidden or {}).get(test_id, default_hidden)
        visible_code += (visible or {}).get(test_id, "")
        cells.append(_cell(f"{visible_code}\n### BEGIN HIDDEN TESTS\n{hidden_code}\n### END HIDDEN TESTS",
                           grade=True, solution=False, locked=True, points=2, grade_id=test_id))
    source = nbformat.v4.new_notebook(cells=cells)
    release = nbformat.reads(nbformat.writes(source), as_version=4)
    for cell in release.cells:
        cell.source = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "raise NotImplementedError()", cell.source,
                             flags=re.S)
        cell.source = re.sub(r"\n### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
    source_path, release_path = folder / "source.ipynb", folder / "release.ipynb"
    nbformat.write(source, source_path)
    nbformat.write(release, release_path)
    toy = dataclasses.replace(assignment("a1"), id="toy", notebook="toy.ipynb")
    manifest = write_bundle(source_path, "toy", folder / "build")
    return source_path, release_path, Bundle(toy, manifest, folder / "build" / "tests", {})


@pytest.mark.slow
def test_validate_passes_an_assignment_whose_tests_meet_the_rule(tmp_path):
    lines: list[str] = []
    report = validate(assignment("a1"), echo=lines.append, notebooks=_toy(tmp_path))
    table = "\n".join(lines)
    assert report.ok, table + "\n" + "\n".join(report.problems)
    row = {q: {k: c.text() for k, c in cells.items()} for q, cells in report.table.items()}
    for question in ("q1_scale", "q2_total", "q3_expr"):
        for kind in ("memoriser", "zeros", "ones", "random"):
            assert row[question][kind] == "0 ok", (question, kind, table)
    assert row["q1_scale"]["input"] == "0 ok" and row["q1_scale"]["float32"] == "2 ok"
    assert row["q1_scale"]["lists"] == "2 ok" and row["q2_total"]["Fraction"] == "2 ok"
    assert row["q3_expr"]["constant"] == "0 ok" and row["q3_expr"]["expand"] == "2 ok"
    assert row["q3_expr"]["redeclared"] == "2 ok"  # x was declared positive; the variant has a plain x
    assert row["q2_total"]["input"] == "n/a" and row["q1_scale"]["expand"] == "n/a"  # never counted as a pass
    assert lines[1].startswith("  generated students of toy") and "memoriser" in lines[2] and "q1_scale (2)" in lines[3]


@pytest.mark.slow
def test_validate_fails_naming_the_question_when_a_hidden_test_checks_only_the_shape(tmp_path):
    weakened = {"q1_scale": "assert_shape(scale(np.ones(3)), (3,), name='scale(ones(3))')"}
    says = {"q2_total": "\n# mdl validate: not Fraction, sympy-num: the toy asks for a float"}
    lines: list[str] = []
    report = validate(assignment("a1"), echo=lines.append, notebooks=_toy(tmp_path, weakened, says))
    assert not report.ok
    failing = [p for p in report.problems if p.startswith("q1_scale: the generated student 'zeros'")]
    assert failing and "earned 2 of 2, must earn 0" in failing[0], report.problems
    assert not [p for p in report.problems if p.startswith(("q2_total", "q3_expr"))], report.problems
    assert any(line.startswith("  q1_scale (2)") and "2 FAIL" in line for line in lines), "\n".join(lines)
    assert report.table["q2_total"]["Fraction"].text() == "n/a"  # the question refuses it, and says why
    assert "  note: q2_total: Fraction, sympy-num n/a: the question says: the toy asks for a float" in lines
    assert report.table["q2_total"]["float32"].text() == "2 ok"


def test_a_question_may_refuse_a_correct_form_and_say_why_but_never_a_wrong_student():
    from autograder.generated_students import exemptions

    found, problems = exemptions("x = 1\n# mdl validate: not float32, lists: float64 is asked (the prompt says why)\n"
                                 "# mdl validate: not zeros: an all-zero answer is right here\n")
    assert found == {"float32": "float64 is asked (the prompt says why)", "lists": "float64 is asked (the prompt says why)"}
    assert len(problems) == 1 and "'zeros' is not a correct form that a question may refuse" in problems[0]


def test_kinds_that_change_different_questions_share_a_notebook():
    from autograder.generated_students import KINDS, Answer, QuestionAnswers, Recording
    from autograder.validate import pack

    recording = Recording("toy", [QuestionAnswers("q1", 1, ["f"]), QuestionAnswers("q2", 1, ["e"])],
                          {"f": Answer("f", "function"), "e": Answer("e", "value")})
    numeric = {"memoriser", "zeros", "ones", "random", "input", "float32", "lists"}
    symbolic = {"memoriser", "zeros", "ones", "random", "constant", "expand", "redeclared"}
    before = {(k.name, q): (k.name in (numeric if q == "q1" else symbolic)) or False for k in KINDS for q in ("q1", "q2")}
    groups = [[kind.name for kind, _ in group] for group in pack(recording, before)]
    assert groups == [["memoriser"], ["zeros"], ["ones"], ["random"], ["input", "constant"], ["float32", "expand"],
                      ["lists", "redeclared"]]
    assert [names for _, names in pack(recording, before)[5]] == [{"f"}, {"e"}]  # each kind changes its own answers


def test_the_command_exits_1_naming_the_assignment_and_offers_the_quick_check(monkeypatch, capsys):
    from autograder import cli

    calls = []

    def fake_validate(a, echo=print, *, generated=True, jobs=None):
        calls.append((a.id, generated, jobs))
        return type("Report", (), {"ok": a.id != "a2", "assignment": a.id})()

    monkeypatch.setattr("autograder.validate.validate", fake_validate)
    assert cli.main(["validate", "a1", "a2", "--no-generated", "-j", "1"]) == 1
    assert calls == [("a1", False, 1), ("a2", False, 1)]
    assert "FAILED: a2" in capsys.readouterr().out


# -- the answer forms, on their own ------------------------------------------------------------


def test_wrong_forms_keep_shape_and_type_and_lose_the_values():
    array = np.arange(6.0).reshape(2, 3)
    for form in (answer_forms.zeros, answer_forms.ones, answer_forms.noise, answer_forms.scaled):
        made = form(array)
        assert made.shape == (2, 3) and made.dtype == array.dtype and not answer_forms.same(made, array)
    assert answer_forms.zeros([(3, 4), (5,)]) == [(0, 0), (0,)]
    assert answer_forms.zeros({"W": 1.5, "n": 2}) == {"W": 0.0, "n": 0}
    t = sp.Symbol("t")
    assert answer_forms.zeros(sp.Matrix([[t, 1]])) == sp.zeros(1, 2)
    assert answer_forms.constant(t ** 2 + 1, {"t": 3}) == 10


def test_right_forms_are_the_same_numbers_in_another_form():
    from fractions import Fraction

    assert answer_forms.float32(np.array([0.1, 0.2])).dtype == np.float32
    assert answer_forms.lists(np.eye(2)) == [[1.0, 0.0], [0.0, 1.0]]
    assert answer_forms.fractions_(0.5) == Fraction(1, 2) and answer_forms.fractions_(3) == 3
    assert answer_forms.sympy_numbers([2, 0.5]) == [sp.Integer(2), sp.Float(0.5)]
    p = sp.Symbol("p", positive=True)
    expression = (p + 1) ** 2
    assert answer_forms.expand(expression) == p ** 2 + 2 * p + 1
    plain = answer_forms.redeclared(expression)
    assert plain.free_symbols == {sp.Symbol("p")} and not answer_forms.same(plain, expression)


def test_the_memoriser_lookup_equals_the_solution_only_at_the_recorded_points():
    a, b = sp.symbols("a b")
    solution = a * b + 1
    lookup = answer_forms.lookup_expression(solution, [{"a": 2, "b": 3}, {"a": -1, "b": 4}])
    assert lookup.xreplace({a: 2, b: 3}) == 7 and lookup.xreplace({a: -1, b: 4}) == -3
    assert lookup.xreplace({a: 5, b: 5}) == 0


def test_the_memoriser_copies_the_constant_entries_of_a_matrix():
    # A2 q4: a Hessian [[6, 2 s], [2 s, 2 q]] checked at one point; a memoriser writes the 6 it sees, so its
    # lookup and its polynomial pass the visible check (before, both put 0 there, the visible test refused them,
    # and the memoriser fell back to the solution itself, earning the hidden points of a correct answer)
    s, q = sp.symbols("s q")
    solution = sp.Matrix([[6, 2 * s], [2 * s, 2 * q]])
    point = {"s": 4, "q": 11}
    for made in (answer_forms.lookup_expression(solution, [point]), answer_forms.interpolation(solution, [point])):
        assert made[0, 0] == 6
        assert made.xreplace({s: 4, q: 11}) == solution.xreplace({s: 4, q: 11})
        assert made.xreplace({s: 1, q: 2}) != solution.xreplace({s: 1, q: 2})


def test_lookup_keys_match_the_same_data_and_the_same_function_source():
    assert answer_forms.key_of((np.ones(2), {"k": 1})) == answer_forms.key_of((np.ones(2), {"k": 1}))
    assert answer_forms.key_of(np.ones(2)) != answer_forms.key_of(np.ones(2, dtype=np.float32))
    source = "def f(v):\n    return v * 2\n"
    one, two = {}, {}
    exec(compile(source, "<grader function>", "exec"), one)
    exec(compile(source, "<grader function>", "exec"), two)
    assert answer_forms.key_of(one["f"]) == answer_forms.key_of(two["f"])


def test_exemptions_are_read_from_the_english_test_cell_not_its_translated_twin():
    """A lang:es twin repeats the grade_id after the English cell; were its comment read last, a translated
    "# mdl validate: no float32: ..." line would silently drop the exemption the English cell states."""
    import nbformat

    from autograder.recording import question_exemptions

    def test_cell(source, tags=None):
        cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": "q1", "points": 1,
                                                                       "solution": False, "locked": True}})
        if tags:
            cell.metadata["tags"] = tags
        return cell

    nb = nbformat.v4.new_notebook(cells=[
        test_cell("# mdl validate: not float32: the question asks for float64\nassert True"),
        test_cell("# mdl validate: no float32: la pregunta pide float64\nassert True", tags=["lang:es"])])
    exempt, problems = question_exemptions(nb)
    assert exempt == {"q1": {"float32": "the question asks for float64"}} and problems == []
