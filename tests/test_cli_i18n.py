"""What `mdl build`, `export`, `feedback-export`, `student-package` and the roster say, in the run's language (issue 22).

Each test runs one real path of the command twice, with MDL_LANG=es and MDL_LANG=en: the Spanish run
prints Spanish, the English run prints what it always printed, and the files an LMS or a script
reads keep their English column names in both.  The last test is the bridge's: a visible call stopped at
its time limit, which the kernel's agent reports in English, reaches the student in the run's language.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import pytest

import grading_config
from grading_config import PATHS
from autograder.cli import main
from autograder.grade import Submission
from autograder.roster import apply_roster, load_roster
from fixtures.ops_records import make_record, write_records

DUE = grading_config.assignment("a1").due


@pytest.fixture(autouse=True)
def _no_course_extensions(monkeypatch, tmp_path):
    monkeypatch.setattr("autograder.totals.LATE", grading_config.LatePolicy(extensions_file=tmp_path / "none.csv"))


@pytest.mark.parametrize("lang, unknown, missing_edition", [
    ("es", "tarea(s) desconocida(s): nosuch; conocidas: toy", "no tiene celdas etiquetadas lang:es: agregue su traducción"),
    ("en", "unknown assignment(s): nosuch; known: toy", "has no cells tagged lang:es: add its translation"),
])
def test_mdl_build_errors_are_in_the_run_language(monkeypatch, capsys, english_only_toy, lang, unknown,
                                                   missing_edition):
    monkeypatch.setenv("MDL_LANG", lang)
    assert main(["build", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mdl build: error: " + unknown), err
    # an assignment without a Spanish edition
    assert main(["build", "--lang", "es", "--check", english_only_toy]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and missing_edition in err and f"scripts/add_edition.py {english_only_toy} es" in err


@pytest.mark.parametrize("lang, printed, warned, feedback", [
    # mdl export counts the class (4), the student Moodle cannot match included, as it always has
    ("es", "3 fila(s) para moodle:", "advertencia: mallory: no está en roster.csv, se omite",
     "calificación automática 2/10 (ok); entrega tardía de 1 día(s): -10%"),
    ("en", "3 row(s) for moodle:", "warning: mallory: not in roster.csv, left out",
     "autograded 2/10 (ok); late 1 day(s): -10%"),
])
def test_mdl_export_prints_warns_and_fills_the_feedback_column_in_the_run_language(
        monkeypatch, capsys, tmp_path, lang, printed, warned, feedback):
    monkeypatch.setenv("MDL_LANG", lang)
    late = DUE.replace(day=DUE.day + 1).isoformat()
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4}), make_record("bo", {"q1_affine": 2},
                                                                                         submitted_at=late),
                                           make_record("cy", {}), make_record("mallory", {})])
    roster = tmp_path / "roster.csv"
    roster.write_text("login,name,email\nana,Ana,ana@uni.example\nbo,Bo,bo@uni.example\ncy,Cy,cy@uni.example\n")
    assert main(["export", str(out), "--format", "moodle", "--roster", str(roster)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(printed) and warned in captured.err, captured
    rows = list(csv.reader(io.StringIO((out / "export-moodle.csv").read_text())))
    assert rows[0] == ["ID number", "Email address", "Username", "Applied linear algebra", "Feedback"]  # English: Moodle reads them
    assert {r[2]: r[4] for r in rows[1:]}["bo"] == feedback


@pytest.mark.parametrize("lang, printed, warned", [
    ("es", "0 estudiante(s) para canvas:", "advertencia: ana: sin id de usuario de Canvas"),
    ("en", "0 student(s) for canvas:", "warning: ana: no Canvas user id"),
])
def test_mdl_feedback_export_warns_in_the_run_language(monkeypatch, capsys, tmp_path, lang, printed, warned):
    monkeypatch.setenv("MDL_LANG", lang)
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4})])
    assert main(["report", str(out), "--lang", lang]) == 0  # the feedback pages the export carries
    capsys.readouterr()
    assert main(["feedback-export", str(out), "--format", "canvas"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(printed) and captured.err.startswith(warned), captured


@pytest.mark.parametrize("lang, handed_in, missing, stranger, bad_roster", [
    ("es", "entregado como doejohn_12345 (roster.csv: jdoe)", "no se encontró ninguna entrega de este estudiante",
     "advertencia: 'mallory' no corresponde a ningún estudiante de roster.csv", "línea 3: una fila sin login"),
    ("en", "handed in as doejohn_12345 (roster.csv: jdoe)", "no submission was found for this student",
     "warning: 'mallory' matches no student of roster.csv", "line 3: a row without a login"),
])
def test_the_roster_notes_and_warnings_are_in_the_run_language(monkeypatch, tmp_path, lang, handed_in, missing,
                                                               stranger, bad_roster):
    monkeypatch.setenv("MDL_LANG", lang)
    path = tmp_path / "roster.csv"
    path.write_text("login,name,canvas_id\njdoe,\"Doe, John\",12345\nali,Ali Khan,\n")
    warnings: list[str] = []
    rows, _ = apply_roster(load_roster(path), [Submission("doejohn_12345", tmp_path / "a.ipynb"),
                                               Submission("mallory", tmp_path / "b.ipynb")], warnings.append)
    notes = {r.student: r.note for r in rows}
    assert notes["jdoe"] == handed_in and notes["ali"].startswith(missing)  # the notes a student reads
    assert warnings == [stranger + (": se califica con ese id" if lang == "es" else ": graded under that id")]
    path.write_text("login,name\njdoe,John\n,Nobody\n")
    with pytest.raises(ValueError, match=bad_roster):
        load_roster(path)


@pytest.mark.parametrize("lang, printed, warned", [
    ("es", "repositorio para publicar", "advertencia: la URL de instalación sigue siendo un marcador de posición"),
    ("en", "repository to publish", "warning: the install URL is still a placeholder"),
])
def test_mdl_student_package_speaks_the_run_language(monkeypatch, capsys, tmp_path, lang, printed, warned):
    monkeypatch.setenv("MDL_LANG", lang)
    monkeypatch.setattr("grading_config.STUDENT_PACKAGE_URL",
                        "git+https://github.com/<org>/<course>-student#subdirectory=student")
    assert main(["student-package", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert printed in captured.out and captured.err.startswith(warned), captured


TOY = json.loads((Path(__file__).parent / "fixtures" / "toy_source.ipynb").read_text())  # q1_double is cell 4


@pytest.mark.parametrize("lang, no_hidden, end_alone", [
    ("es", "toy.ipynb, celda 4 (q1_double): la celda de pruebas no tiene pruebas ocultas",
     "toy.ipynb, celda 3 (double_answer): ### END SOLUTION sin un ### BEGIN SOLUTION antes"),
    ("en", "toy.ipynb cell 4 (q1_double): the test cell has no hidden tests",
     "toy.ipynb cell 3 (double_answer): ### END SOLUTION without ### BEGIN SOLUTION before it"),
])
def test_mdl_build_names_a_broken_source_cell_in_the_run_language(monkeypatch, capsys, tmp_path, lang, no_hidden,
                                                                   end_alone):
    import autograder.build

    monkeypatch.setenv("MDL_LANG", lang)
    paths = dataclasses.replace(PATHS, root=tmp_path, source=tmp_path / "source", release=tmp_path / "release",
                                build=tmp_path / "build")
    toy = grading_config.Assignment("toy", "Toy", "toy.ipynb", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    monkeypatch.setattr(autograder.build, "PATHS", paths)
    monkeypatch.setattr(autograder.build, "ASSIGNMENTS", (toy,))
    source = tmp_path / "source" / "toy" / "toy.ipynb"
    source.parent.mkdir(parents=True)
    for edit, expected in ((lambda nb: nb["cells"][3].update(source="assert np.allclose(double(1.0), 2.0)\n"), no_hidden),
                           (lambda nb: nb["cells"][2].update(source="def double(x):\n    ### END SOLUTION\n"), end_alone)):
        nb = copy.deepcopy(TOY)
        edit(nb)
        source.write_text(json.dumps(nb))
        assert main(["build", "toy"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("mdl build: error: " + expected) and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("lang, said", [("es", "la llamada superó su límite de tiempo"),
                                        ("en", "the call ran past its time limit")])
def test_a_visible_call_past_its_time_limit_is_said_in_the_run_language(monkeypatch, lang, said):
    """The kernel's agent words a timed-out call in English; the grader says it again in the run's language."""
    from autograder.bridge import StudentCodeError, _answer

    monkeypatch.setenv("MDL_LANG", lang)
    reply = {"ok": False, "error_type": "CellTimeout", "error": "the call ran past its time limit"}
    with pytest.raises(StudentCodeError) as raised:
        _answer(lambda: reply, "f", lambda error: f"f: {error}")
    assert str(raised.value) == f"f: {said}"
