"""The notebooks' own test messages in Spanish (issue 22): the translation format, the twins, the build's
check that a twin is its English cell's program, the grader's choice of test file, and completeness."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import nbformat
import pytest
import yaml

from grading_config import PATHS, assignment
from autograder.compile_tests import CompileError, compile_notebook, write_bundle
from autograder.notebook_meta import cell_language, edition
from autograder.test_translation import (
    TranslationError, is_prose, is_test_cell_to_translate, pairs, same_program, skeleton_entry, translatable_pieces,
    translated_source, untranslated)
from test_editions import TESTS_TRANSLATED, TRANSLATED
from test_i18n import _NUMBER

ROOT = Path(__file__).resolve().parent.parent

CELL = '''import numpy as np
from mdl_student.checks import CheckFailure, assert_close

# two points, so that an answer must be right as a function of the symbols, not as one number, and a
# second line that goes on with the same sentence because the first was wrapped at its width here
for label, point in (("the first point", 1.0), ("the second point", 2.0)):
    assert_close(f(point), point, name=f"f at {label}")  # the identity: f(x) = x
if g(np.float64(1.0)) == "exact":
    raise CheckFailure("g should return a number, not the word exact")
answer = sp.Matrix([1]).det(method="berkowitz")
assert_close(answer, 1, name="f(1)")
### BEGIN HIDDEN TESTS
# a hidden comment: never shown, so never listed
assert_close(f(3.0), 3.0, name="f at a hidden point")
assert f(1.0) == 1.0, "the answer should be one"
### END HIDDEN TESTS'''
IDENTIFIERS = {"np", "f", "g", "sp", "label", "point", "answer", "assert_close", "CheckFailure", "Matrix", "det"}


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hidden_region_starts_where_the_test_compiler_says():
    from autograder import compile_tests, test_translation

    assert test_translation.BEGIN_HIDDEN == compile_tests.BEGIN_HIDDEN
    assert translatable_pieces("%time x = 1  # a magic: not plain Python", set()) == []


def test_prose_is_a_word_of_two_letters_or_more_that_is_not_a_name_of_the_notebooks_code():
    assert not is_prose("affine([1, 2], I, zeros((2, 3)))", {"affine", "zeros"})
    assert not is_prose("y_example", set()) and not is_prose("{name}[{k}]", set())
    assert is_prose("det_L at {where}", {"det_L", "where"})
    assert is_prose("y_example should hold two numbers", {"y_example"})
    assert not is_prose("`value`, `rank`", set())  # backticked code
    # the notebook's own names used as words of a phrase are still prose (A8 has a variable `at`, A3 `random`,
    # A6 `width`): these labels reached Spanish students in English
    assert is_prose("dlogsig at z = 2", {"dlogsig", "at", "z"})
    assert is_prose("a random array", {"a", "random", "array"})
    assert is_prose("width 40, variance 1.6/D", {"width", "variance", "D"})
    assert not is_prose("logits, labels", {"logits", "labels"}) and not is_prose("relu(z)", {"relu", "z"})


def test_the_texts_to_translate_are_the_messages_names_and_visible_comments_not_the_codes_strings():
    texts = {(p.kind, p.text) for p in translatable_pieces(CELL, IDENTIFIERS)}
    assert texts == {
        ("comments", "two points, so that an answer must be right as a function of the symbols, not as one number, and a "
                     "second line that goes on with the same sentence because the first was wrapped at its width here"),
        ("comments", "the identity: f(x) = x"),
        ("strings", "the first point"), ("strings", "the second point"),  # reach name= through a loop variable
        ("strings", "f at {label}"),
        ("strings", "g should return a number, not the word exact"),
        ("strings", "f at a hidden point"), ("strings", "the answer should be one"),  # hidden messages too
    }  # not "exact" (compared), "berkowitz" (an argument), "f(1)" (code), the hidden comment, the markers


def test_a_visible_helpers_docstring_is_translated_a_hidden_ones_is_not():
    """The student reads the visible part, helpers' docstrings included (A2 has seven); the hidden part never."""
    cell = ('''def at(p):\n    """The value at the point p, as a float."""\n    return float(p)\n'''
            "### BEGIN HIDDEN TESTS\n"
            '''def hidden(p):\n    """A helper of the hidden tests only."""\n    return p\n'''
            "### END HIDDEN TESTS")
    texts = {(p.kind, p.text) for p in translatable_pieces(cell, {"at", "hidden", "p", "float"})}
    assert texts == {("strings", "The value at the point p, as a float.")}


def test_a_twin_changes_the_texts_in_place_and_nothing_else():
    entry = {"strings": [{"en": "f at {label}", "es": "f en {label}"},
                         {"en": "the answer should be one", "es": "la respuesta debería ser uno"},
                         {"en": "the first point", "es": ""}],  # untranslated: stays English, listed
             "comments": [{"en": "the identity: f(x) = x", "es": "la identidad: f(x) = x"}]}
    twin, missing = translated_source(CELL, IDENTIFIERS, entry, "es", "cell q1")
    assert twin == (CELL.replace('f"f at {label}"', 'f"f en {label}"')
                    .replace('"the answer should be one"', '"la respuesta debería ser uno"')
                    .replace("# the identity: f(x) = x", "# la identidad: f(x) = x"))
    assert "the first point" in missing and "f at {label}" not in missing
    assert same_program(CELL, twin)


def test_a_translated_comment_block_is_rewrapped_at_the_english_width():
    text = translatable_pieces(CELL, IDENTIFIERS)[0].text
    entry = {"comments": [{"en": text, "es": "dos puntos, para que una respuesta tenga que ser correcta como función de "
                                             "los símbolos y no como un solo número, y una segunda línea " * 2}]}
    twin, _ = translated_source(CELL, IDENTIFIERS, entry, "es", "cell q1")
    comment_lines = [line for line in twin.splitlines() if line.startswith("# ") and "dos puntos" in twin]
    assert len(comment_lines) >= 3 and max(map(len, comment_lines)) <= 104
    assert same_program(CELL, twin)


def test_a_translation_must_keep_the_fields_and_the_program():
    with pytest.raises(TranslationError, match="fields"):
        translated_source(CELL, IDENTIFIERS, {"strings": [{"en": "f at {label}", "es": "f en {etiqueta}"}]}, "es", "q1")
    # a quote that ends the literal early makes other code: the build's check sees it
    broken, _ = translated_source(CELL, IDENTIFIERS, {"strings": [{"en": "f(1)", "es": "x"},
                                                                  {"en": "the answer should be one",
                                                                   "es": 'uno" + str(answer) + "'}]}, "es", "q1")
    assert not same_program(CELL, broken)
    assert not same_program(CELL, CELL.replace("f(point), point", "f(point), 2 * point"))


def _toy_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    meta = {"nbgrader": {"grade": True, "grade_id": "q1", "locked": True, "points": 2, "schema_version": 3,
                         "solution": False}}
    nb.cells = [
        nbformat.v4.new_code_cell("import sympy as sp\nf = lambda x: x\ng = lambda x: 1.0", id="setup"),
        nbformat.v4.new_code_cell(CELL, id="q1-test", metadata=copy.deepcopy(meta)),
    ]
    return nb


def _translations() -> dict:
    return {"q1-test": {"strings": [{"en": "g should return a number, not the word exact",
                                     "es": "g debe devolver un número, no la palabra exact"},
                                    {"en": "f at a hidden point", "es": "f en un punto oculto"}]}}


def test_add_edition_makes_a_tagged_twin_and_refuses_a_translation_that_changes_the_program():
    add_edition = _script("add_edition").add_edition
    nb = _toy_notebook()
    report = add_edition(nb, _translations(), "es")
    assert [c.id for c in nb.cells] == ["setup", "q1-test", "q1-test-es"] and report["tests"] == ["q1-test"]
    assert [cell_language(c) for c in nb.cells] == [None, "en", "es"]
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "q1"
    assert "f en un punto oculto" in edition(nb, "es").cells[1].source
    assert "f at a hidden point" in edition(nb, "en").cells[1].source
    broken = {"q1-test": {"strings": [{"en": "f at a hidden point", "es": 'oculto" if answer else "'}]}}
    with pytest.raises(TranslationError, match="not the same program"):
        add_edition(_toy_notebook(), broken, "es")


def test_the_build_refuses_a_hand_edited_twin_naming_the_cell_and_compiles_each_editions_tests(tmp_path, monkeypatch):
    add_edition = _script("add_edition").add_edition
    nb = _toy_notebook()
    add_edition(nb, _translations(), "es")
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    manifest, files = compile_notebook(path, "toy")
    assert manifest.test_languages == ["es"] and set(files) == {"q1.py", "es/q1.py"}
    assert "f en un punto oculto" in files["es/q1.py"] and "f at a hidden point" in files["q1.py"]
    assert files["es/q1.py"].count("with concealed():") == files["q1.py"].count("with concealed():")

    nb.cells[2].source = nb.cells[2].source.replace("assert f(1.0) == 1.0", "assert f(1.0) == 2.0")
    nbformat.write(nb, path)
    with pytest.raises(CompileError, match=r"toy.ipynb cell 3 \(q1\).*not the program of its English cell"):
        compile_notebook(path, "toy")


def test_the_grader_runs_the_test_file_of_the_runs_language(monkeypatch):
    from autograder.grade import Bundle

    bundle = Bundle.load(assignment("a1"))
    assert "es" in bundle.manifest.test_languages
    monkeypatch.setenv("MDL_LANG", "es")
    assert bundle.test_file("q2_linear_example") == bundle.tests_dir / "es" / "q2_linear_example.py"
    assert "sume los sesgos beta" in bundle.test_file("q2_linear_example").read_text()
    monkeypatch.setenv("MDL_LANG", "en")
    assert bundle.test_file("q2_linear_example") == bundle.tests_dir / "q2_linear_example.py"


def test_the_skeleton_keeps_translations_and_lists_what_the_english_no_longer_says():
    old = {"strings": [{"en": "f at {label}", "es": "f en {label}"}, {"en": "an old message", "es": "un mensaje viejo"}]}
    entry, stale = skeleton_entry(CELL, IDENTIFIERS, old, "es")
    assert pairs(entry, "strings", "es")["f at {label}"] == "f en {label}"
    assert pairs(entry, "strings", "es")["the first point"] == ""
    assert stale == ["strings: 'an old message'"]
    assert "an old message" in pairs(entry, "strings", "es")  # kept until a person deletes it


def _source_and_translations(assignment_id: str):
    a = assignment(assignment_id)
    nb = nbformat.read(PATHS.source / a.id / a.notebook, as_version=4)
    path = ROOT / "i18n" / "notebooks" / f"{a.id}.es.yaml"
    return nb, yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("assignment_id", TESTS_TRANSLATED)
def test_every_text_of_the_test_cells_that_reaches_a_student_has_a_spanish_translation(assignment_id):
    """What a student of the Spanish edition reads from a test cell -- a message it raises, a name it gives a
    check, an assert's message, a visible comment -- is Spanish (prose: see autograder/test_translation.is_prose)."""
    add_edition = _script("add_edition")
    nb, translations = _source_and_translations(assignment_id)
    english = [c for c in nb.cells if cell_language(c) in (None, "en")]
    identifiers = add_edition.code_identifiers(english)
    missing = {c.id: untranslated(c.source, identifiers, translations.get(c.id), "es")
               for c in english if is_test_cell_to_translate(c)}
    assert not {cid: texts for cid, texts in missing.items() if texts}
    rebuilt = copy.deepcopy(nb)  # and the notebook holds the twins the file makes (nobody edited a twin by hand)
    add_edition.add_edition(rebuilt, translations, "es")
    assert nbformat.writes(rebuilt) == nbformat.writes(nb)


@pytest.mark.parametrize("assignment_id", TRANSLATED)
def test_a_translated_test_text_shows_the_numbers_of_its_english_and_no_other(assignment_id):
    """The hidden tests' messages stay as concealed as the English: a translator cannot add a value."""
    _, translations = _source_and_translations(assignment_id)
    for entry in translations.values():
        for kind in ("strings", "comments"):
            for english, spanish in pairs(entry, kind, "es").items():
                if spanish:
                    assert sorted(_NUMBER.findall(spanish)) == sorted(_NUMBER.findall(english)), (english, spanish)


def test_write_bundle_removes_a_translated_test_file_whose_twin_is_gone(tmp_path):
    add_edition = _script("add_edition").add_edition
    nb = _toy_notebook()
    add_edition(nb, _translations(), "es")
    nbformat.write(nb, tmp_path / "toy.ipynb")
    write_bundle(tmp_path / "toy.ipynb", "toy", tmp_path / "build")
    assert (tmp_path / "build" / "tests" / "es" / "q1.py").is_file()
    nbformat.write(_toy_notebook(), tmp_path / "toy.ipynb")
    assert write_bundle(tmp_path / "toy.ipynb", "toy", tmp_path / "build").test_languages == []
    assert not (tmp_path / "build" / "tests" / "es" / "q1.py").exists()
