"""results.json (issue 23, class 2): Gradescope shows it to students, so a hidden case says pass/fail and a neutral sentence.

A5's and A7's hidden checks name what they tried ("network 5-2-7-3, slope 0.2", "masked_sum on random
data 1 of 6 has shape (3, 7)"): useful to the instructor, who keeps them in record.json, and a list of
hidden inputs to a student who reads results.json.
"""

from __future__ import annotations

import json

import pytest
from otter.test_files import GradingResults
from otter.test_files.abstract_test import TestCaseResult as CaseResult
from otter.test_files.exception_test import ExceptionTestFile

from autograder.grade import Outcome
from autograder.feedback import NEUTRAL_HIDDEN_FAILED, NEUTRAL_HIDDEN_PASSED
from autograder.records import make_record, save_record
from autograder.results_json import write_results

TEST_FILE = '''\
from otter.test_files import test_case
OK_FORMAT = False
name = "q3_backprop"
points = 4.0

@test_case(name="q3_backprop (visible)", hidden=False, points=0)
def visible_tests(f):
    pass

@test_case(name="q3_backprop (hidden 1)", hidden=True)
def hidden_tests_1(f):
    pass

@test_case(name="q3_backprop (hidden 2)", hidden=True)
def hidden_tests_2(f):
    pass

@test_case(name="q3_backprop (hidden 3)", hidden=True)
def hidden_tests_3(f):
    pass
'''
HIDDEN_DETAIL = [
    "❌ Hidden test failed: dX (D = 1, N = 3) does not match the finite differences for network 5-2-7-3, slope 0.2",
    "❌ Hidden test failed: masked_sum on random data 1 of 6 has shape (3, 7), but (3,) was expected",
]
VISIBLE = "❌ Test case failed\nCheckFailure: dX has shape (2, 2), but (2, 3) was expected"


def _outcome(tmp_path) -> Outcome:
    path = tmp_path / "q3_backprop.py"
    path.write_text(TEST_FILE)
    test_file = ExceptionTestFile.from_file(str(path))
    visible, *hidden = test_file.test_cases
    test_file.test_case_results = [CaseResult(test_case=visible, message=VISIBLE, passed=False)]
    test_file.test_case_results += [CaseResult(test_case=tc, message=m, passed=False) for tc, m in zip(hidden, HIDDEN_DETAIL)]
    test_file.test_case_results.append(CaseResult(test_case=hidden[2], message="✅ Test case passed", passed=True))
    outcome = Outcome("ana", "a5", "ok", {"q3_backprop": round(test_file.score, 6)}, {"q3_backprop": 4.0})
    outcome.results = GradingResults([test_file])
    return outcome


def test_results_json_says_pass_or_fail_and_a_neutral_sentence_for_every_hidden_case(tmp_path):
    record = make_record(_outcome(tmp_path), "fingerprint")
    text = write_results(record, tmp_path).read_text()
    for detail in ("5-2-7-3", "slope 0.2", "D = 1, N = 3", "(3, 7)", "masked_sum on random data"):
        assert detail not in text, detail
    assert text.count(json.dumps(NEUTRAL_HIDDEN_FAILED)[1:-1]) == 2 and NEUTRAL_HIDDEN_PASSED in text
    assert "dX has shape (2, 2), but (2, 3) was expected" in text  # a visible message is kept whole
    question = next(t for t in json.loads(text)["tests"] if t["name"] == "q3_backprop")
    assert question["score"] == pytest.approx(record["score"], abs=1e-4)  # the points are the same


def test_the_instructors_record_keeps_each_hidden_cases_own_message(tmp_path):
    record = make_record(_outcome(tmp_path), "fingerprint")
    save_record(record, tmp_path)
    kept = (tmp_path / "ana" / "record.json").read_text()
    assert "network 5-2-7-3, slope 0.2" in kept and "masked_sum on random data 1 of 6 has shape (3, 7)" in kept
    assert "5-2-7-3" not in json.dumps(record["results"])  # and only there, not in its results part
