"""Scoring order (issue 23, class 1): no message a student reads is made after a hidden call to their code.

A student's function can record every argument the grader passes it (hidden inputs, and the
grader's helper functions, which cross to the kernel as source text); any later answer can quote
them. These tests grade two questions against a stand-in kernel that does exactly that, through the
real bridge and the real forked children, and read every message a student would see.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

from grading_config import LIMITS
from mdl_student.codec import encode_value

from autograder.grade import score

HEADER = '''\
from otter.test_files import test_case
from mdl_student.checks import concealed
OK_FORMAT = False
name = {name!r}
points = 1.0
'''

# Q1's hidden case calls the student's f on a hidden input, with a grader helper whose source holds a secret.
Q1 = HEADER.format(name="q1") + '''
@test_case(name="q1 (visible)", hidden=False, points=0)
def visible_tests(f):
    assert f(1) == 1

@test_case(name="q1 (hidden)", hidden=True)
def hidden_tests_1(f):
    with concealed():
        def helper(x):
            return x * 7919  # SECRET-IN-HELPER
        assert f(123456789, helper) == 123456789
'''

# Q2's visible case quotes what the student's g returns; Q2 comes after Q1 in the manifest.
Q2 = HEADER.format(name="q2") + '''
@test_case(name="q2 (visible)", hidden=False, points=0)
def visible_tests(g):
    seen = g()
    assert seen == "nothing", f"g returned {seen}"

@test_case(name="q2 (hidden)", hidden=True)
def hidden_tests_1(g):
    with concealed():
        assert g() == "nothing"
'''


class RecordingKernel:
    """A kernel whose f records every call (in a file: each question's child is a fork) and whose g quotes them."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process = SimpleNamespace(poll=lambda: None)
        self.mid_request = False

    def lookup(self, names: list[str]) -> dict:
        return {name: {"kind": "function"} for name in names}

    def call(self, name: str, args: object, kwargs: object) -> dict:
        if name == "f":
            with self.log.open("a") as handle:
                handle.write(json.dumps(args) + "\n")
            return {"ok": True, "value": args["$tuple"][0]}  # its first argument, as it came
        return {"ok": True, "value": encode_value("seen: " + self.log.read_text() if self.log.exists() else "nothing")}

    def close(self) -> None:
        pass


def test_no_visible_message_quotes_a_hidden_input_or_a_helper_a_student_function_recorded(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "q1.py").write_text(textwrap.dedent(Q1))
    (tests / "q2.py").write_text(textwrap.dedent(Q2))
    kernel = RecordingKernel(tmp_path / "calls.log")
    runner = SimpleNamespace(kernel=kernel, limits=dataclasses.replace(LIMITS, seconds_per_question=30.0),
                             live_kernel=lambda: kernel)
    bundle = SimpleNamespace(manifest=SimpleNamespace(questions=[{"grade_id": "q1", "params": ["f"]},
                                                                 {"grade_id": "q2", "params": ["g"]}]),
                             tests_dir=tests)

    results, notes = score(runner, bundle)

    assert "123456789" in kernel.log.read_text() and "SECRET-IN-HELPER" in kernel.log.read_text()  # it did record
    visible = [r.message for tf in results.results.values() for r in tf.test_case_results if not r.test_case.hidden]
    student_readable = "\n".join(visible + notes)
    assert "g returned seen:" in student_readable  # the channel is open: Q2's visible message quotes f's calls
    for secret in ("123456789", "SECRET-IN-HELPER", "7919"):
        assert secret not in student_readable, student_readable
    q1_hidden = next(r for r in results.results["q1"].test_case_results if r.test_case.hidden)
    assert q1_hidden.passed  # the hidden case did run, after every visible one
