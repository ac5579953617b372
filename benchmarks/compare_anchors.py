"""Grade the attack corpus with our grader, with `nbgrader autograde` and with `otter run`; print a table.

    .venv/bin/python benchmarks/compare_anchors.py [--out benchmarks/results/anchors.md] [--only a,b,c]

* **ours**: the whole corpus (tests/adversarial/, plus the submissions made at
  test time) in one batch, `grade_batch(..., jobs=2)` with grading_config's
  limits except 5 s per cell, 60 s per notebook and 5 s per call (as tests/test_adversarial.py);
  the wall time of that batch is reported.
* **nbgrader** 0.9.6: a temporary course folder holding source/a1/a1.ipynb,
  `nbgrader generate_assignment a1`, each submission copied to
  submitted/<student>/a1/a1.ipynb, then `nbgrader autograde a1 --student
  <student>` (one process per submission, so that an attack that kills the
  grading process costs only its own row), with nbgrader's own cell timeout
  of 30 s; the score is read from the gradebook database.
* **otter-grader** 7.0.0: `otter generate` builds an autograder zip from the
  very test files our grader uses (build/a1/tests/*.py, otter's exception
  format), then `otter run -a autograder.zip` grades each submission (otter
  runs the notebook in a Jupyter kernel and the tests in that same kernel); the
  score is read from the results.json it writes.

Both anchors run as this machine's user, unsandboxed, so each of their
processes is started in a session of its own with a wall-clock limit of
``ANCHOR_WALL_S`` and rlimits (8 GB address space, 1.5 GB files) that keep a
hostile submission from taking the shared machine down; a run that hits the
wall clock is reported as "hung (killed after N s)".  Attacks that would harm
the machine itself without a sandbox (``kill -9 -1`` as root kills every
process; a fork bomb as root has no process limit; writes into shared
folders) are not given to the anchors, and the table says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "adversarial"))

import build_corpus  # noqa: E402
from grading_config import LIMITS, PATHS, assignment  # noqa: E402

BIN = Path(sys.executable).parent
ANCHOR_WALL_S = 120
LITTER = [Path("/tmp/big.bin")]
NOT_FOR_ANCHORS = {
    "kill_everything": "not run: `kill -9 -1` in an unsandboxed kernel (here: root) kills every process on the machine",
    "fork_bomb": "not run: an unsandboxed fork bomb (here: root, no process limit) takes the machine down",
    "fake_results": "not run: writes results.json/grades.csv into ~, /tmp and the repository's graded/ folder",
    "write_into_out_dir": "not applicable: attacks our grader's --out folder by absolute path",
    "keyring_leave_answers": "not run: would leave keys in the machine's own keyrings (the anchors run as root)",
    "keyring_take_answers": "not run: reads keys from the machine's own keyrings (the anchors run as root)",
}
# Attacks on how our grader turns a folder of files into students (names that collide, or that a
# gradebook, a terminal or a spreadsheet would misread): the anchors are handed one notebook by path, and
# the id our intake gives is not a file name the harness can hand them (it used to report "no notebook",
# or grade the other file of a colliding pair).  Links are still given: the anchors follow them.
NOT_FOR_ANCHORS.update({
    name: "not applicable: a file name our intake must make safe or tell apart; the anchors are handed "
          "one notebook by path"
    for name in build_corpus.NAME_AND_LINK_ATTACKS
    if name not in ("link_to_source", "link_to_student", "linked_folder", "ansi_exception")
})


# --------------------------------------------------------------------------- ours


def grade_ours(subs: Path, out: Path) -> tuple[dict[str, dict], float]:
    from autograder.batch import grade_batch

    fast = dataclasses.replace(LIMITS, seconds_per_cell=5.0, seconds_per_notebook=60.0, seconds_per_bridge_call=5.0)
    started = time.monotonic()
    records = grade_batch(assignment("a1"), subs, out, jobs=2, limits=fast, echo=lambda s: None, progress=False)
    return {r["student"]: r for r in records}, time.monotonic() - started


# --------------------------------------------------------------------------- running an anchor, boxed in


def _limits() -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1536 * 2**20, 1536 * 2**20))


def run_boxed(command: list[str], cwd: Path, home: Path) -> tuple[int | None, str, float]:
    """Run a tool as a child of a throwaway shell (so `kill parent` hits the shell), in its own session.

    Every process it starts carries a marker in its environment; afterwards all of them are
    killed, kernels included (Jupyter starts kernels in sessions of their own).
    """
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
           "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MDL_ANCHOR_RUN": marker}
    shell = ["/bin/sh", "-c", '"$@"; echo "exit status $?"', "sh", *command]
    started = time.monotonic()
    process = subprocess.Popen(shell, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", preexec_fn=_limits)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=ANCHOR_WALL_S)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_marked(marker)
        output, _ = process.communicate()
        code = None
    _kill_marked(marker)  # whatever the submission (or the tool) left running
    return code, output, time.monotonic() - started


def _kill_marked(marker: str) -> None:
    needle = f"MDL_ANCHOR_RUN={marker}".encode()
    for _ in range(5):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                        found.append(int(entry))
                except OSError:
                    continue
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.2)


def _why(output: str) -> str:
    """The tool's own account of what went wrong: its last error line, and how its process ended."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    status = next((line for line in reversed(lines) if line.startswith("exit status")), "")
    code = int(status.split()[-1]) if status else None
    ended = {137: "its process was killed (SIGKILL)", 0: ""}.get(code, f"exit status {code}") if code is not None else ""
    errors = [line for line in lines if ("ERROR" in line or "Error" in line or "error:" in line)
              and "exit status" not in line]
    error = errors[-1][:110] if errors else ""
    return "; ".join(part for part in (ended, error) if part)


# --------------------------------------------------------------------------- nbgrader


def setup_nbgrader(work: Path) -> Path:
    course = work / "nbgrader_course"
    (course / "source" / "a1").mkdir(parents=True)
    # the source's English edition, as `mdl build` gives nbgrader (a cell's twin in another language repeats its grade_id)
    import nbformat

    from autograder.notebook_meta import SOURCE_LANGUAGE, edition

    nb = nbformat.read(PATHS.source / "a1" / "a1.ipynb", as_version=4)
    nbformat.write(edition(nb, SOURCE_LANGUAGE), course / "source" / "a1" / "a1.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'mdl'\n"
        "c.Execute.timeout = 30\n"
    )
    code, output, _ = run_boxed([str(BIN / "nbgrader"), "generate_assignment", "a1", "--create", "--force"], course, work)
    if "exit status 0" not in output:
        raise SystemExit(f"nbgrader generate_assignment failed:\n{output[-3000:]}")
    return course


def grade_nbgrader(course: Path, student: str, path: Path | None, layout: str, work: Path) -> str:
    target = course / "submitted" / student / "a1"
    target.mkdir(parents=True, exist_ok=True)
    if path is not None:
        name = "a1.ipynb" if layout == "flat" else path.name
        shutil.copy(path, target / name)
    code, output, seconds = run_boxed(
        [str(BIN / "nbgrader"), "autograde", "a1", "--student", student, "--create", "--force"], course, work
    )
    if code is None:
        return f"hung (killed after {ANCHOR_WALL_S} s)"
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            submission = gb.find_submission("a1", student)
            score, max_score = submission.score, submission.max_score
    except MissingEntry:
        return f"no grade ({_why(output)})"
    except Exception as err:  # noqa: BLE001  (a damaged database is an outcome too)
        return f"no grade ({type(err).__name__})"
    if "exit status 0" not in output or "[AutogradeApp | ERROR]" in output:
        return f"{score:g}/{max_score:g} in its gradebook ({_why(output)})"
    return f"{score:g}/{max_score:g}"


# --------------------------------------------------------------------------- otter


def setup_otter(work: Path) -> Path:
    otter_dir = work / "otter"
    shutil.copytree(PATHS.build / "a1" / "tests", otter_dir / "tests")
    zip_path = otter_dir / "autograder.zip"
    code, output, _ = run_boxed(
        [str(BIN / "otter"), "generate", "-t", "tests", "-o", str(zip_path), "--no-config", "--no-requirements",
         "--no-environment"], otter_dir, work,
    )  # fmt: skip
    if not zip_path.is_file():
        raise SystemExit(f"otter generate failed:\n{output[-3000:]}")
    return zip_path


def grade_otter(zip_path: Path, student: str, path: Path | None, work: Path) -> str:
    if path is None:
        return "nothing to grade (no notebook)"
    out = work / "otter_results" / student
    out.mkdir(parents=True, exist_ok=True)
    submission = out / "a1.ipynb"
    shutil.copy(path, submission)
    code, output, seconds = run_boxed(
        [str(BIN / "otter"), "run", "-a", str(zip_path), "-o", str(out), "--no-logo", str(submission)], out, work
    )
    if code is None:
        return f"hung (killed after {ANCHOR_WALL_S} s)"
    results = out / "results.json"
    if not results.is_file():
        return f"no grade ({_why(output)})"
    data = json.loads(results.read_text())
    score = data.get("score", sum(t.get("score", 0) for t in data.get("tests", [])))
    return f"{score:g}/30"


# --------------------------------------------------------------------------- the table


def submission_path(subs: Path, name: str) -> tuple[Path | None, str]:
    flat = subs / f"{name}.ipynb"
    if flat.is_file():
        return flat, "flat"
    notebooks = sorted((subs / name / "a1").glob("*.ipynb")) if (subs / name).is_dir() else []
    return (notebooks[0], "nbgrader") if notebooks else (None, "nbgrader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "anchors.md"))
    parser.add_argument("--only", default="", help="comma-separated attack names (default: the whole corpus)")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: replace or add just these rows in the existing table, keep the others")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mdl-anchors-"))
    subs, out = work / "subs", work / "ours"
    shutil.copytree(ROOT / "tests" / "adversarial" / "submissions", subs)
    expected = json.loads((ROOT / "tests" / "adversarial" / "expected.json").read_text())
    build_corpus.generate_at_test_time(subs, out, expected)
    names = sorted(expected)
    if args.only:
        keep = set(args.only.split(","))
        names = [n for n in names if n in keep]
        for p in list(subs.iterdir()):
            if (p.stem if p.is_file() else p.name) not in keep:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    # otter grades with build/a1/tests: built now, so that every tool grades the current A1
    subprocess.run([str(BIN / "mdl"), "build", "a1"], cwd=ROOT, check=True, capture_output=True)
    print(f"grading {len(names)} submissions with our grader ...", flush=True)
    load_at_start, uptime_at_start = os.getloadavg()[0], _uptime()
    ours, our_seconds = grade_ours(subs, out)
    print(f"  {our_seconds:.1f} s", flush=True)

    # the anchors' copy of the absolute-path attack must name a file they can see
    anchor_subs = work / "anchor_subs"
    shutil.copytree(subs, anchor_subs)
    if "copy_other_student" in names:
        attack = anchor_subs / "copy_other_student.ipynb"
        attack.write_text(attack.read_text().replace(str(subs / "control_full.ipynb"), str(anchor_subs / "control_full.ipynb")))

    print("setting up nbgrader and otter ...", flush=True)
    course = setup_nbgrader(work)
    zip_path = setup_otter(work)
    rows = []
    litter_before = {p for p in LITTER if p.exists()}
    anchor_started = time.monotonic()
    for name in names:
        path, layout = submission_path(anchor_subs, name)
        if name in NOT_FOR_ANCHORS:
            nb_outcome = ot_outcome = NOT_FOR_ANCHORS[name]
        else:
            nb_outcome = grade_nbgrader(course, name, path, layout, work)
            ot_outcome = grade_otter(zip_path, name, path, work)
        record = ours[name]
        our_outcome = f"{record['status']}, {record['score']:g}/30"
        want = expected[name]
        print(f"  {name:24} ours: {our_outcome:24} nbgrader: {nb_outcome[:40]:40} otter: {ot_outcome[:40]}", flush=True)
        rows.append((name, want["description"], our_outcome, nb_outcome, ot_outcome, want["score"]))
    anchor_seconds = time.monotonic() - anchor_started
    for litter in LITTER:  # what the disk filler wrote outside the anchors' folders (they have no sandbox)
        if litter.is_file() and litter not in litter_before:
            litter.unlink()

    lines = [
        "# The attack corpus under our grader, nbgrader and otter-grader",
        "",
        f"Generated by `benchmarks/compare_anchors.py` on {time.strftime('%Y-%m-%d')} "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} cores, sandbox: "
        f"{__import__('autograder.sandbox', fromlist=['isolation']).isolation().mechanism}).",
        "",
        f"* **ours**: {len(names)} submissions in one batch, 2 kernels in parallel, 5 s per cell, 60 s per "
        f"notebook, 5 s per call of a student function: **{our_seconds:.0f} s wall time** (load average of the machine, shared with other work, at the start: {load_at_start:.1f}).",
        f"* **nbgrader 0.9.6** (`nbgrader autograde`, cell timeout 30 s) and **otter-grader 7.0.0** "
        f"(`otter run` with an autograder zip from `otter generate` holding our own compiled tests): "
        f"{anchor_seconds:.0f} s for both, one submission at a time, each tool process boxed in its own session "
        f"with a {ANCHOR_WALL_S} s wall clock, 8 GB address space and 1.5 GB file limits. **Neither ran in a "
        f"sandbox**: their kernels ran as this machine's user ({__import__('pwd').getpwuid(os.geteuid()).pw_name}), "
        "with its file system, processes and "
        "network in reach (the attacks that would harm the machine were not given to them, as the rows say).",
        f"* `uptime` at the start: `{uptime_at_start}`; at the end: `{_uptime()}`.",
        "* The cheats (rows whose honest answers are worth 16) should score 16; the limit and kill attacks on "
        "full answers should keep 30 (or 16 on partial answers); broken files should get a row saying so.",
        "",
        "| attack | what it does | ours (status, score) | nbgrader | otter | deserved |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    table = {name: "| " + " | ".join(c.replace("|", "\\|") for c in
                                     [name, description, ours_, nb, ot, f"{deserved:g}"]) + " |"
             for name, description, ours_, nb, ot, deserved in rows}
    if args.merge and Path(args.out).is_file():
        lines, table = _merged(Path(args.out).read_text(), table, names, our_seconds, anchor_seconds, load_at_start)
    lines += [table[name] for name in sorted(table)]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text)
    print(f"written to {args.out}; scratch folder {work}")


def _uptime() -> str:
    """The `uptime` line: the machine is shared, and its load says how much the wall times mean."""
    done = subprocess.run(["uptime"], capture_output=True, text=True)
    return done.stdout.strip() or f"load average {os.getloadavg()}"


def _merged(old: str, new_rows: dict[str, str], names: list[str], our_seconds: float, anchor_seconds: float,
            load: float) -> tuple[list[str], dict[str, str]]:
    """The existing table's header (plus a note on the rows this run replaced) and all its rows, these replaced."""
    header = [line for line in old.splitlines() if not line.startswith("| ") or line.startswith("| attack ")]
    rows = {line.split(" | ")[0][2:]: line for line in old.splitlines()
            if line.startswith("| ") and not line.startswith(("| attack ", "| --- "))}
    rows.update(new_rows)
    note = (f"* Rows regraded on {time.strftime('%Y-%m-%d')} with `--only ... --merge` ({len(names)}: "
            f"{', '.join(names)}): ours {our_seconds:.0f} s in one batch, the anchors {anchor_seconds:.0f} s "
            f"(load average at the start: {load:.1f}); the other rows are from the run above.")
    at = header.index("| attack | what it does | ours (status, score) | nbgrader | otter | deserved |")
    header = [line for line in header[:at] if not line.startswith("* Rows regraded on")]
    while header and not header[-1].strip():
        header.pop()
    return header + [note, ""] + [
        "| attack | what it does | ours (status, score) | nbgrader | otter | deserved |",
        "| --- | --- | --- | --- | --- | --- |"], rows


if __name__ == "__main__":
    main()
