"""Compile the instructor notebook's test cells into otter exception-format test files.

Each autograded test cell (nbgrader ``grade: true``, ``solution: false``)
becomes ``build/<a>/tests/<grade_id>.py``:

* the cell's import statements are hoisted to module level, as are the
  notebook's own imports of names the test uses (``np`` from a setup cell);
* the code before ``### BEGIN HIDDEN TESTS`` becomes a visible test case, the
  hidden region a hidden test case, run inside ``checks.concealed()`` so that
  failure messages never show hidden expected values;
* the cell's nbgrader ``points`` become the file's points (otter splits them
  evenly over the cases);
* every test function takes as parameters exactly the student-defined names
  its code reads -- found by reading the code, not by convention -- and the
  grader fills them from the student's kernel through the bridge;
* a translated edition's test cells (``lang:es`` twins whose messages and comments
  are in Spanish, autograder/test_translation.py) become ``tests/es/<grade_id>.py``,
  once the build has checked that each is its English cell's program.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.i18n import _
from autograder.notebook_meta import SOURCE_LANGUAGE, cell_language, edition, languages_of
from autograder.test_translation import same_program
from autograder.notebook_meta import (
    is_skipped_cell, is_solution_cell, is_test_cell, manual_questions, nbgrader_meta, question_titles)

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_CASE = "### HIDDEN CASE"  # inside the hidden region: starts one more hidden case (a share of the points)
_BUILTINS = set(dir(builtins))
# 2: the manifest carries the release's locked cells; 3: the questions' titles; 4: translated titles;
# 5: each translated edition's own test files (tests/<lang>/<grade_id>.py, messages in that language)
BUNDLE_FORMAT = 5


class CompileError(ValueError):
    """A test cell cannot be compiled; the message names the cell and the reason."""


@dataclass
class Question:
    grade_id: str
    points: float
    imports: list[str]
    visible: str
    hidden: str  # the whole hidden region (shared preamble and every case)
    visible_params: list[str] = field(default_factory=list)
    hidden_params: list[str] = field(default_factory=list)

    hidden_cases: list[str] = field(default_factory=list)  # each: the preamble, then one case's code

    @property
    def params(self) -> list[str]:
        return list(dict.fromkeys(self.visible_params + self.hidden_params))


def split_cases(hidden: str) -> list[str]:
    """The hidden region as hidden cases: each ``### HIDDEN CASE`` line starts one; the code before
    the first marker (helpers, shared data) is a preamble that every case repeats.

    The points of a question are shared equally by its hidden cases, so a student whose answer fails
    on some hidden inputs and not others earns part of them.
    """
    parts: list[list[str]] = [[]]
    for line in hidden.splitlines():
        if line.strip() == HIDDEN_CASE:
            parts.append([])
        else:
            parts[-1].append(line)
    preamble, cases = "\n".join(parts[0]), ["\n".join(p) for p in parts[1:]]
    if not cases:
        return [preamble] if preamble.strip() else []
    return [preamble + "\n" + case for case in cases]


@dataclass
class Manifest:
    """What the grader needs to know about an assignment, besides the test files."""

    assignment: str
    source_sha256: str
    questions: list[dict[str, Any]]
    test_cell_ids: list[str]
    solution_cell_ids: list[str]
    skipped_cell_ids: list[str] = field(default_factory=list)  # tagged skip-when-grading
    manual_questions: list[dict[str, Any]] = field(default_factory=list)  # graded by a person (autograder.manual)
    # The release's locked code cells (setup), run in place of the submission's copies ({"grade_id", "source"}),
    # and every grade_id in the notebook's order (where a locked cell the submission lacks goes back in).
    locked_cells: list[dict[str, str]] = field(default_factory=list)
    cell_order: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # grade_id -> the notebook's heading above it (feedback)
    # language -> {grade_id: that edition's heading} for each translated edition ("P1 (código, 4 puntos)")
    translated_titles: dict[str, dict[str, str]] = field(default_factory=dict)
    # the languages whose edition has test files of its own, tests/<lang>/<grade_id>.py (its test cells'
    # messages translated; the same program as the English, checked); a question without one there uses the English
    test_languages: list[str] = field(default_factory=list)
    bundle_format: int = 1  # bundles of an older format are compiled again (autograder.build.bundle_is_fresh)

    @property
    def max_score(self) -> float:
        return float(sum(q["points"] for q in self.questions))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        return cls(**json.loads(text))


# --------------------------------------------------------------------------- reading cells


def python_source(cell_source: str) -> str:
    """Cell text as plain Python: IPython magics and shell escapes are translated away."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def split_hidden(source: str, where: str) -> tuple[str, str]:
    """Split a test cell into its visible code and its hidden region."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN_HIDDEN:
            if inside:
                raise CompileError(_("{where}: nested {begin}").format(where=where, begin=BEGIN_HIDDEN))
            inside = True
        elif marker == END_HIDDEN:
            if not inside:
                raise CompileError(_("{where}: {end} without {begin}").format(where=where, end=END_HIDDEN, begin=BEGIN_HIDDEN))
            inside = False
        else:
            (hidden if inside else visible).append(line)
    if inside:
        raise CompileError(_("{where}: {begin} is never closed").format(where=where, begin=BEGIN_HIDDEN))
    return "\n".join(visible), "\n".join(hidden)


def _parse(code: str, where: str) -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as err:
        raise CompileError(_("{where}: syntax error on line {line}: {error}").format(where=where, line=err.lineno, error=err.msg)) from err


def _import_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [(alias.asname or alias.name).split(".")[0] for alias in node.names]


def top_level_bindings(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """Names a cell binds at top level: (import name -> import statement, other names)."""
    imports: dict[str, str] = {}
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _import_names(node):
                imports[name] = ast.unparse(node)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(sub.name)  # defined inside an if/try at top level
    return imports, names


def free_names(tree: ast.AST) -> list[str]:
    """Names the code reads but never binds, in order of first use (builtins excluded)."""
    bound: set[str] = set()
    loads: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads.append(node.id) if isinstance(node.ctx, ast.Load) else bound.add(node.id))
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(_import_names(node))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    # ast.walk is breadth-first; order loads by position so parameters read naturally.
    order = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            order.setdefault(node.id, (node.lineno, node.col_offset))
    free = {name for name in loads if name not in bound and name not in _BUILTINS}
    return sorted(free, key=lambda n: order[n])


# --------------------------------------------------------------------------- compiling


def _strip_imports(tree: ast.Module) -> tuple[list[str], str]:
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    return imports, ast.unparse(ast.Module(body=body, type_ignores=[])) if body else ""


def compile_question(
    cell: Any, notebook_imports: dict[str, str], notebook_names: set[str], where: str
) -> Question:
    """Compile one test cell, resolving every name it reads."""
    meta = nbgrader_meta(cell)
    grade_id = str(meta.get("grade_id") or "")
    if not grade_id.isidentifier():
        raise CompileError(_("{where}: test cell needs a grade_id that is a Python identifier, got {grade_id}").format(
            where=where, grade_id=repr(grade_id)))
    points = meta.get("points")
    if not isinstance(points, (int, float)) or points <= 0:
        raise CompileError(_("{where}: test cell needs positive nbgrader points, got {points}").format(
            where=f"{where} ({grade_id})", points=repr(points)))
    visible_src, hidden_src = split_hidden(python_source(cell["source"]), f"{where} ({grade_id})")
    visible_tree = _parse(visible_src, _("{where} visible tests").format(where=f"{where} ({grade_id})"))
    _parse(hidden_src, _("{where} hidden tests").format(where=f"{where} ({grade_id})"))  # the whole region parses (names its line)
    cell_imports_v, visible = _strip_imports(visible_tree)
    cases, cell_imports_h = [], []
    for k, case_src in enumerate(split_cases(hidden_src), start=1):
        case_imports, case = _strip_imports(_parse(case_src, _("{where} hidden case {k}").format(where=f"{where} ({grade_id})", k=k)))
        cell_imports_h += case_imports
        cases.append(case)
    if not any(case.strip() for case in cases):
        raise CompileError(_("{where}: the test cell has no hidden tests; every point is earned on inputs the student "
                             "has not seen, so add a {begin} region (README, 'Authoring')").format(
            where=f"{where} ({grade_id})", begin=BEGIN_HIDDEN))
    hidden = "\n".join(cases)
    imports = list(dict.fromkeys(cell_imports_v + cell_imports_h))
    imported = {name for stmt in imports for name in _import_names(ast.parse(stmt).body[0])}  # type: ignore[arg-type]

    def resolve(code: str, part: str) -> list[str]:
        params = []
        for name in free_names(ast.parse(code)):
            if name in imported:
                continue
            if name in notebook_imports:
                imports.append(notebook_imports[name])
                imported.add(name)
            elif name in notebook_names:
                params.append(name)
            else:
                unknown = (_("{where} hidden tests use `{name}`, which no cell of the notebook defines (hidden tests "
                             "cannot use variables of the visible part)") if part == "hidden" else
                           _("{where} visible tests use `{name}`, which no cell of the notebook defines"))
                raise CompileError(unknown.format(where=f"{where} ({grade_id})", name=name))
        return params

    question = Question(grade_id, float(points), imports, visible, hidden, hidden_cases=cases)
    question.visible_params = resolve(visible, "visible")
    question.hidden_params = list(dict.fromkeys(p for case in cases for p in resolve(case, "hidden")))
    question.imports = list(dict.fromkeys(imports))
    return question


def render_test_file(question: Question, source_name: str) -> str:
    """The otter exception-format test file for one question."""
    lines = [
        f'"""Compiled by `mdl build` from {source_name}, cell {question.grade_id}.',
        "",
        "Instructor-only: contains hidden tests. Do not edit; edit the source notebook.",
        '"""',
        "from otter.test_files import test_case",
        "from mdl_student.checks import concealed",
        *question.imports,
        "",
        "OK_FORMAT = False",
        f"name = {question.grade_id!r}",
        f"points = {question.points!r}",
        "",
    ]
    if question.visible.strip():  # teaches: the student runs it and reads its messages; it carries no points
        lines += [
            "",
            f'@test_case(name="{question.grade_id} (visible)", hidden=False, points=0)',
            f"def visible_tests({', '.join(question.visible_params)}):",
            textwrap.indent(question.visible, "    "),
            "",
        ]
    for k, case in enumerate(question.hidden_cases, start=1):  # the points, shared equally
        kind = "hidden" if len(question.hidden_cases) == 1 else f"hidden {k}"  # part of the case's name: a key, not words
        lines += [
            "",
            f'@test_case(name="{question.grade_id} ({kind})", hidden=True)',
            f"def hidden_tests_{k}({', '.join(question.hidden_params)}):",
            "    with concealed():",
            textwrap.indent(case, "        "),
            "",
        ]
    return "\n".join(lines)


def _compile_edition(nb: Any, path: Path, assignment_id: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Compile the test cells of one edition of a notebook: its questions and {file name: source}."""
    notebook_imports: dict[str, str] = {}
    notebook_names: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_test_cell(cell):
            imports, names = top_level_bindings(_parse(python_source(cell.source),
                                                        _("{notebook} cell {index}").format(notebook=path.name, index=index + 1)))
            notebook_imports.update(imports)
            notebook_names |= names
    questions, files = [], {}
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        question = compile_question(cell, notebook_imports, notebook_names,
                                    _("{notebook} cell {index}").format(notebook=path.name, index=index + 1))
        if question.grade_id in files:
            raise CompileError(_("{notebook}: grade_id {grade_id} is used by two test cells").format(
                notebook=path.name, grade_id=repr(question.grade_id)))
        files[f"{question.grade_id}.py"] = render_test_file(question, f"source/{assignment_id}/{path.name}")
        questions.append({"grade_id": question.grade_id, "points": question.points, "params": question.params})
    return questions, files


def check_test_twins(source: Any, lang: str, notebook: str) -> None:
    """Refuse a translated test cell that is not its English cell's program: once every string is blanked and
    the comments dropped, the two must parse to the same code (so both editions grade alike)."""
    english = {str(nbgrader_meta(c).get("grade_id")): c for c in source.cells
               if is_test_cell(c) and cell_language(c) in (None, SOURCE_LANGUAGE)}
    for index, cell in enumerate(source.cells, start=1):
        if not (is_test_cell(cell) and cell_language(cell) == lang):
            continue
        grade_id = str(nbgrader_meta(cell).get("grade_id"))
        original = english.get(grade_id)
        if original is None or not same_program(python_source(original.source), python_source(cell.source)):
            raise CompileError(_("{notebook} cell {index} ({grade_id}): this {lang} test cell is not the program of its "
                                 "English cell with other words; only its strings and comments may differ (edit "
                                 "i18n/notebooks/, then run scripts/add_edition.py)").format(
                notebook=notebook, index=index, grade_id=grade_id, lang=lang))


def compile_notebook(path: Path, assignment_id: str) -> tuple[Manifest, dict[str, str]]:
    """Compile every test cell of a source notebook: the manifest and {file name: source}; a translated
    edition's test files are ``<lang>/<grade_id>.py``, written where its test cell has a twin."""
    raw = path.read_bytes()
    # the English edition: a translated twin repeats its cell's grade_id, and every edition shares the tests
    source = nbformat.reads(raw.decode("utf-8"), as_version=4)
    nb = edition(source, SOURCE_LANGUAGE)
    questions, files = _compile_edition(nb, path, assignment_id)
    if not questions:
        raise CompileError(_("{path}: no autograded test cells (nbgrader grade: true) found").format(path=path))
    test_languages = []
    for lang in sorted(languages_of(source) - {SOURCE_LANGUAGE}):
        check_test_twins(source, lang, path.name)
        translated = {str(nbgrader_meta(c).get("grade_id")) for c in source.cells
                      if is_test_cell(c) and cell_language(c) == lang}
        if not translated:
            continue
        lang_questions, lang_files = _compile_edition(edition(source, lang), path, assignment_id)
        if lang_questions != questions:  # the same grade ids, points and parameters, in the same order
            raise CompileError(_("{notebook}: the {lang} edition's test cells are not the English ones").format(
                notebook=path.name, lang=lang))
        files.update({f"{lang}/{name}": text for name, text in lang_files.items() if name[:-3] in translated})
        test_languages.append(lang)
    manifest = Manifest(
        assignment=assignment_id,
        source_sha256=hashlib.sha256(raw).hexdigest(),
        questions=questions,
        test_cell_ids=[q["grade_id"] for q in questions],
        solution_cell_ids=[str(nbgrader_meta(c).get("grade_id")) for c in nb.cells if is_solution_cell(c)],
        skipped_cell_ids=[str(nbgrader_meta(c).get("grade_id")) for c in nb.cells if is_skipped_cell(c)],
        manual_questions=_manual_questions(nb.cells, path.name),
        locked_cells=locked_cells(nb.cells),
        cell_order=[str(nbgrader_meta(c)["grade_id"]) for c in nb.cells if nbgrader_meta(c).get("grade_id")],
        titles=question_titles(nb.cells),
        translated_titles={lang: question_titles(edition(source, lang).cells)
                           for lang in sorted(languages_of(source) - {SOURCE_LANGUAGE})},
        test_languages=test_languages,
        bundle_format=BUNDLE_FORMAT,
    )
    return manifest, files


def locked_cells(cells: list[Any]) -> list[dict[str, str]]:
    """The locked code cells that are neither tests nor answers (setup: imports, data, helpers), as the release holds them.

    nbgrader releases these cells unchanged; the grader runs these copies in place of the submission's,
    as nbgrader's autograde does, so that only the student's answers are graded.
    """
    return [
        {"grade_id": str(nbgrader_meta(c)["grade_id"]), "source": c.source}
        for c in cells
        if c.cell_type == "code" and nbgrader_meta(c).get("locked") and nbgrader_meta(c).get("grade_id")
        and not is_test_cell(c) and not is_solution_cell(c) and not is_skipped_cell(c)
    ]


def _manual_questions(cells: list[Any], where: str) -> list[dict[str, Any]]:
    try:
        return manual_questions(cells, where)
    except ValueError as err:
        raise CompileError(str(err)) from None


def test_path(tests_dir: Path, manifest: Any, grade_id: str, lang: str) -> Path:
    """A question's compiled test file for a run in ``lang``: the translated edition's own (its messages in that
    language, the same program) where the bundle has one, else the English."""
    if lang in (getattr(manifest, "test_languages", None) or []):
        translated = tests_dir / lang / f"{grade_id}.py"
        if translated.is_file():
            return translated
    return tests_dir / f"{grade_id}.py"


def write_bundle(path: Path, assignment_id: str, out_dir: Path) -> Manifest:
    """Write ``out_dir/tests/*.py`` and ``out_dir/manifest.json`` for one assignment."""
    manifest, files = compile_notebook(path, assignment_id)
    tests_dir = out_dir / "tests"
    tests_dir.mkdir(parents=True, exist_ok=True)
    for stale in tests_dir.rglob("*.py"):
        if stale.relative_to(tests_dir).as_posix() not in files:
            stale.unlink()
    for name, text in files.items():
        (tests_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (tests_dir / name).write_text(text)
    (out_dir / "manifest.json").write_text(manifest.to_json())
    return manifest
