"""What the visible tests see of the solution: the source run in the sandbox, each visible test run against it and recorded.

`mdl validate` makes its generated students from this recording (autograder.generated_students):

* every call a visible test makes to a function answer, with its arguments and result, recorded
  through the bridge exactly as the kernel answered it (the memoriser's lookup table);
* every point where a visible test evaluates a symbolic answer (``value_at``, ``subs``, ``xreplace``,
  ``evalf(subs=...)``): the memoriser's piecewise lookup, and the constant student's point;
* for each value answer, the least the memoriser must write to pass the visible test: zeros, ones, the
  solution 1% off, a lookup of the evaluated points, or (when the visible test accepts nothing else)
  the solution itself, which the visible test then gives away.

The source is the instructor's, trusted: its visible tests run here, in the grader's process.
"""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import nbformat

from grading_config import SandboxLimits

from autograder import answer_forms
from autograder.bridge import StudentFunction, environment
from autograder.i18n import _
from autograder.sandbox import KernelError
from autograder.compile_tests import python_source, top_level_bindings
from autograder.generated_students import Answer, QuestionAnswers, Recording, exemptions
from autograder.grade import Bundle, NotebookRunner, student_cells
from autograder.notebook_meta import SOURCE_LANGUAGE, cell_language, is_solution_cell, is_test_cell, nbgrader_meta

MAX_RECORDED_CHARS = 2_000_000  # a call whose arguments and result take more is not kept (the memoriser misses it)
# The memoriser's values, least knowledge first: shapes only, the solution 1% off, a lookup of the visible points
# (piecewise), a polynomial through them (one formula), and last the solution, which the visible test then gives away.
CANDIDATES = ("zeros", "ones", "scaled", "lookup", "polynomial", "solution")


class RecordingFunction(StudentFunction):
    """A student function proxy that keeps every call's arguments and result, encoded as the codec sends them."""

    def __init__(self, proxy: StudentFunction, log: list[list[Any]]) -> None:
        super().__init__(proxy._kernel, proxy.__name__)
        self._log = log

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from mdl_student.codec import CodecError, encode_value

        result = super().__call__(*args, **kwargs)
        try:
            entry = [encode_value(args, allow_functions=True), encode_value(kwargs, allow_functions=True),
                     encode_value(result)]
        except (CodecError, RecursionError):
            return result
        if len(repr(entry)) <= MAX_RECORDED_CHARS:
            self._log.append(entry)
        return result


def answer_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names the answer cells bind at top level: what a student writes."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution_cell(cell):
            names |= top_level_bindings(ast.parse(python_source(cell.source)))[1]
    return names


@contextlib.contextmanager
def evaluation_points(watched: dict[int, str], found: dict[str, list[dict[str, Any]]],
                      test_globals: list[dict[str, Any]]) -> Iterator[None]:
    """Record, by answer name, the points where the code in this block evaluates a watched sympy object.

    `watched` maps id(object) to the answer's name. Patched for the block: sympy's ``subs``,
    ``xreplace`` and ``evalf``/``n`` (with ``subs=``), and ``value_at`` where a test module imported it.
    """
    import sympy as sp
    from sympy.core.evalf import EvalfMixin
    from sympy.matrices.matrixbase import MatrixBase

    def note(obj: Any, mapping: Any) -> None:
        name = watched.get(id(obj))
        if name is None or not mapping:
            return
        pairs = mapping.items() if isinstance(mapping, dict) else mapping if isinstance(mapping, (list, tuple)) else []
        point = {}
        for key, value in pairs:
            label = key if isinstance(key, str) else getattr(key, "name", None)
            if label is not None:
                point[str(label)] = value
        if point and point not in found.setdefault(name, []):
            found[name].append(point)

    originals: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, attr: str, make: Callable[[Any], Any]) -> None:
        original = owner.get(attr) if isinstance(owner, dict) else getattr(owner, attr)
        originals.append((owner, attr, original))
        wrapped = make(original)
        if isinstance(owner, dict):
            owner[attr] = wrapped
        else:
            setattr(owner, attr, wrapped)

    def substitution(original: Any) -> Any:
        def subs(self: Any, *args: Any, **kwargs: Any) -> Any:
            if len(args) == 2:
                note(self, [(args[0], args[1])])
            elif args:
                note(self, args[0])
            return original(self, *args, **kwargs)
        return subs

    def evaluation(original: Any) -> Any:
        def evalf(self: Any, *args: Any, **kwargs: Any) -> Any:
            note(self, kwargs.get("subs"))
            return original(self, *args, **kwargs)
        return evalf

    for owner in (sp.Basic, MatrixBase):
        patch(owner, "subs", substitution)
        patch(owner, "xreplace", substitution)
    for owner in (EvalfMixin, MatrixBase):
        patch(owner, "evalf", evaluation)
        patch(owner, "n", evaluation)
    for namespace in test_globals:
        if callable(namespace.get("value_at")):
            def value_at_maker(original: Any) -> Any:
                def value_at(answer: Any, point: Any, *args: Any, **kwargs: Any) -> Any:
                    note(answer, point)
                    return original(answer, point, *args, **kwargs)
                return value_at
            patch(namespace, "value_at", value_at_maker)
    try:
        yield
    finally:
        for owner, attr, original in reversed(originals):
            if isinstance(owner, dict):
                owner[attr] = original
            else:
                setattr(owner, attr, original)


def plain_functions(kernel: Any, names: list[str]) -> set[str]:
    """Which of `names` are plain Python functions in the kernel (a generated student can wrap only those:
    a class, such as A5's `Value`, or another callable object is left alone)."""
    from mdl_student.codec import CodecError, decode_value

    code = ("import types as _mdl_types\n"
            f"_mdl_plain = [n for n in {names!r} if isinstance(globals().get(n), _mdl_types.FunctionType)]")
    try:
        if not kernel.run_cell(code, 30.0).get("ok"):
            return set()
        entry = kernel.lookup(["_mdl_plain"]).get("_mdl_plain", {})
        return set(decode_value(entry.get("value"))) if entry.get("kind") == "value" else set()
    except (KernelError, CodecError, TypeError):
        return set()


def _visible_cases(test_path: Path) -> list[Any]:
    from otter.test_files.exception_test import ExceptionTestFile

    return [tc for tc in ExceptionTestFile.from_file(str(test_path)).test_cases if not tc.hidden]


def _passes(cases: list[Any], env: dict[str, Any]) -> bool:
    for case in cases:
        try:
            case.body.call_func(env)
        except Exception:  # noqa: BLE001  (any failure: the visible test does not accept this answer)
            return False
    return True


def _memoriser_value(name: str, value: Any, points: list[dict[str, Any]], cases: list[Any],
                     env: dict[str, Any]) -> tuple[str, Any]:
    """The least a memoriser writes for this value and still passes the question's visible test."""
    for candidate in CANDIDATES:
        if candidate == "solution":
            return candidate, value
        if candidate in ("lookup", "polynomial"):
            if not points or not answer_forms._is_sympy(value):
                continue
            made = (answer_forms.lookup_expression if candidate == "lookup" else answer_forms.interpolation)(value, points)
        else:
            made = answer_forms.FORMS[candidate](value)
        if answer_forms.same(made, value):
            continue
        if _passes(cases, dict(env, **{name: made})):
            return candidate, made
    return "solution", value


def question_exemptions(nb: Any) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Each question's ``# mdl validate: not ...`` lines, read from the source language's test cells only
    (a translated twin repeats the grade_id, and its comment may be translated), and the problems found."""
    exempt: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for cell in nb.cells:
        if is_test_cell(cell) and cell_language(cell) in (None, SOURCE_LANGUAGE):
            grade_id = str(nbgrader_meta(cell).get("grade_id"))
            exempt[grade_id], found = exemptions(cell.source)
            problems += [f"{grade_id}: {p}" for p in found]
    return exempt, problems


def record(bundle: Bundle, limits: SandboxLimits, source_path: Path) -> Recording:
    """Run the source in the sandbox and each question's visible test against it, recording what they use."""
    from mdl_student.codec import CodecError, encode_value

    assignment = bundle.assignment
    nb = nbformat.read(source_path, as_version=4)
    written = answer_names(nb)
    recording = Recording(assignment.id, [], {})
    exempt, problems = question_exemptions(nb)
    recording.notes += problems
    files = dict(bundle.release_files)
    files[assignment.notebook] = source_path
    with NotebookRunner(files, 0, limits) as runner:
        runs = runner.run(student_cells(nb, bundle.manifest))
        recording.notes += [_("the source's cell {index} failed: {error}").format(index=r.index, error=r.error)
                            for r in runs if not r.ok]
        kernel = runner.live_kernel()
        plain = plain_functions(kernel, sorted({p for q in bundle.manifest.questions for p in q["params"]})) \
            if kernel is not None else set()
        for question in bundle.manifest.questions:
            params = list(question["params"])
            names = [p for p in params if p in written]
            entry = QuestionAnswers(question["grade_id"], float(question["points"]), names or params, not names,
                                    exempt.get(question["grade_id"], {}))
            recording.questions.append(entry)
            kernel = runner.live_kernel()
            if kernel is None:
                recording.notes.append(_("{question}: the kernel could not run the source").format(question=entry.grade_id))
                continue
            env, problems = environment(kernel, params)
            plain_env = dict(env)  # for the memoriser's trials: their calls are not recorded again
            recording.notes += [f"{entry.grade_id}: {p}" for p in problems.values()]
            for name in entry.names:
                answer = recording.answers.get(name)
                if answer is None:
                    value = env.get(name)
                    kind = ("function" if name in plain else "other") if isinstance(value, StudentFunction) else \
                        "other" if name in problems else "value"
                    payload = None
                    if kind == "value":
                        try:
                            payload = encode_value(value)
                        except (CodecError, RecursionError):
                            kind = "other"
                    answer = recording.answers[name] = Answer(name, kind, payload)
                if answer.kind == "function":
                    env[name] = RecordingFunction(env[name], answer.calls)
            cases = _visible_cases(bundle.tests_dir / f"{entry.grade_id}.py")
            watched = {id(env[n]): n for n in entry.names if recording.answers[n].kind == "value"}
            points: dict[str, list[dict[str, Any]]] = {}
            with evaluation_points(watched, points, [c.body.test_func.__globals__ for c in cases]):
                if not _passes(cases, env):
                    recording.notes.append(_("{question}: the source fails its own visible test").format(question=entry.grade_id))
            for name, found in points.items():
                recording.answers[name].points += [p for p in found if p not in recording.answers[name].points]
            for name in entry.names:
                answer = recording.answers[name]
                if answer.kind != "value":
                    continue
                chosen, made = _memoriser_value(name, env[name], answer.points, cases, plain_env)
                if CANDIDATES.index(chosen) >= CANDIDATES.index(answer.memorised_as or "zeros"):
                    answer.memorised_as, answer.memoriser = chosen, encode_value(made)
    return recording
