"""Late work: when each submission was handed in, where that time comes from, and what the policy takes off.

A time is taken only from a source the student cannot write, first found wins:

1. ``submission_times.csv`` in the submissions folder or zip (``student,submitted_at[,source]``): an
   LMS export copied into one file, or the collection step's own record (``grade.yml`` writes when
   GitHub received each push, the repository's ``pushed_at``); its optional ``source`` column names it;
2. nbgrader's ``timestamp.txt`` in nbgrader's ``<student>/<a>/`` folder (``nbgrader collect`` writes
   it), never one inside a git repository (a Classroom clone holds only what the student committed);
3. Canvas's ``LATE`` marker in a file name, where no time is given: late by the policy's first step.

Where only a commit date exists (a student's own clone: a folder of PATH holding ``.git``), it is
used and the feedback says it is the student's own word (their computer's clock sets it). Flat
notebooks and anything else inside a repository that is not the student's own get no time.
Every time names its source in the student's feedback. A submission without a time is never late.

The due date is the assignment's (``grading_config.ASSIGNMENTS``) unless ``extensions.csv`` gives the
student a new one; the penalty is ``grading_config.LATE``'s (percent per started day after the
grace minutes, capped).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import grading_config
from autograder.i18n import N_, _
from grading_config import LATE, Assignment, LatePolicy

from autograder.safe_text import fold_case

TIMES_FILE = "submission_times.csv"
NBGRADER_TIMESTAMP = "timestamp.txt"
# The sources a record's ``time_source`` names (``submission_times.csv`` rows may name their own).
SOURCE_TIMES_FILE = N_("the LMS export submission_times.csv")
# Where a submission time comes from (stored in English, shown in the run's language).
SOURCE_NBGRADER = N_("nbgrader's exchange (timestamp.txt written by nbgrader collect)")
SOURCE_CANVAS_LATE = N_("Canvas's LATE marker on the file (no time given)")
SOURCE_COMMIT = N_("the last commit's date in the student's repository")
STUDENTS_OWN_WORD = (SOURCE_COMMIT,)  # times the student's own computer sets


@dataclass(frozen=True)
class Lateness:
    """How late one submission was, and what it costs."""

    submitted_at: dt.datetime | None
    due: dt.datetime
    extended: bool  # the due date comes from extensions.csv
    minutes_late: float  # 0 when on time or when the time is unknown
    days_late: int  # started days after the grace period
    penalty_percent: float
    source: str = ""  # where the time comes from (one of the SOURCE_ names, or a submission_times.csv source)
    marked_late: bool = False  # late by an LMS's marker, without a time

    @property
    def late(self) -> bool:
        return self.days_late > 0

    def describe(self) -> str:
        """One sentence for a student or an instructor."""
        due = (_("due {time} (extended)") if self.extended else _("due {time}")).format(time=format_time(self.due))
        # One of the SOURCE_ names, translated; an instructor's own words stay as written. (Never _(""): gettext
        # answers the empty string with the catalog's header.)
        origin = _(self.source) if self.source else ""
        source = _(" (time from {source}{own_word})").format(source=origin, own_word=self._own_word()) \
            if self.source else ""
        penalty = f"{self.penalty_percent:g}"
        if self.marked_late:
            # "percent", not "%": gettext's checker reads "% o" as a %-format placeholder and refuses the catalog
            return _("{due}; {source}: counted late by the policy's first step, {penalty} percent of the points "
                     "taken off").format(due=due, source=origin, penalty=penalty)
        if self.submitted_at is None:
            return _("{due}; no submission time was recorded, so no late penalty applies").format(due=due)
        if not self.late:
            return _("{due}; submitted {time}{source}: on time").format(
                due=due, time=format_time(self.submitted_at), source=source)
        return _("{due}; submitted {time}{source}: {hours} hours late ({days} day(s)), {penalty} percent of the "
                 "points taken off").format(due=due, time=format_time(self.submitted_at), source=source,
                                     hours=f"{self.minutes_late / 60:.1f}", days=self.days_late, penalty=penalty)

    def _own_word(self) -> str:
        return (_(", which the student's own computer sets: the student's own word, not a record of hand-in")
                if self.source in STUDENTS_OWN_WORD else "")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time or nbgrader's ``2027-02-05 17:10:00.000000 UTC``; no zone means UTC."""
    cleaned = text.strip()
    if cleaned.upper().endswith(" UTC"):
        cleaned = cleaned[:-4]
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"not a time: {text.strip()[:60]!r} (use ISO 8601, e.g. 2027-02-05T17:00:00+00:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- due dates and penalties


def load_extensions(path: Path) -> dict[tuple[str, str], dt.datetime]:
    """``{(student, assignment): new due date}`` from ``student,assignment,new_due``; no file, no extensions."""
    if not path.is_file():
        return {}
    extensions = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                extensions[(row["student"].strip(), row["assignment"].strip())] = parse_time(row["new_due"])
            except (KeyError, AttributeError, ValueError) as err:
                raise ValueError(f"{path} line {line}: needs student,assignment,new_due ({err})") from None
    return extensions


def assess(
    submitted_at: str | dt.datetime | None,
    assignment: Assignment,
    student: str,
    *,
    policy: LatePolicy = LATE,
    extensions: dict[tuple[str, str], dt.datetime] | None = None,
    source: str = "",
    marked_late: bool = False,
) -> Lateness:
    """The lateness of one submission under ``policy`` (``marked_late``: an LMS's LATE marker, used without a time)."""
    extensions = load_extensions(policy.extensions_file) if extensions is None else extensions
    new_due = extensions.get((student, assignment.id)) or next(
        (when for (name, aid), when in extensions.items() if aid == assignment.id and _key(name) == _key(student)), None)
    due = new_due or assignment.due
    moment = parse_time(submitted_at) if isinstance(submitted_at, str) else submitted_at
    if moment is None:
        if marked_late and new_due is None:  # an extension makes the LMS's marker meaningless (it knew the old date)
            return Lateness(None, due, False, 0.0, 1, min(policy.max_percent, policy.percent_per_day),
                            SOURCE_CANVAS_LATE, marked_late=True)
        return Lateness(None, due, new_due is not None, 0.0, 0, 0.0)
    minutes = max(0.0, (moment - due).total_seconds() / 60)
    days = math.ceil((minutes - policy.grace_minutes) / 1440) if minutes > policy.grace_minutes else 0
    penalty = min(policy.max_percent, days * policy.percent_per_day)
    return Lateness(moment, due, new_due is not None, round(minutes, 1), days, penalty, source)


def assess_record(record: dict[str, Any], extensions: dict[tuple[str, str], dt.datetime] | None = None) -> Lateness:
    """The lateness of a gradebook record (its assignment looked up in grading_config)."""
    return assess(record.get("submitted_at"), grading_config.assignment(record["assignment"]), record["student"],
                  extensions=extensions, source=str(record.get("time_source") or ""),
                  marked_late=record.get("lms_late") is True)


# --------------------------------------------------------------------------- submission times


def _git_commit_time(repo: Path) -> str | None:
    """The committer time of HEAD, read with git told to ignore the repository's hooks and programs."""
    hardened = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "log.showSignature=false",
                "-c", f"safe.directory={repo}"]
    env = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0", "HOME": os.devnull}
    try:
        done = subprocess.run(["git", "--no-pager", *hardened, "-C", str(repo), "log", "-1", "--format=%cI"],
                              capture_output=True, text=True, timeout=10, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def notebook_time(notebook: Path, root: Path | None = None) -> tuple[str, str] | None:
    """``(ISO time, source)`` for a notebook under PATH ``root``, or None.

    nbgrader's timestamp.txt counts only in nbgrader's ``<student>/<a>/`` folder outside any git
    repository; a commit date only from a student's own clone (a folder of ``root`` holding ``.git``).
    """
    folders = _student_folders(notebook, root)
    if not folders:
        return None
    in_git = any((folder / ".git").exists() for folder in folders)
    stamp = notebook.parent / NBGRADER_TIMESTAMP
    if not in_git and len(folders) == 2 and stamp.is_file() and not stamp.is_symlink():
        try:
            return parse_time(stamp.read_text(encoding="utf-8")[:100]).isoformat(), SOURCE_NBGRADER
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    clone = folders[0]
    if (clone / ".git").exists() and not (clone / "grading_config.py").exists():
        moment = _git_commit_time(clone)
        return (parse_time(moment).isoformat(), SOURCE_COMMIT) if moment else None
    return None


def _student_folders(notebook: Path, root: Path | None) -> list[Path]:
    """The student's folder under ``root`` and the folders between it and the notebook ([] for a flat file)."""
    root = notebook.parent.parent if root is None else root
    try:
        parts = notebook.parent.relative_to(root).parts
    except ValueError:
        return []
    return [root.joinpath(*parts[: k + 1]) for k in range(len(parts))]


def load_times_file(folder: Path) -> dict[str, tuple[str, str]]:
    """``{student: (ISO time, source)}`` from ``submission_times.csv`` in the submissions folder, if there is one."""
    path = folder / TIMES_FILE
    if not path.is_file() or path.is_symlink():
        return {}
    times = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                source = (row.get("source") or "").strip()[:120]
                times[row["student"].strip()] = (parse_time(row["submitted_at"]).isoformat(),
                                                 f"{source} ({TIMES_FILE})" if source else SOURCE_TIMES_FILE)
            except (KeyError, AttributeError, ValueError) as err:
                raise ValueError(f"{path} line {line}: needs student,submitted_at ({err})") from None
    return times


def _key(name: str) -> str:
    """How a name in an instructor's file is matched to a submission id (case and spaces do not count).

    Case as intake folds it (``fold_case``): ``str.casefold`` would make "Strauß" and "Strauss" one student."""
    return fold_case("".join(name.split()))


def submission_times(folder: Path, submissions: Iterable[Any], *, marked_late: Iterable[str] = (),
                     warn: Any = None, aliases: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``{student: {"submitted_at", "time_source", "lms_late"}}`` for every submission with a time or a marker.

    ``folder`` is where intake read (an extracted zip's folder included); ``warn`` is called with one
    line for every row of submission_times.csv that matches no submission.  ``aliases`` (``{id intake gave:
    roster login}``) lets a row name a student by either.
    """
    listed = load_times_file(folder) if folder.is_dir() else {}
    by_key = {_key(name): value for name, value in listed.items()}
    late_marked = set(marked_late)
    times: dict[str, dict[str, Any]] = {}
    matched: set[str] = set()
    other_names: dict[str, list[str]] = {}
    for old, new in (aliases or {}).items():
        other_names.setdefault(new, []).append(old)
    for sub in submissions:
        keys = [_key(n) for n in [sub.student, *other_names.get(sub.student, [])]]
        found = next((by_key[k] for k in keys if k in by_key), None)
        if found:
            matched.update(k for k in keys if k in by_key)
        given = getattr(sub, "submitted_at", None)  # a hand-in format that carries its own time
        if found is None and isinstance(given, (str, dt.datetime)):
            found = (given.isoformat() if isinstance(given, dt.datetime) else given, SOURCE_TIMES_FILE)
        if found is None and sub.path is not None:
            found = notebook_time(sub.path, folder)
        if found:
            times[sub.student] = {"submitted_at": found[0], "time_source": found[1], "lms_late": False}
        elif sub.student in late_marked:
            times[sub.student] = {"submitted_at": None, "time_source": SOURCE_CANVAS_LATE, "lms_late": True}
    if warn is not None:
        for name in listed:
            if _key(name) not in matched:
                warn(f"warning: {TIMES_FILE} names {name!r}, which matches no submission: its time was not used")
    return times


def unmatched_extensions(assignment: Assignment, students: Iterable[str], policy: LatePolicy = LATE) -> list[str]:
    """A warning for every row of extensions.csv for ``assignment`` whose student matches no submission."""
    keys = {_key(s) for s in students}
    return [f"warning: {policy.extensions_file.name} gives {student!r} an extension for {assignment.id}, "
            "but no submission is that student's: the row was not used"
            for (student, aid) in load_extensions(policy.extensions_file) if aid == assignment.id and _key(student) not in keys]
