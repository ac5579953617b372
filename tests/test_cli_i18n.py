"""What `mdl build`, `export`, `feedback-export`, `student-package`, `validate`, the roster, argparse, the
feedback page's title, push_feedback.sh and the manual grading pages say, in the run's language (issue 22).

Each test runs one real path of the command twice, with MDL_LANG=es and MDL_LANG=en: the Spanish run
prints Spanish, the English run prints what it always printed, and the files an LMS or a script
reads keep their English column names in both.  One test is the bridge's: a visible call stopped at
its time limit, which the kernel's agent reports in English, reaches the student in the run's language.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

import grading_config
from grading_config import PATHS
from autograder.cli import main
from autograder.generated_students import KINDS
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
    readme = (tmp_path / "repo" / "README.md").read_text()  # the published repository's, in the same language
    assert readme.startswith("# Matemáticas para Machine Learning" if lang == "es" else "# Maths for Deep Learning")


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


# -- mdl validate ---------------------------------------------------------------------------------


def _validation_report():
    """A report of one question, with a misgrade, a refused correct form and a kind that does not apply."""
    from autograder.validate import Cell, ValidationReport

    report = ValidationReport("toy", problems=["q1: ..."], max_score=2.0, notebooks=3, generated_seconds=12.4)
    row = {kind.name: Cell(0.0, 2.0) if kind.wrong else Cell(2.0, 2.0) for kind in KINDS}
    row["zeros"] = Cell(2.0, 2.0, ok=False)
    row["Fraction"] = Cell(None, 2.0, noted=True, why="the question says: a float is asked")
    report.table["q1_scale"] = row
    return report



@pytest.mark.parametrize("lang, heading, cells, misgraded, failure", [
    ("es", "  estudiantes generados de toy (3 cuadernos, 12 s): puntos obtenidos; los estudiantes erróneos",
     ("pregunta (puntos)", "2 FALLA", "0 ok", "n/a"), "  1 mal calificado(s) (FALLA: la pregunta da puntos",
     "q1_scale: el estudiante generado 'zeros' (un estudiante erróneo: ceros de la forma y el tipo correctos "
     "(funciones: de sus resultados)) obtuvo 2 de 2; debe obtener 0"),
    ("en", "  generated students of toy (3 notebooks, 12 s): points earned; wrong students (left) must earn 0",
     ("question (points)", "2 FAIL", "0 ok", "n/a"), "  1 misgraded (FAIL: the question gives points",
     "q1_scale: the generated student 'zeros' (a wrong student: zeros of the right shape and type (functions: of "
     "their results)) earned 2 of 2, must earn 0"),
])
def test_mdl_validate_table_and_problems_are_in_the_run_language(monkeypatch, lang, heading, cells, misgraded, failure):
    from autograder.validate import _failure, table_lines

    monkeypatch.setenv("MDL_LANG", lang)
    report = _validation_report()
    lines = table_lines(report)
    assert lines[0].startswith(heading), lines[0]
    assert all(word in lines[1] + lines[2] for word in cells), lines[1:3]
    assert lines[1].index("|") == lines[2].index("|")  # the columns stay aligned in either language
    assert lines[-1].startswith(misgraded), lines[-1]
    assert "note: q1_scale: Fraction n/a" in lines[-2] if lang == "en" else "nota: q1_scale: Fraction n/a" in lines[-2]
    zeros = next(kind for kind in KINDS if kind.name == "zeros")
    assert _failure(zeros, "q1_scale", report.table["q1_scale"]["zeros"]) == failure


@pytest.mark.slow
@pytest.mark.parametrize("lang, summary", [
    ("es", r"validate toy: ok \(cuaderno fuente 6/6 en [\d.]+ s, versión publicada 0/6\)"),
    ("en", r"validate toy: ok \(source 6/6 in [\d.]+s, release 0/6\)"),
])
def test_mdl_validate_says_its_verdict_in_the_run_language(monkeypatch, tmp_path, lang, summary):
    """The quick check (source and untouched release graded in the sandbox), as `mdl validate --no-generated` runs it."""
    from test_validate import _toy

    from autograder.validate import validate

    monkeypatch.setenv("MDL_LANG", lang)
    lines: list[str] = []
    report = validate(grading_config.assignment("a1"), echo=lines.append, generated=False, notebooks=_toy(tmp_path))
    assert report.ok and len(lines) == 1 and re.fullmatch(summary, lines[0]), lines


# -- the feedback page's title ----------------------------------------------------------------------


@pytest.mark.parametrize("lang, title", [("es", "Álgebra lineal aplicada"), ("en", "Applied linear algebra")])
def test_the_feedback_page_is_titled_as_the_edition_in_its_language(monkeypatch, tmp_path, lang, title):
    monkeypatch.setenv("MDL_LANG", lang)
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4})])
    assert main(["report", str(out), "--lang", lang]) == 0  # the pages `mdl report` writes
    page = (out / "ana" / "feedback.html").read_text()
    assert f"<h1>{title}</h1>" in page, page[:600]


def _first_heading(notebook: Path) -> str:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    source = "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"])
    return source.splitlines()[0].lstrip("# ").split(" · ", 1)[-1]


def test_each_spanish_title_is_the_one_its_edition_starts_with():
    """grading_config's Spanish title names the assignment as its Spanish release does, where the English title
    is the English release's (the capstone's English title differs from its heading, so only its Spanish one is required)."""
    checked = 0
    for a in grading_config.ASSIGNMENTS:
        spanish = PATHS.release / a.id / "es" / a.notebook
        if not spanish.is_file():
            continue
        assert a.title_in("es") != a.title, f"{a.id} has a Spanish edition but no Spanish title in grading_config"
        if _first_heading(PATHS.release / a.id / a.notebook).startswith(a.title):
            assert _first_heading(spanish).startswith(a.title_in("es")), (a.id, _first_heading(spanish))
            checked += 1
    assert checked >= 8


# -- push_feedback.sh and the published README --------------------------------------------------------


def _classroom_remote(tmp_path: Path, login: str) -> tuple[Path, dict[str, str]]:
    """A bare repository standing in for $ORG/a1-<login>, and an environment whose `gh repo clone` clones it."""
    import os
    import subprocess

    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@x"}
    seed, remote, fake_bin = tmp_path / "seed", tmp_path / "remotes" / "course" / f"a1-{login}", tmp_path / "bin"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "a1.ipynb").write_text("{}")
    subprocess.run(["git", "-C", str(seed), "add", "."], check=True)
    subprocess.run(["git", "-C", str(seed), "commit", "-qm", "hand-in"], check=True, env=git_env)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
    fake_bin.mkdir()
    (fake_bin / "gh").write_text(f'#!/bin/sh\nrepo=$3; dir=$4; shift 5\nexec git clone "$@" "file://{tmp_path}/remotes/$repo" "$dir"\n')
    (fake_bin / "gh").chmod(0o755)
    return remote, {**git_env, "PATH": f"{fake_bin}:{os.environ['PATH']}", "ORG": "course", "PREFIX": "a1-"}


@pytest.mark.parametrize("lang, comment, no_org, pushed, message", [
    ("es", "# Pone la página de retroalimentación de a1 de cada estudiante en una rama feedback-a1",
     "ORG: defina ORG con la organización de Classroom", "ana: course/a1-ana, rama feedback-a1",
     "Retroalimentación sobre la tarea"),
    ("en", "# Puts each student's feedback page for a1 on a branch feedback-a1 of their",
     "ORG: set ORG to the Classroom organisation", "ana: course/a1-ana, branch feedback-a1", "Feedback on the assignment"),
])
def test_push_feedback_sh_speaks_the_run_language(monkeypatch, capsys, tmp_path, lang, comment, no_org, pushed, message):
    import subprocess

    monkeypatch.setenv("MDL_LANG", lang)
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4})])
    assert main(["report", str(out), "--lang", lang]) == 0
    assert main(["feedback-export", str(out), "--format", "classroom"]) == 0
    capsys.readouterr()
    script = out / "feedback-classroom" / "push_feedback.sh"
    assert comment in script.read_text().splitlines()
    remote, env = _classroom_remote(tmp_path, "ana")
    unset = subprocess.run(["sh", str(script)], capture_output=True, text=True, env={**env, "ORG": ""})
    assert unset.returncode == 2 and unset.stderr.strip() == no_org, unset
    run = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.strip() == pushed, run
    log = subprocess.run(["git", "-C", str(remote), "log", "-1", "--format=%s", "feedback-a1"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert log == message


def test_push_feedback_sh_keeps_a_translation_s_shell_characters_as_words(monkeypatch, tmp_path):
    """A translation holding quotes, $ or backquotes is printed as written, never run by the shell."""
    import subprocess

    from autograder import feedback_export

    said = {"{login}: {repository}, branch {branch}": '{login}: "$HOME" `id` \\n {repository}, branch {branch}',
            "Feedback on the assignment": "it's \"$HOME\" `id`"}
    monkeypatch.setattr(feedback_export, "_", lambda message: said.get(message, message))
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4})])
    assert main(["report", str(out)]) == 0
    path, _ = feedback_export.feedback_export(out, "classroom")
    remote, env = _classroom_remote(tmp_path, "ana")
    run = subprocess.run(["sh", str(path)], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.strip() == 'ana: "$HOME" `id` \\n course/a1-ana, branch feedback-a1', run
    log = subprocess.run(["git", "-C", str(remote), "log", "-1", "--format=%s", "feedback-a1"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert log == "it's \"$HOME\" `id`"


@pytest.mark.parametrize("lang, heading, spanish_editions, colab", [
    ("es", "# Matemáticas para Machine Learning: tareas y paquete del estudiante",
     "La edición en español de cada tarea está en `release/<assignment>/es/`.",
     "En Colab, o en cualquier cuaderno, ejecute en cambio esto en una celda de código:"),
    ("en", "# Maths for Deep Learning: assignments and student package",
     "The Spanish edition of each assignment is in `release/<assignment>/es/`.",
     "In Colab, or any notebook, run this in a code cell instead:"),
])
def test_the_published_readme_is_in_the_run_language(monkeypatch, lang, heading, spanish_editions, colab):
    from autograder.student_package import readme

    monkeypatch.setenv("MDL_LANG", lang)
    url = "git+https://example.org/course-student#subdirectory=student"
    text = readme(url, spanish_editions=True)
    lines = text.splitlines()
    assert lines[0] == heading and spanish_editions in lines and colab in lines
    assert lines[2].startswith("Python 3.11, 3.12 " + ("o" if lang == "es" else "or") + " 3.13. ")
    assert f'%pip install "mdl-student @ {url}"' in lines  # the commands themselves are the same in every language
    assert spanish_editions not in readme(url)


# -- argparse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang, words", [
    ("es", {"help": ("uso: mdl [-h]", "argumentos posicionales:", "opciones:",
                     "-h, --help            muestra este mensaje de ayuda y termina",
                     "califica una carpeta de entregas"),
            "grade --help": ("uso: mdl grade [-h] --out OUT", "carpeta de salida para grades.csv"),
            "missing": "mdl grade: error: se requieren los siguientes argumentos: assignment, path, --out",
            "choice": "mdl grade: error: argumento --profile: opción no válida: 'tpu' (elija entre 'cpu', 'gpu')",
            "unknown": "mdl: error: argumentos no reconocidos: --nosuch",
            "jobs": "mdl validate: error: argumento --jobs/-j: debe ser al menos 1; se recibió 0"}),
    ("en", {"help": ("usage: mdl [-h]", "positional arguments:", "options:",
                     "-h, --help            show this help message and exit", "grade a folder of submissions"),
            "grade --help": ("usage: mdl grade [-h] --out OUT", "output folder for grades.csv"),
            "missing": "mdl grade: error: the following arguments are required: assignment, path, --out",
            "choice": "mdl grade: error: argument --profile: invalid choice: 'tpu' (choose from 'cpu', 'gpu')",
            "unknown": "mdl: error: unrecognized arguments: --nosuch",
            "jobs": "mdl validate: error: argument --jobs/-j: must be at least 1, got 0"}),
])
def test_mdl_help_usage_and_argument_errors_are_in_the_run_language(monkeypatch, capsys, lang, words):
    import argparse
    import gettext

    monkeypatch.setenv("MDL_LANG", lang)
    monkeypatch.setenv("COLUMNS", "120")  # argparse wraps at the terminal's width

    def exits(argv: list[str]) -> str:
        with pytest.raises(SystemExit):
            main(argv)
        captured = capsys.readouterr()
        return captured.out + captured.err

    shown = exits(["--help"])
    assert all(w in shown for w in words["help"]), shown
    shown = exits(["grade", "--help"])
    assert all(w in shown for w in words["grade --help"]), shown
    for argv, key in ((["grade"], "missing"), (["grade", "a1", "x", "--out", "y", "--profile", "tpu"], "choice"),
                      (["report", "dir", "--nosuch"], "unknown"), (["validate", "-j", "0"], "jobs")):
        shown = exits(argv)
        assert shown.startswith("uso: " if lang == "es" else "usage: ") and shown.splitlines()[-1] == words[key], shown
    # argparse is itself again afterwards: a parser outside mdl's command line is not translated
    assert argparse._ is gettext.gettext and argparse.ngettext is gettext.ngettext  # type: ignore[attr-defined]


def test_every_argparse_message_a_user_can_meet_is_in_the_catalog():
    """The running Python's argparse: each message it looks up is listed in autograder.argparse_i18n (so
    extracted into mdl.po and translated, tests/test_i18n.py), or is an error for a parser's author."""
    import argparse
    import ast

    from autograder.argparse_i18n import ARGPARSE_MESSAGES, ARGPARSE_PLURALS

    for_the_author = {  # a mistake in the parser's own code, in Python's language as Python's errors are
        "%r is not callable", "'required' is an invalid argument for positionals", ".__call__() not defined",
        'argument "-" with mode %r', "cannot have multiple subparser arguments",
        "cannot merge actions - two groups are named %r", "conflicting option string: %s",
        "conflicting option strings: %s", "conflicting subparser alias: %s", "conflicting subparser: %s",
        "dest= is required for options like %r", "invalid conflict_resolution value: %r",
        "invalid option string %(option)r: must start with a character %(prefix_chars)r",
        "mutually exclusive arguments must be optional"}
    looked_up = set()
    for node in ast.walk(ast.parse(Path(argparse.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext"):
            looked_up |= {a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    assert len(looked_up) >= 30  # the lookups were found at all
    listed = set(ARGPARSE_MESSAGES) | {m for pair in ARGPARSE_PLURALS for m in pair}
    assert not looked_up - listed - for_the_author, "argparse messages missing from autograder/argparse_i18n.py"


# -- the manual questions' pages and sheet --------------------------------------------------------------


@pytest.mark.parametrize("lang, heading, words, refused", [
    ("es", "<h1>q9_projection_proof (2 puntos): todas las respuestas</h1>",
     ("<html lang='es'>", "<h2>Respuesta modelo</h2>", "<h2>Respuestas</h2>", "<em>sin respuesta</em>",
      "Califíquelas en <code>manual_grades.csv</code>", "ejecute <code>mdl report</code> para actualizar"),
     "manual_grades.csv, línea 2: el puntaje 4 está fuera de 0..2 para q9_projection_proof"),
    ("en", "<h1>q9_projection_proof (2 points): every answer</h1>",
     ("<html lang='en'>", "<h2>Model answer</h2>", "<h2>Answers</h2>", "<em>no answer</em>",
      "Grade them in <code>manual_grades.csv</code>", "then run <code>mdl report</code> to refresh"),
     "manual_grades.csv line 2: score 4 is outside 0..2 for q9_projection_proof"),
])
def test_the_manual_grading_page_and_sheet_errors_are_in_the_run_language(monkeypatch, capsys, tmp_path, lang,
                                                                           heading, words, refused):
    from autograder.manual import MANUAL_GRADES

    monkeypatch.setenv("MDL_LANG", lang)
    manual = {"q9_projection_proof": {"points": 2.0, "answer": "Since $P^2 = P$, it is a projection."}}
    out = write_records(tmp_path / "out", [make_record("ana", {"q1_affine": 4}, manual=manual),
                                           make_record("ben", {}, manual={"q9_projection_proof": {"points": 2.0,
                                                                                                    "answer": ""}})])
    assert main(["report", str(out), "--lang", lang]) == 0  # writes the sheet and a page per manual question
    capsys.readouterr()
    page = (out / "manual" / "q9_projection_proof.html").read_text()
    assert heading in page and all(w in page for w in words), page[:1500]
    assert "<math" in page  # the answers themselves are shown as they were written
    (out / MANUAL_GRADES).write_text("student,grade_id,score,comment\nana,q9_projection_proof,4,\n")
    assert main(["report", str(out), "--lang", lang]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mdl report: error: ") and err.endswith(refused), err
