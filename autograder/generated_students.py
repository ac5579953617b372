"""The students `mdl validate` generates from a source notebook: who they are, and the notebooks they hand in.

Each kind of generated student is one notebook covering every question: the release, with each
answer cell replaced by the source's solution, and one last cell that rebinds the answers the
tests read (:func:`autograder.answer_forms.apply_kind`, copied into the cell). Wrong students must
earn 0 on every question they apply to; right students (legitimate forms of the solution) must
earn full marks. A kind applies to a question only where it changes the question's answers: a
wrong student whose answers are all still right somewhere, or a variant that changes nothing, is
"n/a", never a pass. What the kinds need to know about the solution (its values, the calls and
points of the visible tests) is a :class:`Recording`, made by :mod:`autograder.recording`.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any

import nbformat

from autograder import answer_forms
from autograder.i18n import N_, _
from autograder.notebook_meta import is_solution_cell, nbgrader_meta

PROBE_ID = "zz_validate_probe"  # the last question of a validation bundle: reads what the generated answers did


@dataclass(frozen=True)
class Kind:
    """One generated student."""

    name: str  # the column of the table
    form: str  # a form of answer_forms.FORMS, or "memoriser" / "input"
    wrong: bool  # must earn 0 (else: must earn full marks)
    needs: str = "any"  # "any" | "function" (a function answer) | "symbolic" (a sympy answer with symbols)
    says: str = ""


KINDS: tuple[Kind, ...] = (
    Kind("memoriser", "memoriser", True, says=N_("answers that reproduce what the visible tests check and nothing else")),
    Kind("zeros", "zeros", True, says=N_("zeros of the right shape and type (functions: of their results)")),
    Kind("ones", "ones", True, says=N_("ones of the right shape and type")),
    Kind("random", "noise", True, says=N_("random numbers of the right shape and dtype")),
    Kind("input", "input", True, "function", says=N_("each function returns its first input")),
    Kind("constant", "constant", True, "symbolic", says=N_("each symbolic answer is the number it takes at a visible point")),
    Kind("float32", "float32", False, says=N_("floats and arrays in float32 (functions: from float32 inputs)")),
    Kind("lists", "lists", False, says=N_("arrays as nested lists")),
    Kind("Fraction", "fractions", False, says=N_("floats as fractions.Fraction")),
    Kind("sympy-num", "sympy_numbers", False, says=N_("numbers as sympy numbers")),
    Kind("expand", "expand", False, "symbolic", says=N_("sympy expand")),
    Kind("factor", "factor", False, "symbolic", says=N_("sympy factor")),
    Kind("exp", "rewrite_exp", False, "symbolic", says=N_("sympy rewrite(exp)")),
    Kind("simplify", "simplify", False, "symbolic", says=N_("sympy simplify")),
    Kind("redeclared", "redeclared", False, "symbolic", says=N_("symbols declared again without assumptions")),
)


@dataclass
class Answer:
    """One name a question's tests read, as the solution defines it."""

    name: str
    kind: str  # "value" | "function" | "other" (a class, an object the bridge cannot send)
    payload: Any = None  # a value: the solution's, encoded by the codec
    calls: list[list[Any]] = field(default_factory=list)  # a function: [args, kwargs, result] of the visible calls, encoded
    points: list[dict[str, Any]] = field(default_factory=list)  # where the visible tests evaluated it (by symbol name)
    memoriser: Any = None  # a value: what the memoriser writes, encoded
    memorised_as: str = ""  # which candidate that is (autograder.recording.CANDIDATES)


@dataclass
class QuestionAnswers:
    grade_id: str
    points: float
    names: list[str]  # the answers generated students change
    fallback: bool = False  # no answer cell defines a name the tests read: the names are the tests' own parameters
    exempt: dict[str, str] = field(default_factory=dict)  # correct form -> why the question does not accept it


EXEMPTION = re.compile(r"^\s*#\s*mdl validate:\s*not\s+(?P<kinds>[\w\-]+(?:\s*,\s*[\w\-]+)*)\s*(?::\s*(?P<why>.*))?$")


def exemptions(test_cell_source: str) -> tuple[dict[str, str], list[str]]:
    """The correct forms a test cell says its question does not accept, with the reason; and problems with the lines.

    One line per statement, in the visible part (students read it too), e.g.
    ``# mdl validate: not float32: the question asks for float64 (the prompt says why)``.
    Only correct forms can be exempted: a wrong student earns 0 on every question, whatever it says.
    """
    right = {k.name for k in KINDS if not k.wrong}
    found: dict[str, str] = {}
    problems = []
    for line in test_cell_source.splitlines():
        match = EXEMPTION.match(line)
        if not match:
            continue
        why = (match.group("why") or "").strip() or _("no reason given")
        for name in (n.strip() for n in match.group("kinds").split(",")):
            if name in right:
                found[name] = why
            else:
                problems.append(_("'{line}': {kind} is not a correct form that a question may refuse (one of {kinds})")
                                .format(line=line.strip(), kind=repr(name), kinds=", ".join(sorted(right))))
    return found, problems


@dataclass
class Recording:
    """What the generated students are made from: the source's answers and its visible tests' calls."""

    assignment: str
    questions: list[QuestionAnswers]
    answers: dict[str, Answer]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- which kinds apply where


def _decoded(payload: Any) -> Any:
    """A recorded payload as the kernel sees it (the grader's own functions among a call's arguments included)."""
    from mdl_student.codec import decode_value

    return decode_value(payload, allow_functions=True, namespace={})


def _changes(kind: Kind, answer: Answer) -> bool | None:
    """Whether the kind changes this answer (None: cannot tell before grading: a function the visible tests never call)."""
    form = answer_forms.FORMS.get(kind.form)
    try:
        if answer.kind == "value":
            value = _decoded(answer.payload)
            if kind.form == "input":
                return not answer_forms.same(answer_forms.zeros(value), value)
            if kind.form == "constant":
                return not answer_forms.same(answer_forms.constant(value), value)
            return not answer_forms.same(form(value), value)  # type: ignore[misc]
        if answer.kind != "function":
            return False
        if kind.form == "input":
            return True
        if not answer.calls:
            return None
        for args, kwargs, result in answer.calls:
            value = _decoded(result)
            if kind.form == "float32" and not answer_forms.same(answer_forms.float32(_decoded(args)), _decoded(args)):
                return True
            made = answer_forms.constant(value) if kind.form == "constant" else form(value)  # type: ignore[misc]
            if not answer_forms.same(made, value):
                return True
        return False
    except Exception:  # noqa: BLE001  (an answer a form cannot handle: the kind does not apply to it)
        return False


def _is_symbolic(answer: Answer) -> bool:
    try:
        if answer.kind == "value":
            return _holds_symbols(_decoded(answer.payload))
        return any(_holds_symbols(_decoded(result)) for _, _, result in answer.calls)
    except Exception:  # noqa: BLE001
        return False


def _holds_symbols(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_symbols(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_symbols(v) for v in value)
    return answer_forms._symbolic(value)


def applies_before_grading(kind: Kind, question: QuestionAnswers, recording: Recording) -> bool | None:
    """Whether `kind` applies to `question`, as far as the recording tells (None: grading will tell).

    A wrong kind applies where it changes every answer of the question (else the student is partly
    right and may earn partial credit); a right kind where it changes at least one.
    """
    answers = [recording.answers[n] for n in question.names if n in recording.answers]
    if not answers:
        return False
    if kind.form == "memoriser":  # copies what it can; an answer it cannot make (a class) would stay right
        return all(a.kind != "other" for a in answers)
    if kind.needs == "function" and not any(a.kind == "function" for a in answers):
        return False
    if kind.needs == "symbolic" and not any(_is_symbolic(a) or (a.kind == "function" and not a.calls) for a in answers):
        return False
    changes = [_changes(kind, a) for a in answers]
    if kind.wrong:
        return None if None in changes and False not in changes else all(changes)
    return True if True in changes else None if None in changes else False


def applies_after_grading(kind: Kind, question: QuestionAnswers, report: dict[str, Any]) -> tuple[bool, str, bool]:
    """Whether `kind` applied to `question`, from what the generated answers reported while it was graded; why not;
    and whether its answers could not be made at all (said below validate's table)."""
    entries = {n: report.get(n, {}) for n in question.names}
    errors = [f"{n}: {e['error']}" for n, e in entries.items() if e.get("error")]
    if errors:
        return False, _("could not be made ({errors})").format(errors="; ".join(errors)), True
    if kind.form == "memoriser":
        return True, "", False
    changed = [bool(e.get("changed")) for e in entries.values()]
    if kind.wrong:
        still_right = [n for n, e in entries.items() if not e.get("changed") and ("calls" not in e or e["calls"])]
        return (not still_right, _("{names} unchanged").format(names=", ".join(still_right)) if still_right else "",
                False)
    return any(changed), "" if any(changed) else _("changes none of its answers"), False


# --------------------------------------------------------------------------- the notebooks


def spec_for(kind: Kind, recording: Recording, only: set[str] | None = None) -> dict[str, Any]:
    """What the generated student of `kind` does to each answer (see answer_forms.apply_kind); with `only`,
    to those answers alone (the others stay the solution's: another kind may share the notebook)."""
    names = [n for n in dict.fromkeys(n for q in recording.questions for n in q.names) if only is None or n in only]
    values: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    for name in names:
        answer = recording.answers.get(name)
        if answer is None or answer.kind == "other":
            continue
        point = answer.points[0] if answer.points else None
        if answer.kind == "value":
            if kind.form == "memoriser":
                values[name] = {"payload": answer.memoriser}
            elif kind.form == "input":
                values[name] = {"form": "zeros"}
            elif kind.form == "constant":
                values[name] = {"form": "constant", "point": _encoded(point)}
            else:
                values[name] = {"form": kind.form}
        elif kind.form == "memoriser":
            functions[name] = {"form": "memoriser", "table": answer.calls}
        else:
            functions[name] = {"form": kind.form, "point": _encoded(point)}
    return {"kind": kind.name, "values": values, "functions": functions}


def _encoded(value: Any) -> Any:
    from mdl_student.codec import encode_value

    return None if value is None else encode_value(value)


def merged_spec(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several kinds in one notebook, each changing answers of its own (see validate's packing)."""
    return {"kind": " + ".join(s["kind"] for s in specs),
            "values": {k: v for s in specs for k, v in s["values"].items()},
            "functions": {k: v for s in specs for k, v in s["functions"].items()}}


def kernel_cell(spec: dict[str, Any]) -> str:
    """The generated student's last cell: answer_forms (as text, in a module of its own) rebinds the answers."""
    source = inspect.getsource(answer_forms)
    return "\n".join([
        f"# mdl validate: the generated student {spec['kind']!r}; its answers are made by autograder/answer_forms.py",
        "import json as _mdl_json, types as _mdl_types",
        "_mdl_forms = _mdl_types.ModuleType('_mdl_answer_forms')",
        f"exec(compile({source!r}, 'answer_forms.py', 'exec'), _mdl_forms.__dict__)",
        f"_mdl_forms.apply_kind(globals(), _mdl_json.loads({json.dumps(spec)!r}))",
    ])


def generated_notebook(release: nbformat.NotebookNode, source: nbformat.NotebookNode,
                       spec: dict[str, Any]) -> nbformat.NotebookNode:
    """The release with every answer cell as the source's solution, and the generated student's cell at the end."""
    solutions = {nbgrader_meta(c).get("grade_id"): c.source for c in source.cells if is_solution_cell(c)}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_solution_cell(cell) and grade_id in solutions:
            cell.source = solutions[grade_id]
    nb.cells.append(nbformat.v4.new_code_cell(kernel_cell(spec)))
    return nb


def probe_test_file(report_path: str) -> str:
    """The otter test file of the validation bundle's last question: it writes the generated answers' report.

    Its one case is hidden, so it runs after every question's hidden cases (autograder.scoring), when
    the report holds everything the grading did with the answers.
    """
    return "\n".join([
        '"""mdl validate: writes what the generated student\'s answers did while the questions were graded."""',
        "from otter.test_files import test_case",
        "",
        "OK_FORMAT = False",
        f"name = {PROBE_ID!r}",
        "points = 1.0",
        "",
        "",
        f'@test_case(name="{PROBE_ID}", hidden=True)',
        "def hidden_tests_1(_mdl_report):",
        "    import json",
        f"    with open({report_path!r}, 'w') as handle:",
        "        json.dump(_mdl_report if isinstance(_mdl_report, dict) else {}, handle, default=str)",
        "",
    ])
