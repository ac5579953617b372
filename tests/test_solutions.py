"""The worked UDL solutions in solutions/ run, check their answers, and render.

Every notebook ends with a cell of plain ``assert`` statements that re-derive
the answer independently of the typed one. These tests execute each notebook
in a fresh kernel (the interpreter running pytest, via the same runner as
``solutions/render_html.py``), prove on a few notebooks that the checks really
fail when the stated answer is wrong, and render one notebook to HTML.

The notebooks are independent (each runs in its own kernel, in solutions/,
and writes no files), so one session fixture runs all of them, and the
mutated copies, side by side; the first test that needs it pays for all
(about 60 s of CPU in total, so about half a minute of wall time on two free
cores). The static tests (format, README) are fast and not marked slow.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = REPO_ROOT / "solutions"


def _load_runner():
    spec = importlib.util.spec_from_file_location("solutions_render_html", SOLUTIONS_DIR / "render_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
NOTEBOOKS = runner.solution_notebooks(SOLUTIONS_DIR)
NOTEBOOK_IDS = [path.stem for path in NOTEBOOKS]

# A line "name = expression  # ANSWER" holds a stated answer; the mutation test doubles it.
ANSWER_LINE = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.+?)\s*#\s*ANSWER\s*$", re.MULTILINE)
# Notebooks whose first stated answer is doubled, one per kind of check:
# symbolic differentiation, symbolic integration, exact matrix algebra, an exact count.
MUTATION_TARGETS = ["udl_7_12_13", "udl_9_3", "udl_16_4", "udl_4_8"]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _failure_message(name: str, error: Exception) -> str:
    if isinstance(error, CellExecutionError):
        return f"{name}: a cell failed with {error.ename}: {error.evalue}\n\n{error}"
    return f"{name} did not finish: {type(error).__name__}: {error}"


def _double_first_answer(nb: nbformat.NotebookNode) -> str:
    """Replace the first "name = value  # ANSWER" by "name = 2 * (value)"; return the new line."""
    for cell in _code_cells(nb):
        match = ANSWER_LINE.search(cell.source)
        if match:
            mutated = f"{match['indent']}{match['name']} = 2 * ({match['value']})  # ANSWER"
            cell.source = cell.source[:match.start()] + mutated + cell.source[match.end():]
            return mutated.strip()
    raise AssertionError("no line marked '# ANSWER'")


@pytest.fixture(scope="session")
def executed() -> dict[tuple[str, str], tuple[nbformat.NotebookNode, object]]:
    """Every solution notebook, the mutated ones and a kernel probe, run side by side once.

    Keys are ("original", stem), ("mutated", stem) and ("probe", "kernel");
    values are (executed notebook, result), the result being the notebook or
    the exception (usually a CellExecutionError) that stopped it.
    """
    jobs = {("original", path.stem): _read(path) for path in NOTEBOOKS}
    for name in MUTATION_TARGETS:
        nb = _read(SOLUTIONS_DIR / f"{name}.ipynb")
        nb.metadata["mutated_line"] = _double_first_answer(nb)
        jobs[("mutated", name)] = nb
    probe = nbformat.v4.new_notebook()
    probe.cells = [nbformat.v4.new_code_cell("import sys; print(sys.executable)")]
    jobs[("probe", "kernel")] = probe
    results = runner.execute_notebooks(list(jobs.values()), cwd=SOLUTIONS_DIR)
    return {key: (nb, result) for (key, nb), result in zip(jobs.items(), results)}


def test_there_are_at_least_fifteen_solutions():
    assert len(NOTEBOOKS) >= 15, [path.name for path in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_runs_and_its_checks_pass(path: Path, executed):
    nb, result = executed[("original", path.stem)]
    if isinstance(result, Exception):
        pytest.fail(_failure_message(path.name, result), pytrace=False)
    final_output = "".join(output.get("text", "") for output in _code_cells(nb)[-1].outputs)
    assert "All checks passed." in final_output, f"{path.name}: the check cell did not finish"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_is_well_formed(path: Path):
    """Stored without outputs, titled, ending in an assert-based check of a marked answer."""
    nb = _read(path)
    nbformat.validate(nb)
    code_cells = _code_cells(nb)
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells), (
        f"{path.name} is stored with outputs: clear them before committing")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# UDL Problem"), (
        f"{path.name} must open with a '# UDL Problem ...' title")
    assert nb.cells[-1].cell_type == "code" and re.search(r"^\s*assert\b", nb.cells[-1].source, re.MULTILINE), (
        f"{path.name} must end with a code cell of assert statements")
    assert any(ANSWER_LINE.search(cell.source) for cell in code_cells), (
        f"{path.name} has no line marked '# ANSWER'")
    assert path.stat().st_size < 60_000, f"{path.name} is unexpectedly large"


def test_readme_indexes_every_notebook():
    readme = (SOLUTIONS_DIR / "README.md").read_text(encoding="utf-8")
    missing = [path.name for path in NOTEBOOKS if f"({path.name})" not in readme]
    assert not missing, f"solutions/README.md does not link {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", MUTATION_TARGETS)
def test_check_fails_when_the_stated_answer_is_wrong(name: str, executed):
    nb, result = executed[("mutated", name)]
    mutated_line = nb.metadata["mutated_line"]
    assert isinstance(result, Exception), f"{name} still passes with `{mutated_line}`"
    assert isinstance(result, CellExecutionError), _failure_message(name, result)
    assert result.ename == "AssertionError", (
        f"{name} with `{mutated_line}` failed for another reason: {result.ename}: {result.evalue}")
    failed = [cell for cell in _code_cells(nb) if any(o.get("output_type") == "error" for o in cell.outputs)]
    assert failed == [_code_cells(nb)[-1]], f"{name}: the mutation broke a cell before the check cell"


@pytest.mark.slow
def test_kernel_is_the_interpreter_running_the_tests(executed):
    nb, result = executed[("probe", "kernel")]
    assert not isinstance(result, Exception), _failure_message("the kernel probe", result)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.executable


@pytest.mark.slow
def test_render_html_has_the_title_and_an_embedded_figure(tmp_path: Path):
    notebook = SOLUTIONS_DIR / "udl_4_8.ipynb"
    exit_code = runner.main(["--out", str(tmp_path), str(notebook)])
    assert exit_code == 0
    page = (tmp_path / "udl_4_8.html").read_text(encoding="utf-8")
    assert "UDL Problem 4.8" in page
    assert re.search(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{100,}', page), "no embedded PNG figure"
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="udl_4_8.html"' in index and "UDL Problem 4.8" in index
