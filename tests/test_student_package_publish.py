"""`mdl student-package --out DIR`: a wheel and a repository with the releases and the student package only.

The course repository holds the solutions and hidden tests (source/), so students are given this
instead: nothing of source/, build/, the grader or its tests; the install URL filled into every
release; the README says the Python versions, the Colab line and the capstone's CPU torch command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from grading_config import ASSIGNMENTS, PATHS
from autograder.cli import main
from autograder.student_package import TOKEN, fill_install_url, student_package

URL = "git+https://github.com/mdl-course/mdl-2026-student#subdirectory=student"


def test_the_token_and_the_older_placeholders_become_the_course_url():
    text = ('pip install "mdl-student @ git+https://github.com/<org>/<course>#subdirectory=student"\n'
            'pip install "mdl-student @ git+https://github.com/<org>/<repo>#subdirectory=student"\n'
            f'%pip install "mdl-student @ {TOKEN}"')
    filled = fill_install_url(text, URL)
    assert filled.count(URL) == 3 and "<org>" not in filled and TOKEN not in filled


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    return out, student_package(out, URL)


def test_the_repository_holds_the_releases_and_the_package_and_nothing_of_the_course(published):
    out, written = published
    repo = written["repo"]
    assert sorted(p.name for p in repo.iterdir()) == [".gitignore", "README.md", "release", "student"]
    assert {p.name for p in (repo / "release").iterdir()} == {a.id for a in ASSIGNMENTS if (PATHS.release / a.id).is_dir()}
    assert (repo / "student" / "pyproject.toml").is_file() and (repo / "student" / "mdl_student" / "checks").exists()
    every_file = "\n".join(p.read_text(errors="replace") for p in repo.rglob("*") if p.is_file())
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN", "import autograder", "from autograder", "import grading_config"):
        assert secret not in every_file, secret
    assert not list(repo.rglob("source")) and not list(repo.rglob("*.egg-info"))


def test_every_release_carries_the_install_url_and_no_placeholder(published):
    _, written = published
    for notebook in (written["repo"] / "release").rglob("*.ipynb"):
        text = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
        assert "<org>" not in text and TOKEN not in text, notebook
        assert URL in text, f"{notebook}: no install line"


def test_the_readme_says_python_versions_colab_and_the_cpu_torch_command(published):
    readme = (published[1]["repo"] / "README.md").read_text()
    assert "3.11, 3.12 or 3.13" in readme and f'%pip install "mdl-student @ {URL}"' in readme
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in readme
    assert f'pip install "mdl-student[capstone] @ {URL}"' in readme


def test_the_wheel_is_the_student_package_alone(published):
    wheel = published[1]["wheel"]
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("mdl_student/checks") for n in names)
    assert not [n for n in names if n.split("/")[0] not in ("mdl_student",) and ".dist-info" not in n]
    metadata = next(n for n in names if n.endswith("METADATA"))
    assert "Requires-Python: <3.14,>=3.11" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_mdl_student_package_warns_while_the_url_is_a_placeholder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("grading_config.STUDENT_PACKAGE_URL", "git+https://github.com/<org>/<course>-student#subdirectory=student")
    assert main(["student-package", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "repository to publish" in captured.out and "still a placeholder" in captured.err


def test_each_published_release_has_a_colab_ready_install_cell_the_grader_skips(published):
    from IPython.core.inputtransformer2 import TransformerManager

    from autograder.notebook_meta import is_skipped_cell

    for notebook in (published[1]["repo"] / "release").rglob("*.ipynb"):
        cell = json.loads(notebook.read_text())["cells"][1]
        assert cell["cell_type"] == "code" and is_skipped_cell(cell), notebook
        assert "%pip install -q" in cell["source"] and URL in cell["source"]
        spanish = notebook.parent.name == "es"  # the Spanish edition's cell says it in Spanish
        assert ("# Python 3.11, 3.12 o 3.13. En Colab" if spanish else "# Python 3.11, 3.12 or 3.13. In Colab") \
            in cell["source"], cell["source"]
        capstone = notebook.relative_to(published[1]["repo"] / "release").parts[0] == "capstone"
        assert ("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in cell["source"]) == capstone
        # where the package is importable (here, and in the grader's sandbox) the cell installs nothing
        calls = []
        namespace = {"get_ipython": lambda: type("Shell", (), {"run_line_magic": lambda self, *a: calls.append(a)})()}
        exec(TransformerManager().transform_cell(cell["source"]), namespace)
        assert calls == [], notebook


def test_the_build_fills_the_courses_install_url_into_every_release(tmp_path, monkeypatch):
    """issue 26: one course setting, filled into every release at build (not only at publishing)."""
    import grading_config
    from autograder.build import generate_releases

    monkeypatch.setattr("grading_config.STUDENT_PACKAGE_URL", URL)
    generate_releases([grading_config.assignment("a1")], tmp_path)
    text = json.dumps(json.loads((tmp_path / "a1" / "a1.ipynb").read_text())["cells"][0]["source"])
    assert URL in text and "<org>/<course>#" not in text and TOKEN not in text


def test_the_committed_releases_carry_the_configured_url():
    import grading_config

    for notebook in PATHS.release.rglob("*.ipynb"):
        text = notebook.read_text()
        assert TOKEN not in text and "<org>/<course>#" not in text and "<org>/<repo>#" not in text, notebook
        if "mdl-student @" in text:
            assert grading_config.STUDENT_PACKAGE_URL in text.replace('\\"', '"'), notebook
