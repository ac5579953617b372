"""``mdl student-package --out DIR``: what a course publishes for students, apart from the private course repository.

The course repository holds ``source/`` (solutions, hidden tests) and the grader, so students cannot
be given read access to it. This writes what they need and nothing else:

* ``DIR/dist/mdl_student-<version>-py3-none-any.whl``: the student package as a wheel;
* ``DIR/repo/``: a repository to publish (public, or shared with the class): ``student/`` (the
  package's source, so ``pip install "mdl-student @ git+https://.../<repo>#subdirectory=student"``
  works), ``release/`` (every assignment's release folder) and a README with the install commands.
  Each published release gets, after its first cell, a Colab-ready code cell (tagged
  ``skip-when-grading``, a no-op where the package is importable) that installs the package, and
  for the capstone PyTorch's CPU build first.

Every release notebook in ``DIR/repo`` gets the course's install URL (``grading_config.STUDENT_PACKAGE_URL``,
or ``--url``) in place of the token ``{{STUDENT_PACKAGE_URL}}`` and of the older placeholders
``git+https://github.com/<org>/<course>#subdirectory=student`` (and ``<org>/<repo>``). Nothing of
``source/``, ``build/``, ``solutions/``, the grader or its tests is copied, and the copy is refused
if any file in it still holds a solution or hidden-test marker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grading_config
from grading_config import ASSIGNMENTS, PATHS, ROOT
from mdl_student.i18n import current_language

from autograder.i18n import N_, _, gettext_in
from autograder.install_url import TOKEN, fill_install_url, fill_notebook
from autograder.out_folder import atomic_write_text

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
VERSIONS_SAID = N_("{versions} or {last}")
INSTALL_SAYS = N_("Python {versions}. In Colab, or a Jupyter without the course's student package, this cell\n"
                  "installs what the notebook needs (once); where it is installed already, it does nothing.")
TORCH_SAYS = N_("PyTorch's CPU build (the default index serves CUDA)")
CPU_TORCH = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".ipynb_checkpoints")


class PackageError(ValueError):
    """The student package cannot be published as asked (one line)."""


SKIP_TAG = "skip-when-grading"  # autograder.notebook_meta.SKIP_TAG: the grader never runs such a cell


def python_versions(lang: str) -> str:
    """The Pythons students may use, said in ``lang``: "3.11, 3.12 or 3.13"."""
    return gettext_in(lang, VERSIONS_SAID).format(versions=", ".join(SUPPORTED_PYTHONS[:-1]), last=SUPPORTED_PYTHONS[-1])


def install_cell(url: str, capstone: bool, lang: str = "en") -> dict:
    """A code cell that installs what the notebook needs where it is missing (Colab, a fresh Jupyter).

    Tagged skip-when-grading, and a no-op where the package is importable (the grader's sandbox), so a
    submission that lost the tag costs nothing either. Its comments are in ``lang``, the edition's language."""
    says = gettext_in(lang, INSTALL_SAYS).format(versions=python_versions(lang))
    lines = [*("# " + line for line in says.splitlines()), "import importlib.util", ""]
    if capstone:
        lines += ['if importlib.util.find_spec("torch") is None:  # ' + gettext_in(lang, TORCH_SAYS),
                  f"    %pip install -q {CPU_TORCH.removeprefix('pip install ')}"]
    extra = "[capstone]" if capstone else ""
    lines += ['if importlib.util.find_spec("mdl_student") is None:', f'    %pip install -q "mdl-student{extra} @ {url}"']
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": [SKIP_TAG]}, "outputs": [],
            "source": "\n".join(lines)}


def _filled_notebook(path: Path, url: str, capstone: bool = False) -> str:
    # A release carries the URL `mdl build` filled in (grading_config's); --url publishes another.
    nb = fill_notebook(json.loads(path.read_text(encoding="utf-8")), url, also=(grading_config.STUDENT_PACKAGE_URL,))
    edition = path.parent.name if path.parent.name in grading_config.LANGUAGES else "en"  # release/<a>/es/<a>.ipynb
    nb["cells"].insert(1 if nb.get("cells") else 0, install_cell(url, capstone, edition))
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def readme(url: str, spanish_editions: bool = False) -> str:
    """The published repository's README.md, in the run's language (MDL_LANG): install commands and where things are."""
    versions = python_versions(current_language())
    where = [_("Python {versions}. Each assignment is a notebook in `release/<assignment>/`: download its folder and\n"
               "open the notebook in Jupyter (or upload it to Colab).").format(versions=versions)]
    if spanish_editions:
        where.append(_("The Spanish edition of each assignment is in `release/<assignment>/es/`."))
    where.append(_("Install the student package once into the environment your kernel uses (it runs the visible\n"
                   "tests; it holds no solutions):"))
    title = _("Maths for Deep Learning: assignments and student package")
    colab = _("In Colab, or any notebook, run this in a code cell instead:")
    capstone = _("The RLHF capstone also needs PyTorch and Hugging Face's libraries. Install PyTorch's CPU build first\n"
                 "(the default index serves a multi-GB CUDA build), then the package's capstone extra:")
    return f"""# {title}

{chr(10).join(where)}

```bash
pip install "mdl-student @ {url}"
```

{colab}

```
%pip install "mdl-student @ {url}"
```

{capstone}

```bash
{CPU_TORCH}
pip install "mdl-student[capstone] @ {url}"
```
"""


def _wheel(out: Path) -> Path:
    dist = out / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    with_tmp = out / ".wheel-build"
    shutil.copytree(ROOT / "student", with_tmp, ignore=IGNORED, dirs_exist_ok=True)
    try:
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                              "--disable-pip-version-check", "-w", str(dist), str(with_tmp)],
                             capture_output=True, text=True)
    finally:
        shutil.rmtree(with_tmp, ignore_errors=True)
    if run.returncode != 0:
        raise PackageError(_("pip wheel ./student failed: {error}").format(
            error=(run.stderr.strip().splitlines() or ["?"])[-1]))
    return sorted(dist.glob("mdl_student-*.whl"))[-1]


def _refuse_secrets(repo: Path) -> None:
    for path in repo.rglob("*"):
        if path.is_file() and path.suffix in (".ipynb", ".py", ".md", ".txt", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            found = [m for m in MARKERS if m in text]
            if found:
                raise PackageError(_("{path} holds {marker}: nothing was published").format(
                    path=path.relative_to(repo), marker=repr(found[0])))


def student_package(out: Path, url: str | None = None) -> dict[str, Path]:
    """Write DIR/dist/<wheel> and DIR/repo/ (student/, release/, README.md); returns their paths."""
    url = url or grading_config.STUDENT_PACKAGE_URL
    repo = out / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(ROOT / "student", repo / "student", ignore=IGNORED)
    for assignment in ASSIGNMENTS:
        folder = PATHS.release / assignment.id
        if not folder.is_dir():
            continue
        shutil.copytree(folder, repo / "release" / assignment.id, ignore=IGNORED)
        for notebook in (repo / "release" / assignment.id).rglob("*.ipynb"):
            atomic_write_text(notebook, _filled_notebook(notebook, url, assignment.capstone))
    atomic_write_text(repo / "README.md", readme(url, spanish_editions=any((repo / "release").glob("*/es/*.ipynb"))))
    atomic_write_text(repo / ".gitignore", "__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n")
    _refuse_secrets(repo)
    return {"wheel": _wheel(out), "repo": repo}


__all__ = ["PackageError", "TOKEN", "fill_install_url", "student_package"]
