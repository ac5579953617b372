"""Messages in the student's language (issue 22): every student-facing message is in the Spanish catalog,
and a Spanish message interpolates exactly the values of its English original."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import mdl_student.i18n as i18n

from autograder.records import NEUTRAL_HIDDEN_FAILED, NEUTRAL_HIDDEN_PASSED

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "student" / "mdl_student"
CATALOG = PACKAGE / "locale" / "es" / "LC_MESSAGES" / "mdl_student.po"
# The two catalogs: the student package's (checks) and the grader's (feedback page, statuses), with what
# each must hold beyond what Babel extracts (messages stored as constants below the page that shows them).
CATALOGS = {
    "mdl_student": (PACKAGE, CATALOG, set()),
    "mdl": (ROOT / "autograder", ROOT / "autograder" / "locale" / "es" / "LC_MESSAGES" / "mdl.po",
            {NEUTRAL_HIDDEN_FAILED, NEUTRAL_HIDDEN_PASSED}),
}


def _extracted(folder: Path) -> set[str]:
    """The msgids Babel extracts, as `pybabel extract -F babel.cfg -k _ -k N_ -k ngettext:1,2` does."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map=[("**.py", "python")], keywords={"_": None, "N_": None, "ngettext": (1, 2)}):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def _catalog(path: Path = CATALOG):
    with path.open("rb") as fp:
        return read_po(fp, locale="es")


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


@pytest.mark.parametrize("domain", CATALOGS)
def test_every_message_has_a_reviewed_spanish_translation(domain):
    folder, path, also = CATALOGS[domain]
    catalog = _catalog(path)
    extracted = _extracted(folder) | also
    assert len(extracted) >= 15  # the extraction finds the messages at all
    missing = sorted(m for m in extracted if not catalog.get(m) or not catalog.get(m).string)
    fuzzy = sorted(m for m in extracted if catalog.get(m) and catalog.get(m).fuzzy)
    assert not missing, f"messages without a Spanish translation in {path.name}: {missing}"
    assert not fuzzy, f"fuzzy (unreviewed) translations: {fuzzy}"
    assert not catalog.fuzzy, f"{path.name}'s header is marked fuzzy: pybabel compile would skip it"


@pytest.mark.parametrize("domain", CATALOGS)
def test_a_spanish_message_shows_no_value_its_english_original_does_not(domain):
    """What a hidden test may show is decided in English; its translation interpolates the same names."""
    for message in _catalog(CATALOGS[domain][1]):
        if message.id and message.string:
            assert _fields(message.string) == _fields(message.id), message.id
            assert not re.search(r"%\(?\w*\)?[sdrf]", message.string.replace("%%", "")), message.id


def test_the_checks_speak_the_language_of_mdl_lang(monkeypatch):
    from mdl_student.checks.messages import _shape_message

    monkeypatch.delenv("MDL_LANG", raising=False)
    english = _shape_message("y_example", (2, 1), (2,))
    monkeypatch.setenv("MDL_LANG", "es")
    spanish = _shape_message("y_example", (2, 1), (2,))
    assert english.startswith("y_example has shape (2, 1), but the expected shape is (2,): a column vector")
    assert spanish.startswith("y_example tiene forma (2, 1), pero la forma esperada es (2,): un vector columna")
    monkeypatch.setenv("MDL_LANG", "es_CO.UTF-8")
    assert i18n.current_language() == "es"
    monkeypatch.setenv("MDL_LANG", "fr")
    assert _shape_message("y_example", (2, 1), (2,)) == english  # a language the course lacks: English


def test_without_a_compiled_catalog_the_po_is_compiled_with_babel(tmp_path):
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "mdl_student.po").write_bytes(CATALOG.read_bytes())
    compiled = i18n.translations("es", locale_dir=tmp_path)
    assert compiled.gettext("did you transpose?") == "¿lo transpuso?"


def test_the_kernel_gets_the_runs_language(monkeypatch):
    from autograder.sandbox.bubblewrap import _kernel_env

    monkeypatch.setenv("MDL_LANG", "es")
    assert _kernel_env("/tmp/home")["MDL_LANG"] == "es"
    monkeypatch.delenv("MDL_LANG")
    assert _kernel_env("/tmp/home")["MDL_LANG"] == "en"


def test_the_feedback_page_speaks_the_runs_language(monkeypatch):
    from autograder.feedback import feedback_html

    record = {"assignment": "a1", "student": "<b>ana</b>", "status": "ok", "score": 4.0, "max_score": 6.0,
              "scores": {"q1_affine": 4.0, "q5_projection": 0.0}, "max_scores": {"q1_affine": 4.0, "q5_projection": 2.0},
              "cases": {"q1_affine": [{"hidden": True, "passed": True, "message": ""}],
                        "q5_projection": [{"hidden": True, "passed": False, "message": "at P = [[1, 2]]"}]},
              "messages": [], "titles": {}, "cells": {}}
    monkeypatch.setenv("MDL_LANG", "es")
    page = feedback_html(record)
    assert '<html lang="es">' in page and "<h2>Preguntas</h2>" in page and "Prueba oculta: fallida." in page
    assert "Puntaje automático" in page and "Qué significan los estados" in page
    assert "&lt;b&gt;ana&lt;/b&gt;" in page and "<b>ana</b>" not in page  # the student's name stays escaped
    assert "P = [[1, 2]]" not in page  # a hidden case's message stays in the instructor's record


def test_a_hidden_numeric_failure_in_spanish_shows_what_the_english_shows(monkeypatch):
    import numpy as np

    from mdl_student.checks import CheckFailure, assert_close, concealed

    def said(lang: str) -> str:
        monkeypatch.setenv("MDL_LANG", lang)
        with concealed(), pytest.raises(CheckFailure) as failure:
            assert_close(np.array([1.0, 2.5]), np.array([1.0, 2.2]), name="y_example")
        return str(failure.value)

    english, spanish = said("en"), said("es")
    assert english.startswith("y_example differs from the expected value in 1 of 2 elements, first at index (1,)")
    assert spanish.startswith("y_example difiere del valor esperado en 1 de 2 elementos, el primero en el índice (1,)")
    assert "2.2" not in spanish and re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", spanish) == \
        re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", english)  # the same numbers, none more


def test_results_json_says_the_neutral_hidden_test_sentence_in_the_runs_language(monkeypatch):
    from autograder.records import _neutral

    monkeypatch.setenv("MDL_LANG", "es")
    assert (_neutral(True), _neutral(False).split(".")[0]) == ("Prueba oculta: superada.", "Prueba oculta: fallida")
    monkeypatch.setenv("MDL_LANG", "en")
    assert (_neutral(True), _neutral(False)) == (NEUTRAL_HIDDEN_PASSED, NEUTRAL_HIDDEN_FAILED)
