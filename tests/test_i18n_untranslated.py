"""No student-facing message escapes the catalog (issue 22): a static check of the modules students read.

Babel extracts only what is wrapped in `_()`; a message written as a plain string or f-string is
never extracted, so the catalog test cannot see it.  This test reads the source instead: any string
literal (or f-string) that reaches a student-facing message (the exception a check raises, the
reason an answer could not be read, a `.format()` argument of a translated message, a variable or
dict entry that holds part of a message, what a hint or description helper returns) without going
through `_()` / `N_()` fails, named file:line.  A literal is prose when its text (placeholders left
out) holds a letter; the few that hold a letter and are not prose are listed below, each with why.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from autograder.feedback import STATUS_EXPLAINED

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "student" / "mdl_student"

# The modules whose messages a student (or instructor) reads.
STUDENT_FACING = sorted((PACKAGE / "checks").glob("*.py")) + [
    PACKAGE / "codec.py",
    PACKAGE / "safe_sympy" / "typed_answers.py",
    PACKAGE / "safe_sympy" / "whitelist.py",
    PACKAGE / "safe_sympy" / "srepr.py",
] + [ROOT / "autograder" / f"{name}.py" for name in (
    "batch", "bridge", "cell_map", "class_report", "feedback", "grade", "gradebook", "intake", "safe_zip", "late", "records",
    "scoring",
    # the sandbox's reasons a student reads in a record's notes (a kernel that died or ran out of time,
    # a check stopped at its limit); the kernel server's own errors never reach one (a fresh kernel is started instead)
    "sandbox/kernel", "sandbox/forked_check", "sandbox/users", "sandbox/isolation_probe",
    # what `mdl build/export/feedback-export/roster/student-package` print for a TA (CSV column names stay English)
    "cli", "build", "compile_tests", "export", "feedback_export", "roster", "student_package",
    # `mdl validate`'s table, problems and the generated students' notes; argparse's words for mdl's command line
    "validate", "generated_students", "recording", "argparse_i18n",
    # the manual questions: the answers page per question, manual_grades.csv's errors, what formgrader shows
    "manual")]

# Calls that make a message a student reads: every argument is a message or part of one.
MESSAGE_CALLS = {"_fail", "CheckFailure", "UnreadableAnswer", "_Unusable", "_Ragged", "_Unreadable",
                 "CodecError", "UnsafeExpression", "StudentCodeError", "_Unit",
                 "echo", "Cell"}  # mdl validate's lines, and a cell of its table (why a kind does not apply)
# Exceptions for the author of a test or of the course's code (a wrong expected value, a bad
# tolerance): Python's own errors, in Python's language (English), never shown to a student.
DEVELOPER_ERRORS = {"TypeError", "ValueError", "RuntimeError", "NotImplementedError", "AttributeError",
                    "KeyError", "IndexError", "ImportError", "AssertionError", "RecursionError", "OSError"}
# Variables, dict keys and helpers that hold or return part of a message.
MESSAGE_NAMES = {"message", "reason", "hint", "hints", "where", "text", "scope", "error", "layout", "side",
                 "what", "subject", "described", "like", "names", "wanted", "parts", "item", "label", "kinds",
                 "why", "summary", "verdict", "advice", "problems", "notes"}
MESSAGE_HELPERS = re.compile(r"hint|message|describe|reason|quote|_fmt_shape|_coarse|_column|_a$|_kind_word")
TRANSLATED = {"_", "N_", "ngettext"}
ATTRIBUTE_CALLS = {"getattr", "hasattr", "setattr", "__getattribute__", "__setattr__"}

# Literals with letters that are not prose (each says why).
NOT_PROSE = {
    "Python int",     # a dtype label, as numpy and Python spell it
    "exact",          # a sentinel rule passed to _report_mismatch, never shown
    "disagree", "pieces", "unknown",  # codes of an undecided verdict; symbolic.py words them with _()
    "utf-8",          # an encoding's name
    "lambda", "await", "yield",  # Python keywords, named as the student wrote them
    # otter's markers on a test case's message, which feedback.py recognises and words itself
    "❌ Test case failed\n", "❌ Hidden test failed: ", "❌ ",
    "grades.csv", "source/{}/{}",  # a file's name and a path (source/<assignment>/<notebook>), the same in every language
    "NFC", "replace",  # a Unicode normal form and a decoding error handler, passed to Python, never shown
} | set(STATUS_EXPLAINED)  # the statuses ("invalid-notebook"): codes, explained in words on the feedback page


def _is_prose(text: str) -> bool:
    words = re.sub(r"<[^<>]*>", "", re.sub(r"\{[^{}]*\}", "", text))  # placeholders and HTML tags are not words
    return text not in NOT_PROSE and words not in NOT_PROSE and re.search(r"[A-Za-z]", words) is not None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _callee_name(node: ast.AST) -> str:
    """The name of a variable or attribute (``problems``, ``report.problems``), else ""."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _literals(node: ast.AST):
    """The string literals (and f-strings' literal parts) in an expression, outside `_()` and `N_()`."""
    if isinstance(node, ast.Call) and _callee(node) in TRANSLATED:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node, node.value
        return
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        yield node, text
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                yield from _literals(value.value)  # not the format spec (".3g" is not prose)
        return
    if isinstance(node, ast.Subscript):  # x["where"]: a key, not words
        yield from _literals(node.value)
        return
    if isinstance(node, ast.Call) and _callee(node) in ATTRIBUTE_CALLS:  # getattr(x, "__name__"): a name
        yield from _literals(node.args[0])
        for arg in node.args[2:]:
            yield from _literals(arg)
        return
    if isinstance(node, ast.comprehension):  # for part in ("answers", "test"): what is iterated over is keys
        return
    if isinstance(node, ast.Compare):  # kind == "matrix": a comparison, not words
        return
    if isinstance(node, ast.Dict):  # {key: message}: the values
        for value in node.values:
            yield from _literals(value)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "group":
        yield from _literals(node.func.value)  # match.group("why"): a group's name
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        yield from _literals(node.func.value)  # hints.get((got, want), ""): the key is not words
        for arg in node.args[1:]:
            yield from _literals(arg)
        return
    for child in ast.iter_child_nodes(node):
        yield from _literals(child)


def _message_expressions(tree: ast.AST):
    """Every expression in the module that is, or becomes part of, a message a student reads."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _callee(node)
            if name in MESSAGE_CALLS:
                yield from node.args
                yield from (k.value for k in node.keywords)
            elif name in ("append", "extend") and isinstance(node.func, ast.Attribute) \
                    and _callee_name(node.func.value) in MESSAGE_NAMES:
                yield from node.args  # report.problems.append(...): a message added to a list of them
            elif name == "format" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call) \
                    and _callee(node.func.value) in TRANSLATED:
                yield from node.args  # _("... {x}").format(x=...): what fills a translated message
                yield from (k.value for k in node.keywords)
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                and _callee(node.exc) not in DEVELOPER_ERRORS | MESSAGE_CALLS:
            yield from node.exc.args
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else "" for t in targets}
            if names & MESSAGE_NAMES and node.value is not None:
                yield node.value
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in MESSAGE_NAMES:
                    yield value
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and MESSAGE_HELPERS.search(node.name):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    yield inner.value


def untranslated(path: Path) -> list[str]:
    """`file:line: text` for each prose literal that reaches a student's message without `_()`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for expression in _message_expressions(tree):
        for node, text in _literals(expression):
            if _is_prose(text):
                found.add((node.lineno, text))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [f"{shown}:{line}: {text!r}" for line, text in sorted(found)]


@pytest.mark.parametrize("path", STUDENT_FACING, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_student_facing_message_goes_through_the_catalog(path):
    found = untranslated(path)
    assert not found, "messages not wrapped in _() (so not in the catalog):\n" + "\n".join(found)


PLANTED = '''
from mdl_student.i18n import _

def check(x, name):
    if x is None:
        raise _fail(_("{name} is None").format(name=name))          # wrapped: fine
    if x < 0:
        raise _fail(f"{name} is negative")                           # line 8: an f-string
    message = _("{name} is {value}").format(name=name, value="too big")  # line 9: a plain argument
    if x > 1:
        message += "; try again"                                      # line 11: built up by hand
    raise CodecError("value is " + str(x))                          # line 12
    report.problems.append(f"{name} earned points")                 # line 13: added to a list of messages
    echo(f"validate {name}: ok")                                     # line 14: a line mdl prints
    echo(_("<b>{name}</b>").format(name=name), "<li>")              # HTML tags alone are not words
'''


def test_the_check_names_each_planted_unwrapped_message(tmp_path):
    module = tmp_path / "planted.py"
    module.write_text(textwrap.dedent(PLANTED))
    found = untranslated(module)
    assert [entry.split(":")[1] for entry in found] == ["8", "9", "11", "12", "13", "14"], found
    assert "is negative" in found[0] and "too big" in found[1] and "try again" in found[2]


def test_the_check_passes_a_module_whose_messages_are_all_wrapped(tmp_path):
    module = tmp_path / "wrapped.py"
    module.write_text('raise _fail(_("{name} has shape {got}").format(name=n, got=str(s)) + "; " + hint)\n')
    assert untranslated(module) == []
