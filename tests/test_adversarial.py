"""The attack corpus (tests/adversarial/), graded in one batch: every submission gets its expected row.

For each hostile or broken submission, tests/adversarial/expected.json gives
the status, the score, and a piece of the message it must get.  The cheats are
built on answers worth 16 of 30 points, so a cheat that worked would show.
Whatever the submissions do, the batch finishes, every one gets a row, the
gradebook holds only what the grader wrote, and the grader survives.

Entries that need an isolation this machine lacks are not graded at all (the
kill attacks would really kill the grader without a PID namespace or a user
of their own), and their tests skip saying why.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from grading_config import LIMITS, assignment
from autograder.batch import grade_batch
from autograder.records import load_records
from autograder.sandbox import isolation

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "adversarial"
sys.path.insert(0, str(CORPUS))
import build_corpus  # noqa: E402  (the corpus's own generator: the few submissions made at test time)

# grading_config's limits, with short cells, notebooks and calls so that the loops cost seconds, not minutes
FAST = dataclasses.replace(LIMITS, seconds_per_cell=5.0, seconds_per_notebook=60.0, seconds_per_bridge_call=5.0)
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
GENERATED = ["binary_garbage", "huge_notebook", "write_into_out_dir", "copy_other_student"]
GENERATED += build_corpus.NAME_AND_LINK_ATTACKS  # links and hostile names, made at test time too
GENERATED += ["many_failing_cells"]  # 20,000 failing cells: too large to commit
GENERATED += ["huge_cell", "json_object_flood"]  # 10 MB and 17 MB
CHEATS = ["monkeypatch_numpy", "monkeypatch_sympy", "monkeypatch_checks", "input_transformer", "showtraceback",
          "edit_test_cells", "delete_test_cells", "test_cells_unlocked", "read_source", "read_build",
          "read_other_students", "fake_results", "network", "write_into_out_dir", "copy_other_student"]


def missing_isolation(requires: str | None) -> str | None:
    """Why an entry cannot be graded meaningfully (or safely) here, or None."""
    iso = isolation()
    if requires in ("filesystem", "network") and not getattr(iso, requires):
        return f"needs bubblewrap's {requires} isolation; this machine grades with '{iso.mechanism}': {iso.describe()}"
    if requires == "contained_processes" and not iso.contains_processes:
        return ("student code here is neither in a PID namespace nor a separate user, "
                "so this attack would really kill the grader: not run")
    return None


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    work = tmp_path_factory.mktemp("adversarial")
    subs, out = work / "subs", work / "out"
    shutil.copytree(CORPUS / "submissions", subs)
    expected = dict(EXPECTED)
    build_corpus.generate_at_test_time(subs, out, expected)
    assert sorted(expected) == sorted([*EXPECTED, *GENERATED])
    skipped = {}
    for name, want in expected.items():
        reason = missing_isolation(want["requires"])
        if reason:
            skipped[name] = reason
            for path in (subs / f"{name}.ipynb", subs / name):
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    lines: list[str] = []
    started = time.monotonic()
    records = grade_batch(assignment("a1"), subs, out, jobs=2, limits=FAST, echo=lines.append, progress=False)
    seconds = time.monotonic() - started
    print(f"\nattack corpus: {len(records)} submissions graded in {seconds:.1f} s (jobs=2)")
    return SimpleNamespace(records={r["student"]: r for r in records}, expected=expected, skipped=skipped,
                           out=out, lines=lines, seconds=seconds)


def feedback(batch, name: str) -> str:
    """Everything the grader says about a submission: the record's messages, results.json, and each test case's
    own message (a hidden case's is the instructor's: results.json and feedback.html give a neutral sentence)."""
    record = batch.records[name]
    results = (batch.out / name / "results.json").read_text()
    cases = [case["message"] for question in record["cases"].values() for case in question]
    return "\n".join(record["messages"] + cases) + "\n" + results


@pytest.mark.parametrize("name", sorted([*EXPECTED, *GENERATED]))
def test_each_attack_gets_its_expected_row(batch, name):
    if name in batch.skipped:
        pytest.skip(batch.skipped[name])
    want = batch.expected[name]
    got = batch.records[name]
    assert got["status"] == want["status"], (name, got["messages"])
    assert got["score"] == pytest.approx(want["score"]), (name, got["scores"], got["messages"])
    assert want["message"] in feedback(batch, name), (name, got["messages"])
    results = json.loads((batch.out / name / "results.json").read_text())
    assert results["score"] == pytest.approx(got["score"])
    assert results["extra_data"]["status"] == got["status"]
    for secret in want.get("absent", []):  # e.g. what a student function said about a hidden call
        for path in (batch.out / name).iterdir():
            assert secret not in path.read_text(encoding="utf-8"), (name, path.name, secret)
    for detail in want.get("hidden_detail", []):  # a hidden check's own words: the instructor's, not the student's
        assert detail in json.dumps(got["cases"], ensure_ascii=False), (name, detail)
        for student_file in ("feedback.html", "results.json"):
            assert detail not in (batch.out / name / student_file).read_text(encoding="utf-8"), (name, student_file)


def test_the_batch_finished_with_a_row_for_every_submission(batch):
    graded = set(batch.expected) - set(batch.skipped)
    assert set(batch.records) == graded
    with (batch.out / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == graded
    for name, row in rows.items():
        assert row["status"] == batch.records[name]["status"]
        assert float(row["score"]) == pytest.approx(batch.records[name]["score"])
    assert "grader-error" not in {r["status"] for r in batch.records.values()}


def test_cheats_score_exactly_what_their_honest_answers_score(batch):
    honest = batch.records["control_partial"]["scores"]
    for name in CHEATS:
        if name not in batch.skipped:
            assert batch.records[name]["scores"] == honest, name


def test_limits_cost_only_what_could_not_run(batch):
    """A cell stopped in the middle of the notebook: every answer before and after it still counts."""
    for name in ("sys_exit", "os_exit", "infinite_loop", "sleep_forever", "alarm_disabled_loop", "memory_bomb",
                 "stdout_flood", "disk_filler", "kill_parent", "killpg", "kill_everything", "fork_bomb", "renamed"):
        if name not in batch.skipped:
            honest = "control_full" if batch.expected[name]["score"] == 30 else "control_partial"
            assert batch.records[name]["scores"] == batch.records[honest]["scores"], name


@pytest.mark.skipif(not isolation().filesystem, reason="needs bubblewrap's private file system")
def test_forged_gradebook_files_are_neither_read_nor_left(batch):
    on_disk = load_records(batch.out)
    assert set(on_disk) == set(batch.records)
    for name, record in on_disk.items():
        assert record == batch.records[name]
    assert batch.records["control_full"]["score"] == 30 and batch.records["write_into_out_dir"]["score"] == 16
    with (batch.out / "grades.csv").open() as handle:
        assert "fake_results" not in {r["student"] for r in csv.DictReader(handle) if float(r["score"]) == 30}


def test_every_result_says_which_sandbox_graded_it(batch):
    mechanism = isolation().mechanism
    assert batch.lines[0] == f"sandbox: {isolation().describe()}"
    for name in batch.records:
        assert batch.records[name]["sandbox"] == mechanism
        results = json.loads((batch.out / name / "results.json").read_text())
        assert results["extra_data"]["sandbox"] == mechanism


def test_student_text_reaches_a_person_without_escape_sequences_or_formulas(batch):
    """Terminal lines, messages, results.json and grades.csv: no control character but newline and tab,
    no cell a spreadsheet would run (issue 10, item 10)."""
    import re

    control = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

    def strings(data):
        if isinstance(data, str):
            yield data
        elif isinstance(data, dict):
            for value in data.values():
                yield from strings(value)
        elif isinstance(data, list):
            for value in data:
                yield from strings(value)

    for line in batch.lines:
        assert not control.search(line), repr(line)
    for name, record in batch.records.items():
        results = json.loads((batch.out / name / "results.json").read_text())
        for text in [*strings(record["messages"]), *strings(results)]:
            assert not control.search(text), (name, text)
    assert "fake second line" in "\n".join(batch.records["ansi_exception"]["messages"])
    with (batch.out / "grades.csv").open() as handle:
        for row in csv.reader(handle):
            assert not any(cell.lstrip().startswith(("=", "+", "-", "@")) for cell in row), row


def test_the_grader_is_unharmed(batch):
    assert subprocess.run(["true"]).returncode == 0
    assert os.getppid() > 1
    from test_sandbox import leftover_sandbox_processes

    time.sleep(0.5)
    assert leftover_sandbox_processes() == []
    assert leftover_grader_processes() == []  # no symbolic-check helper of a stopped question (issue 10, item 3)


def leftover_grader_processes() -> list[int]:
    """Processes forked from this one (same program and arguments) that are no longer its descendants.

    A question's child or a symbolic check's helper that outlived the process that started it is
    adopted by init: it runs on, unseen, at full CPU.
    """
    me = os.getpid()
    program = Path(f"/proc/{me}/cmdline").read_bytes()

    def parent(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return 0

    def descends_from_me(pid: int) -> bool:
        while pid > 1:
            if pid == me:
                return True
            pid = parent(pid)
        return False

    leaked = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:  # forked from this process: the same program, arguments and session
            same = Path(f"/proc/{entry}/cmdline").read_bytes() == program and os.getsid(int(entry)) == os.getsid(0)
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if same and state != "Z" and not descends_from_me(int(entry)):
            leaked.append(int(entry))
    return leaked


def test_every_file_and_line_for_a_person_is_valid_utf8(batch):
    """Issue 10, item 4: lone surrogates from the kernel are replaced, so that every file can be written and read."""
    for line in batch.lines:
        line.encode("utf-8")
    for name in batch.records:
        for path in (batch.out / name).iterdir():
            path.read_bytes().decode("utf-8")
    assert "\ufffd" in feedback(batch, "lone_surrogates")


def test_what_is_kept_of_a_submission_is_capped_and_says_so(batch):
    """Issue 10, item 11: 20,000 failing cells leave at most max_messages messages, and a line saying how many were cut."""
    record = batch.records["many_failing_cells"]
    assert len(record["messages"]) <= FAST.max_messages + 1
    assert "more messages, cut" in record["messages"][-1]
    assert all(len(m) <= FAST.max_message_chars for m in record["messages"])
    for kept in ("record.json", "results.json"):
        size = (batch.out / "many_failing_cells" / kept).stat().st_size
        assert size < 300_000, f"{kept} is {size:,} bytes"


# --------------------------------------------------------------------------- one submission, its own limits


def _grade_one(name: str, tmp_path: Path, **limits) -> tuple[dict, float]:
    from autograder.grade import Bundle, Submission, grade_submission

    path = tmp_path / f"{name}.ipynb"
    shutil.copy(CORPUS / "submissions" / f"{name}.ipynb", path)
    started = time.monotonic()
    outcome = grade_submission(Submission(name, path), Bundle.load(assignment("a1")),
                               limits=dataclasses.replace(LIMITS, **limits))  # the course's cell limits: not under test
    return outcome, time.monotonic() - started


@pytest.mark.timeout(600)
def test_an_answer_that_cannot_be_rebuilt_in_time_costs_only_its_question(tmp_path, monkeypatch):
    """Issue 10, item 1: answers are rebuilt in the question's child, under its time limit; the kernel lives on.

    Rebuilding every sympy answer here takes an hour: Q3, Q4 and Q6 (the sympy questions) lose their
    points, each after its own limit, and the other answers keep theirs without a kernel restart.
    """
    from autograder import bridge, grade

    real_decode = bridge.decode_value

    def slow_for_sympy(data, *args, **kwargs):
        if isinstance(data, dict) and "$sympy" in data:
            time.sleep(3600)
        return real_decode(data, *args, **kwargs)

    restarts = []
    real_restart = grade.NotebookRunner._restart
    monkeypatch.setattr(bridge, "decode_value", slow_for_sympy)
    monkeypatch.setattr(grade.NotebookRunner, "_restart", lambda self: restarts.append(1) or real_restart(self))
    outcome, seconds = _grade_one("control_full", tmp_path, seconds_per_question=4.0)
    assert outcome.status == "ok"
    assert {q: s for q, s in outcome.scores.items() if s < outcome.max_scores[q]} == {
        "q3_triangular": 0.0, "q4_rank_one": 0.0, "q6_shallow_params": 0.0}
    assert sum("longer than 4 s" in m for m in outcome.messages) == 3
    assert restarts == []  # stopped while rebuilding, not in mid-request: the kernel was kept


@pytest.mark.timeout(600)
def test_a_question_stopped_in_a_symbolic_check_leaves_no_helper_running(tmp_path):
    """Issue 10, item 3: Q3's symbolic check runs its helper to its 5 s limit; the question's own limit (4 s)
    stops the question in the middle of it, and the helper dies with it."""
    outcome, _ = _grade_one("helper_outlives_question", tmp_path, seconds_per_question=4.0)
    assert outcome.scores["q3_triangular"] == 0.0
    assert any("q3_triangular: the grader stopped checking" in m for m in outcome.messages), outcome.messages
    time.sleep(1.0)
    assert leftover_grader_processes() == []


# --------------------------------------------------------------------------- the grader's own memory (issue 23, class 3)

GRADER_PEAK_MB = 800  # the grader alone peaks near 200 MB here; parsing these notebooks in it took 1.7 and 3.5 GB


@pytest.mark.timeout(900)
def test_notebooks_that_are_ruinous_to_parse_get_their_rows_and_the_graders_memory_stays_bounded(tmp_path):
    """A 4 MB cell, and 17 MB of empty JSON objects, each graded in one run: one row each, and the peak memory of
    the grading process itself (serial: no worker between) stays far below what parsing them in it took."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    expected: dict = {}
    build_corpus.generate_parser_bombs(subs, expected)
    code = (
        "import dataclasses, json, resource, sys\n"
        "from pathlib import Path\n"
        "from grading_config import LIMITS, assignment\n"
        "from autograder.batch import grade_batch\n"
        "fast = dataclasses.replace(LIMITS, seconds_per_cell=5.0, seconds_per_notebook=60.0, seconds_per_bridge_call=5.0)\n"
        "records = grade_batch(assignment('a1'), Path(sys.argv[1]), Path(sys.argv[2]), jobs=1, limits=fast,\n"
        "                      echo=lambda line: None, progress=False)\n"
        "print(json.dumps({'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
        "                  'rows': {r['student']: [r['status'], r['score'], r['messages']] for r in records}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(subs), str(out)], capture_output=True, text=True,
                          timeout=850, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\npeak memory of the grading process: {report['peak_mb']:.0f} MB")
    assert set(report["rows"]) == set(expected) == {"huge_cell", "json_object_flood"}
    assert report["peak_mb"] < GRADER_PEAK_MB
    for name, want in expected.items():
        status, score, messages = report["rows"][name]
        assert (status, score) == (want["status"], want["score"]), (name, messages)
        assert any(want["message"] in m for m in messages), (name, messages)


# --------------------------------------------------------------------------- hidden calls (issue 10, item 6)


@pytest.mark.parametrize("reply, neutral", [
    ({"ok": False, "error_type": "ValueError", "error": "ValueError: SECRET Di=1, D=1"},
     "your function f raised ValueError (its message is not shown for hidden tests)"),
    ({"ok": False, "error_type": "LeakDi1D1", "error": "LeakDi1D1: SECRET"},
     "your function f raised an exception of a class of its own (its message is not shown for hidden tests)"),
    ({"ok": False, "error_type": "CellTimeout", "error": "the call ran past its time limit"},
     "calling f ran past its time limit"),
    ({"ok": True, "value": {"$sympy": "SECRET(1)"}}, "f returned a value the grader cannot read"),
])
def test_a_hidden_call_that_fails_is_reported_without_a_word_the_student_chose(reply, neutral):
    from autograder.bridge import StudentCodeError, _answer
    from mdl_student.checks import concealed

    with pytest.raises(StudentCodeError) as visible:
        _answer(lambda: reply, "f", "your function f raised")
    with concealed(), pytest.raises(StudentCodeError) as hidden:
        _answer(lambda: reply, "f", "your function f raised")
    assert str(hidden.value) == neutral
    assert "SECRET" not in str(hidden.value) and "Di1" not in str(hidden.value)
    assert str(visible.value) != neutral  # outside concealed(), the student reads the whole story


def test_a_hidden_call_that_stops_the_kernel_says_only_that():
    from autograder.bridge import StudentCodeError, _answer
    from autograder.sandbox import KernelDied
    from mdl_student.checks import concealed

    def died():
        raise KernelDied("the kernel exited with status 11")  # 11: Di = 1, D = 1, chosen by the student

    with concealed(), pytest.raises(StudentCodeError, match="^calling f stopped the kernel$"):
        _answer(died, "f", "your function f raised")


def test_hidden_checks_do_not_quote_what_a_student_function_returned():
    import sympy as sp

    from mdl_student.checks import CheckFailure, assert_close, concealed

    for returned in ("SECRET Di=1, D=1", sp.Symbol("Di1") + 1, ["SECRET"]):
        with concealed(), pytest.raises(CheckFailure) as info:
            assert_close(returned, 1.0)
        assert "SECRET" not in str(info.value) and "Di1" not in str(info.value), str(info.value)


# --------------------------------------------------------------------------- sample points (issue 10, item 5)


def test_sample_points_are_drawn_afresh_and_off_any_grid():
    import sympy as sp

    from mdl_student.checks import _Sampler

    x = sp.Symbol("x")
    first, second = (_Sampler([x], {}, 12).points for _ in range(2))
    assert [p[x] for p in first] != [p[x] for p in second]  # no seed: nobody can know them in advance
    assert all(p[x].q > 1000 for p in first)  # exact rationals off the grid of thousandths


@pytest.mark.parametrize("answer", ["interpolant", "sine-on-the-grid", "piecewise-beyond-the-range"])
def test_answers_that_agree_only_where_points_used_to_be_fail(answer):
    import sympy as sp

    from mdl_student.checks import CheckFailure, _Sampler, assert_equivalent, concealed

    a, c, f = sp.symbols("a c f")
    expected = a * c * f
    if answer == "interpolant":  # through the points a sampler drew: the check draws others
        points = _Sampler([a, c, f], {}, 12).points[:12]
        wrong = sp.interpolate([(p[a], expected.subs(p)) for p in points], a)
    elif answer == "sine-on-the-grid":
        wrong = expected + sp.sin(1000 * sp.pi * a)
    else:
        wrong = sp.Piecewise((expected, a < 10**4), (0, True))
    with concealed(), pytest.raises(CheckFailure, match="not equivalent|could not decide"):
        assert_equivalent(wrong, expected)


def test_a_right_answer_the_algebra_cannot_prove_is_confirmed_at_many_points():
    import sympy as sp

    from mdl_student.checks import assert_equivalent

    t = sp.Symbol("t", real=True)
    assert_equivalent(sp.Heaviside(t) * t, sp.Max(0, t))  # ReLU two ways: the pieces change where points fall
