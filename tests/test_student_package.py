"""The student package is what students install and the only course code the sandbox can import.

- inside the sandbox, `mdl_student` imports and the grader's code (`autograder`, `grading_config`,
  the instructors' `rlhf_capstone` with its reference losses) does not;
- the student package holds no import of grading code;
- every release's visible tests run and pass in an environment that has only the student package
  (the sandbox is such an environment), with the source's answers filled in.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import nbformat
import pytest

from grading_config import ASSIGNMENTS, LIMITS, PATHS, ROOT
from autograder.notebook_meta import is_skipped_cell, is_solution_cell
from autograder.sandbox import Kernel, isolation

STUDENT_PACKAGE = ROOT / "student" / "mdl_student"
GRADER_MODULES = ("autograder", "autograder.grade", "grading_config", "rlhf_capstone", "rlhf_capstone.losses",
                  "rlhf_capstone.grading")

needs_bubblewrap = pytest.mark.skipif(
    isolation().mechanism != "bubblewrap",
    reason="without bubblewrap the kernel can read the whole course (README: Sandbox); nothing to check here",
)


@needs_bubblewrap
def test_the_sandbox_imports_the_student_package_and_nothing_else_of_the_course():
    release = PATHS.release / "a1" / "a1.ipynb"
    with Kernel({"a1.ipynb": release}, limits=LIMITS) as kernel:
        reply = kernel.run_cell("import mdl_student.checks, mdl_student.safe_sympy, importlib.util\n"
                                "assert importlib.util.find_spec('mdl_student.capstone.train') is not None", 30)
        assert reply["ok"], reply
        for module in GRADER_MODULES:
            reply = kernel.run_cell(f"import {module}", 10)
            assert not reply["ok"] and reply["error_type"] == "ModuleNotFoundError", (module, reply)


def test_the_student_package_imports_no_grading_code():
    """Static: no module of the package imports the grader, the config or the reference losses."""
    forbidden = ("autograder", "grading_config", "rlhf_capstone")
    for path in STUDENT_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            bad = [n for n in names if n.split(".")[0] in forbidden]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the student package must stand alone"


def _answered_release(assignment_id: str) -> list[str]:
    """The release's code cells with each answer cell taken from the source (its solution)."""
    release = nbformat.read(PATHS.release / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    source = nbformat.read(PATHS.source / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells if is_solution_cell(c)}
    cells = []
    for cell in release.cells:
        if cell.cell_type != "code" or is_skipped_cell(cell):
            continue
        cells.append(solutions[cell.metadata["nbgrader"]["grade_id"]] if is_solution_cell(cell) else cell.source)
    return cells


@needs_bubblewrap
@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", [a.id for a in ASSIGNMENTS])
def test_every_release_runs_its_visible_tests_with_only_the_student_package(assignment_id):
    limits = dataclasses.replace(LIMITS, seconds_per_cell=120.0, seconds_per_notebook=600.0)
    release = PATHS.release / assignment_id / f"{assignment_id}.ipynb"
    with Kernel({release.name: release}, limits=limits) as kernel:
        for number, code in enumerate(_answered_release(assignment_id), 1):
            reply = kernel.run_cell(code, 120)
            assert reply["ok"], f"{assignment_id}, code cell {number}: {reply.get('error_type')}: {reply.get('error')}"
