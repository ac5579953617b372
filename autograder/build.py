"""`mdl build`: student releases through nbgrader, grading bundles through the compiler.

The pipeline, one step per function:

1. ``generate_releases`` -- nbgrader's generate_assignment, through its Python
   API, one process for all assignments: solutions become stubs, hidden tests
   are cut, test cells are locked;
2. ``check_release_for_leaks`` -- refuse a release that still holds any line
   of a solution or of a hidden test, naming the offending cell;
3. ``write_bundle`` -- compile the test cells into otter test files under
   ``build/<a>/``;
4. ``compare_releases`` (``--check``) -- is the committed ``release/`` what
   the build would write?
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

import grading_config
from grading_config import ASSIGNMENTS, LANGUAGES, PATHS, Assignment

from autograder.i18n import _
from autograder.compile_tests import (
    BUNDLE_FORMAT, END_HIDDEN, BEGIN_HIDDEN, Manifest, python_source, split_hidden, write_bundle)
from autograder.install_url import fill_notebook
from autograder.notebook_meta import SOURCE_LANGUAGE, cell_language, edition, languages_of, release_dir
from autograder.notebook_meta import is_solution_cell, is_test_cell, nbgrader_meta

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
MIN_SECRET_LINE = 12  # shorter lines ("return x", ")") are too common to call a leak


class BuildError(RuntimeError):
    """The build cannot produce a safe release; the message says which notebook and cell."""


@dataclass
class BuildResult:
    assignment: str
    release: Path
    manifest: Manifest
    lang: str = SOURCE_LANGUAGE


def _nbgrader_api(release_root: Path, db_dir: Path, source_root: Path):  # type: ignore[no-untyped-def]
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader shells out to alembic for its database: the venv's bin must be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = Config()
    config.CourseDirectory.root = str(PATHS.root)
    config.CourseDirectory.source_directory = str(source_root)
    config.CourseDirectory.release_directory = str(release_root)
    config.CourseDirectory.db_url = f"sqlite:///{db_dir / 'gradebook.db'}"
    config.CourseDirectory.course_id = "maths-for-deep-learning"
    config.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.egg-info"]
    config.Exchange.root = str(db_dir / "exchange")
    return NbGraderAPI(config=config)


def generate_releases(assignments: list[Assignment], release_root: Path, lang: str = SOURCE_LANGUAGE) -> None:
    """Run nbgrader generate_assignment for every assignment's ``lang`` edition, in this one process.

    nbgrader reads a copy of each source folder whose notebook holds only that edition's cells."""
    with tempfile.TemporaryDirectory(prefix="mdl-nbgrader-") as db_dir:
        source_root = Path(db_dir) / "source"
        for a in assignments:
            shutil.copytree(PATHS.source / a.id, source_root / a.id,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            nb = nbformat.read(PATHS.source / a.id / a.notebook, as_version=4)
            nbformat.write(fill_notebook(edition(nb, lang), grading_config.STUDENT_PACKAGE_URL), source_root / a.id / a.notebook)
        api = _nbgrader_api(release_root, Path(db_dir), source_root)
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        for a in assignments:
            result = api.generate_assignment(a.id, force=True, create=True)
            if not result.get("success"):
                log = (result.get("error") or "") + (result.get("log") or "")
                raise BuildError(_("nbgrader could not generate the release of {assignment}: {reason}").format(
                    assignment=a.id, reason=_nbgrader_reason(log)))


def _nbgrader_reason(log: str) -> str:
    """The line of nbgrader's log that says what went wrong (its tracebacks are for nbgrader's developers)."""
    lines = [line.strip().removeprefix("[ERROR]").strip() for line in log.splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    said = [line for line in lines if not line.startswith(("Traceback", "File ", "^", "raise "))]
    return (raised or said or [_("no reason given")])[-1][:300]


def check_source_cells(path: Path) -> None:
    """Refuse, naming the cell, what nbgrader would fail on with a traceback: a solution or hidden-test
    region without its END (or END without BEGIN), a grade_id missing or used twice, a graded cell without points.

    A cell of one language edition (tagged ``lang:es``) may repeat the grade_id of its twin in the other:
    grade ids are unique within each edition, and both editions carry the same ones."""
    nb = nbformat.read(path, as_version=4)
    for lang in sorted(languages_of(nb)):
        used: dict[str, int] = {}
        for index, cell in enumerate(nb.cells, start=1):
            if cell_language(cell) not in (None, lang):
                continue
            meta = nbgrader_meta(cell)
            grade_id = meta.get("grade_id")
            where = _("{notebook} cell {index}").format(notebook=path.name, index=index) + (f" ({grade_id})" if grade_id else "")
            _check_region(cell.source, where, BEGIN_SOLUTION, END_SOLUTION)
            _check_region(cell.source, where, BEGIN_HIDDEN, END_HIDDEN)
            if not (meta.get("grade") or meta.get("solution") or meta.get("locked")):
                continue
            if not grade_id:
                raise BuildError(_("{where}: a cell with nbgrader metadata needs a grade_id").format(where=where))
            if grade_id in used:
                raise BuildError(_("{where}: grade_id {grade_id} is also the grade_id of cell {other}; each cell needs its own").format(
                    where=where, grade_id=repr(grade_id), other=used[grade_id]))
            used[grade_id] = index
            points = meta.get("points")
            if meta.get("grade") and (isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0):
                raise BuildError(_("{where}: a graded cell needs points (nbgrader metadata \"points\": a number above 0), got {points}").format(
                    where=where, points=repr(points)))


def _check_region(source: str, where: str, begin: str, end: str) -> None:
    inside = False
    for line in source.splitlines():
        if line.strip() == begin:
            if inside:
                raise BuildError(_("{where}: {begin} inside another {begin}").format(where=where, begin=begin))
            inside = True
        elif line.strip() == end:
            if not inside:
                raise BuildError(_("{where}: {end} without {begin} before it").format(where=where, end=end, begin=begin))
            inside = False
    if inside:
        raise BuildError(_("{where}: {begin} has no {end}").format(where=where, begin=begin, end=end))


def _secret_lines(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """Lines that only the instructor may see: {line: grade_id of the cell it comes from}."""
    secrets: dict[str, str] = {}
    public: set[str] = set()
    for cell in source_nb.cells:
        grade_id = str(nbgrader_meta(cell).get("grade_id", "?"))
        lines = cell.source.splitlines()
        if is_test_cell(cell):
            visible, hidden = split_hidden(cell.source, grade_id)
            public.update(l.strip() for l in visible.splitlines())
            secrets.update({l.strip(): grade_id for l in hidden.splitlines()})
        elif is_solution_cell(cell):
            # a Markdown answer (manually graded) without markers is replaced whole by nbgrader
            inside = cell.cell_type == "markdown" and BEGIN_SOLUTION not in cell.source
            for line in lines:
                if line.strip() == BEGIN_SOLUTION:
                    inside = True
                elif line.strip() == END_SOLUTION:
                    inside = False
                else:
                    (secrets.__setitem__(line.strip(), grade_id) if inside else public.add(line.strip()))
        else:
            public.update(l.strip() for l in lines)
    return {
        line: gid
        for line, gid in secrets.items()
        if len(line) >= MIN_SECRET_LINE and line not in public and not line.startswith("#")
    }


def check_release_for_leaks(source_path: Path, release_path: Path) -> None:
    """Fail if the release holds a marker or any line of a solution or hidden test."""
    source_nb = nbformat.read(source_path, as_version=4)
    release_nb = nbformat.read(release_path, as_version=4)
    secrets = _secret_lines(source_nb)
    markers = (BEGIN_HIDDEN, END_HIDDEN, BEGIN_SOLUTION, END_SOLUTION)
    for index, cell in enumerate(release_nb.cells):
        where = _("{notebook} cell {index}").format(notebook=release_path, index=index + 1) + \
            f" ({nbgrader_meta(cell).get('grade_id', cell.cell_type)})"
        for line in cell.source.splitlines():
            stripped = line.strip()
            if any(m.strip("# ") in stripped for m in markers):
                raise BuildError(_("{where}: the release still contains the marker {marker}").format(where=where, marker=repr(stripped)))
            if stripped in secrets:
                raise BuildError(_(
                    "{where}: the release contains a line of the solution or hidden tests of {grade_id}: {line}. "
                    "Move it inside the solution or hidden region, or out of it on purpose.").format(
                        where=where, grade_id=repr(secrets[stripped]), line=repr(stripped[:80])))
        if cell.cell_type == "code" and cell.get("outputs"):
            raise BuildError(_("{where}: the release keeps outputs; clear the source notebook's outputs").format(where=where))


def _normalised(path: Path) -> object:
    return json.loads(path.read_text())


def _edition_files(folder: Path, lang: str) -> set[Path]:
    """An edition's files under its release folder (the English folder holds the other editions' folders)."""
    if not folder.is_dir():
        return set()
    others = {folder / other for other in LANGUAGES if other != SOURCE_LANGUAGE} if lang == SOURCE_LANGUAGE else set()
    return {p.relative_to(folder) for p in folder.rglob("*")
            if p.is_file() and not any(o in p.parents for o in others)}


def compare_releases(built_root: Path, committed_root: Path, assignments: list[Assignment],
                     lang: str = SOURCE_LANGUAGE) -> list[str]:
    """Names of release files that differ between a fresh build of ``lang`` and the committed release/."""
    stale = []
    for a in assignments:
        built_dir, committed_dir = release_dir(built_root, a.id, lang), release_dir(committed_root, a.id, lang)
        names = _edition_files(built_dir, lang) | _edition_files(committed_dir, lang)
        for name in sorted(names):
            built, committed = built_dir / name, committed_dir / name
            if not built.exists() or not committed.exists():
                stale.append(str(committed))
            elif name.suffix == ".ipynb":
                if _normalised(built) != _normalised(committed):
                    stale.append(str(committed))
            elif built.read_bytes() != committed.read_bytes():
                stale.append(str(committed))
    return stale


def _editions(a: Assignment, lang: str | None) -> list[str]:
    """The editions to build: ``lang``, or every edition the source notebook has."""
    path = PATHS.source / a.id / a.notebook
    has = languages_of(nbformat.read(path, as_version=4))
    if lang is None:
        return [code for code in LANGUAGES if code in has]
    if lang not in LANGUAGES:
        raise BuildError(_("unknown language {lang}; the course's languages: {languages} "
                           "(grading_config.py, LANGUAGES)").format(lang=repr(lang), languages=", ".join(LANGUAGES)))
    if lang not in has:
        raise BuildError(_("{source} has no cells tagged lang:{lang}: add its translation "
                           "(python scripts/add_edition.py {assignment} {lang}; README, 'The course in Spanish')").format(
            source=f"source/{a.id}/{a.notebook}", lang=lang, assignment=a.id))
    return [lang]


def _install_edition(staged: Path, a: Assignment, lang: str) -> None:
    """Replace one edition's committed release by the staged one, leaving the other editions alone."""
    source, target = release_dir(staged, a.id, lang), release_dir(PATHS.release, a.id, lang)
    for name in _edition_files(target, lang):
        (target / name).unlink()
    for name in _edition_files(source, lang):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def build(assignment_ids: list[str] | None = None, *, check: bool = False,
          lang: str | None = None) -> list[BuildResult]:
    """Build releases and grading bundles; with ``check``, only compare against release/.

    ``lang``: one edition (``en``, ``es``); by default every edition each source notebook has."""
    assignments = [a for a in ASSIGNMENTS if not assignment_ids or a.id in assignment_ids]
    unknown = set(assignment_ids or []) - {a.id for a in assignments}
    if unknown:
        known = ", ".join(a.id for a in ASSIGNMENTS)
        raise BuildError(_("unknown assignment(s): {unknown}; known: {known} "
                           "(assignments are registered in grading_config.py, ASSIGNMENTS)").format(
            unknown=", ".join(sorted(unknown)), known=known))
    missing = [a for a in assignments if not (PATHS.source / a.id / a.notebook).exists()]
    if missing:
        raise BuildError(_("no source notebook for: {notebooks}").format(
            notebooks=", ".join(f"source/{a.id}/{a.notebook}" for a in missing)))
    for a in assignments:
        check_source_cells(PATHS.source / a.id / a.notebook)
    if lang and not assignment_ids:  # `mdl build --lang es`: every assignment that has a Spanish edition
        assignments = [a for a in assignments
                       if lang in languages_of(nbformat.read(PATHS.source / a.id / a.notebook, as_version=4))]
        if not assignments:
            raise BuildError(_("no source notebook has cells tagged lang:{lang} yet (README, 'The course in Spanish')").format(
                lang=lang))
    editions = {a.id: _editions(a, lang) for a in assignments}
    with tempfile.TemporaryDirectory(prefix="mdl-release-") as tmp:
        staged = Path(tmp) / "release"
        results = []
        manifests = {a.id: write_bundle(PATHS.source / a.id / a.notebook, a.id, PATHS.build / a.id)
                     for a in assignments}
        for code in LANGUAGES:
            chosen = [a for a in assignments if code in editions[a.id]]
            if not chosen:
                continue
            with tempfile.TemporaryDirectory(prefix=f"mdl-release-{code}-") as out:
                generate_releases(chosen, Path(out), code)
                for a in chosen:
                    shutil.copytree(Path(out) / a.id, release_dir(staged, a.id, code), dirs_exist_ok=True)
            for a in chosen:
                check_release_for_leaks(PATHS.source / a.id / a.notebook,
                                        release_dir(staged, a.id, code) / a.notebook)
                results.append(BuildResult(a.id, release_dir(PATHS.release, a.id, code) / a.notebook,
                                           manifests[a.id], code))
        if check:
            stale = [name for code in LANGUAGES
                     for name in compare_releases(staged, PATHS.release,
                                                  [a for a in assignments if code in editions[a.id]], code)]
            if stale:
                raise BuildError(_("release/ is out of date with source/ (run `mdl build` and commit): {files}").format(
                    files=", ".join(stale)))
            return results
        for a in assignments:
            for code in editions[a.id]:
                _install_edition(staged, a, code)
    return results


def bundle_is_fresh(assignment: Assignment) -> bool:
    """Is build/<a>/ compiled from the current source notebook?"""
    import hashlib

    manifest_path = PATHS.build / assignment.id / "manifest.json"
    source = PATHS.source / assignment.id / assignment.notebook
    if not manifest_path.exists() or not source.exists():
        return False
    manifest = Manifest.from_json(manifest_path.read_text())
    return manifest.bundle_format == BUNDLE_FORMAT and \
        manifest.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def ensure_bundle(assignment: Assignment) -> Manifest:
    """Compile the grading bundle if it is missing or stale (grading never uses old tests)."""
    if not bundle_is_fresh(assignment):
        write_bundle(PATHS.source / assignment.id / assignment.notebook, assignment.id, PATHS.build / assignment.id)
    return Manifest.from_json((PATHS.build / assignment.id / "manifest.json").read_text())


__all__ = ["build", "BuildError", "ensure_bundle", "check_release_for_leaks", "python_source"]
