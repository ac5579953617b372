"""Execute the worked UDL solutions and render them to HTML.

Usage (from the repository root):

    python solutions/render_html.py --out build/solutions-html

Every ``solutions/udl_*.ipynb`` is executed in a fresh kernel (the same
interpreter that runs this script, so the repository's environment is the one
used), converted with nbconvert's ``HTMLExporter`` (figures are embedded as
base64 PNGs; no pandoc is needed) and written to ``<out>/<name>.html``, with
an ``index.html`` that links them all. The exit status is 1 if any notebook
fails; the others are still rendered, and a failing one shows its error.

``execute_notebooks`` is also what ``tests/test_solutions.py`` uses, so the
tests and the HTML build run the notebooks in exactly one way.
"""
from __future__ import annotations

import argparse
import asyncio
import html
import os
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

SOLUTIONS_DIR = Path(__file__).resolve().parent
KERNEL_NAME = "python3"
TIMEOUT_S = 120  # per cell
DEFAULT_PARALLEL = max(2, os.cpu_count() or 1)


class _ThisInterpreterKernelSpecs(KernelSpecManager):
    """Kernel specs that always start ipykernel under ``sys.executable``.

    A user-level ``python3`` kernelspec (in ~/.local/share/jupyter) would
    otherwise take precedence over the environment's own and could run the
    notebooks under a different Python with different packages.
    """

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (ipykernel)",
            language="python",
            name=kernel_name,
            # As in ipykernel's own kernelspec. With transport_encryption="auto"
            # jupyter_client then gives the kernel CurveZMQ keys, so it neither
            # talks in plain text over TCP nor warns about it in a cell's output.
            metadata={"supported_encryption": ["curve"]},
            # The notebooks multiply small matrices. On a busy two-core CI
            # machine, OpenBLAS's thread pool makes that ten times slower, and
            # notebooks run side by side: one BLAS thread per kernel.
            env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )


def solution_notebooks(solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    """The solution notebooks, in problem order (udl_2_2 before udl_16_4)."""
    def problem_order(path: Path) -> list[int]:
        return [int(part) for part in path.stem.split("_")[1:] if part.isdigit()]

    return sorted(solutions_dir.glob("udl_*.ipynb"), key=problem_order)


async def _execute_one(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    kernel_manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=_ThisInterpreterKernelSpecs(),
        transport_encryption="auto",
    )
    client = NotebookClient(
        nb,
        km=kernel_manager,
        timeout=TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(cwd)}},
    )
    # cleanup_kc: nbclient only shuts down by itself the kernels whose manager it created.
    await client.async_execute(cleanup_kc=True)
    return nb


def execute_notebooks(
    notebooks: list[nbformat.NotebookNode], cwd: Path = SOLUTIONS_DIR, parallel: int = DEFAULT_PARALLEL
) -> list[nbformat.NotebookNode | Exception]:
    """Run every cell of each notebook, each in a fresh kernel started in ``cwd``.

    Up to ``parallel`` kernels run at once, driven from one event loop (as a
    Jupyter server does). The notebooks are modified in place (outputs filled
    in). For each notebook the result is the notebook itself, or the exception
    that stopped it: usually a ``CellExecutionError`` (with ``ename``,
    ``evalue`` and the failing cell's traceback); a cell timeout or a dead
    kernel stops only that notebook, never the others.
    """
    async def run_all() -> list[nbformat.NotebookNode | Exception]:
        gate = asyncio.Semaphore(parallel)

        async def run_one(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | Exception:
            async with gate:
                try:
                    return await _execute_one(nb, cwd)
                except Exception as error:  # reported per notebook by the caller
                    return error

        return await asyncio.gather(*(run_one(nb) for nb in notebooks))

    return asyncio.run(run_all())


def execute_notebook(nb: nbformat.NotebookNode, cwd: Path = SOLUTIONS_DIR) -> nbformat.NotebookNode:
    """Run one notebook; raise ``CellExecutionError`` (or a timeout) if a cell fails."""
    (result,) = execute_notebooks([nb], cwd, parallel=1)
    if isinstance(result, Exception):
        raise result
    return result


def notebook_title(nb: nbformat.NotebookNode) -> str:
    """The first Markdown heading of the notebook, without the leading '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "(untitled)"


def render_html(nb: nbformat.NotebookNode) -> str:
    """Convert an executed notebook to a standalone HTML page."""
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def render_index(entries: list[tuple[str, str, str]]) -> str:
    """An index page; entries are (file name, title, status)."""
    rows = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(title)}</a>'
        + ("" if status == "ok" else f" <strong>({html.escape(status)})</strong>")
        + "</li>"
        for name, title, status in entries
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>Worked solutions to UDL problems</title></head>\n<body>\n"
        "<h1>Maths for Deep Learning: worked solutions to UDL problems</h1>\n"
        "<p>Each page restates a problem from Simon Prince's <em>Understanding Deep Learning</em> "
        "(MIT Press, 2023), solves it step by step, and ends with a check that fails "
        "if the stated answer is wrong.</p>\n"
        f"<ul>\n{rows}\n</ul>\n</body></html>\n"
    )


def render_all(out_dir: Path, paths: list[Path], parallel: int = DEFAULT_PARALLEL) -> list[str]:
    """Execute and render the notebooks at ``paths`` into ``out_dir``; return the failures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    results = execute_notebooks(notebooks, cwd=SOLUTIONS_DIR, parallel=parallel)
    entries, failures = [], []
    for path, nb, result in zip(paths, notebooks, results):
        status = "ok"
        if isinstance(result, CellExecutionError):
            status = "check failed"
            failures.append(f"{path.name}: {result.ename}: {result.evalue}")
        elif isinstance(result, Exception):
            status = "did not finish"
            failures.append(f"{path.name}: {type(result).__name__}: {result}")
        html_name = f"{path.stem}.html"
        (out_dir / html_name).write_text(render_html(nb), encoding="utf-8")
        entries.append((html_name, notebook_title(nb), status))
        print(f"{status:>12}  {path.name} -> {out_dir / html_name}")
    (out_dir / "index.html").write_text(render_index(entries), encoding="utf-8")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/solutions-html"),
                        help="output folder (default: build/solutions-html)")
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                        help=f"notebooks executed at once (default: {DEFAULT_PARALLEL})")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to render (default: every solutions/udl_*.ipynb)")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.notebooks] or solution_notebooks()
    failures = render_all(args.out, paths, parallel=args.parallel)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(f"index: {args.out / 'index.html'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
