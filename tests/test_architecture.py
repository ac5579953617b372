"""The grader's architecture, read from its own code: imports flow one way, modules stay small and say what they do.

The layers below are the README's drawing ("Architecture"); a module may import its own layer's
modules only through the edges listed, and any module of a lower layer. Every import counts, those
inside functions too (a lazy import that closes a circle is still a circle), and those under
``if TYPE_CHECKING:``: they never run, but a reader (and a type checker) still follows them, so a
circle through one is still a tangle in the design.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grading_config import ROOT

PACKAGES = {"autograder": ROOT / "autograder", "mdl_student": ROOT / "student" / "mdl_student",
            "rlhf_capstone": ROOT / "rlhf_capstone"}
MAX_LINES = 600

# Lowest first. A module imports only modules of lower layers (and the student package, grading_config).
LAYERS = [
    ["i18n"],
    ["out_folder", "notebook_meta", "gpu", "answer_forms", "math_html", "install_url", "argparse_i18n"],
    ["test_translation"],
    ["safe_text", "sandbox", "compile_tests", "manual"],
    ["bridge", "build", "cell_map", "generated_students", "safe_zip", "late"],
    ["scoring"],
    ["grade"],
    ["intake", "records", "recording"],
    ["totals", "results_json", "gradescope", "validate"],
    ["feedback", "gradebook", "export", "roster"],
    ["class_report", "batch", "student_package", "feedback_export"],
    ["cli"],
    ["__main__"],
]


def _modules() -> dict[str, Path]:
    found = {"grading_config": ROOT / "grading_config.py"}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The course modules ``module`` imports, at any depth of its code (TYPE_CHECKING blocks included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = _resolve(f"{base}.{alias.name}") or _resolve(base)
                if target:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(module)
    return found


def _cycle() -> list[str] | None:
    graph = {m: imports_of(m) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := walk(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := walk(m)):
            return found
    return None


def test_no_module_imports_another_that_imports_it_back():
    cycle = _cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("back", [
    "def f():\n    import autograder.one\n",  # a lazy import
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from autograder.one import X\n",  # a type-only one
])
def test_the_cycle_finder_finds_a_circle(monkeypatch, tmp_path, back):
    """The test above can fail: two modules that import each other are reported as a circle."""
    (tmp_path / "one.py").write_text('"""One."""\nfrom autograder import two\n')
    (tmp_path / "two.py").write_text('"""Two."""\n' + back)
    monkeypatch.setitem(MODULES, "autograder.one", tmp_path / "one.py")
    monkeypatch.setitem(MODULES, "autograder.two", tmp_path / "two.py")
    assert _cycle() == ["autograder.one", "autograder.two", "autograder.one"]


def _layer(module: str) -> int | None:
    name = module.removeprefix("autograder.").split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def test_every_grader_module_has_a_layer():
    top = {m.removeprefix("autograder.").split(".")[0] for m in MODULES if m.startswith("autograder.")}
    assert sorted(m for m in top if _layer("autograder." + m) is None) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("autograder.")
                                          and not m.startswith("autograder.sandbox.")))
def test_imports_flow_down_the_layers(module):
    upward = sorted(t for t in imports_of(module)
                    if t.startswith("autograder.") and not t.startswith(module + ".")
                    and (_layer(t) or 0) >= (_layer(module) or 0))
    assert upward == [], f"{module} (layer {_layer(module)}) imports modules of its own or a higher layer: {upward}"


def test_course_code_for_students_and_the_capstone_never_imports_the_grader():
    wrong = {m: sorted(t for t in imports_of(m) if t.split(".")[0] in {"autograder"}
                       or (m.startswith("mdl_student") and t.split(".")[0] in {"rlhf_capstone", "grading_config"}))
             for m in MODULES if m.startswith(("mdl_student", "rlhf_capstone"))}
    assert {m: t for m, t in wrong.items() if t} == {}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(("autograder", "mdl_student"))))
def test_modules_are_small_and_say_what_they_do(module):
    path = MODULES[module]
    text = path.read_text()
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES}): split it by idea"
    doc = ast.get_docstring(ast.parse(text))
    if path.name == "__main__.py" and not doc:
        return
    assert doc and len(doc.splitlines()[0].split()) >= 3, f"{path.relative_to(ROOT)}: its first line should say what it does"


def test_saving_a_record_writes_json_and_loads_nothing_that_renders_pages(tmp_path):
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from autograder.records import save_record, load_records\n"
        f"out = Path({str(tmp_path)!r})\n"
        "save_record({'student': 'ana', 'assignment': 'a1', 'score': 1.0}, out)\n"
        "assert load_records(out)['ana']['score'] == 1.0\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('autograder', 'grading_config', 'html')))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(__import__("json").loads(done.stdout.strip().splitlines()[-1]))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["record.json"]
    rendering = {"autograder.feedback", "autograder.class_report", "autograder.totals", "autograder.manual",
                 "autograder.gradebook", "html", "grading_config"}
    assert loaded & rendering == set(), f"saving a record loaded {sorted(loaded & rendering)}"
