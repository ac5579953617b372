"""Late work: when each submission was handed in, and what the late policy takes off.

Where the time of a submission comes from, first found wins:

1. ``submission_times.csv`` in the submissions folder (``student,submitted_at``): the time an
   LMS export gives (Moodle's grading worksheet, Canvas's submission list), copied into one file;
2. nbgrader's ``timestamp.txt`` next to the notebook (``nbgrader collect`` writes it);
3. the last commit of a git repository in the student's folder (GitHub Classroom clones). A
   commit time is what the student's own clock said: good for a course's honour system, not proof.

A submission without a time is never called late. The due date is the assignment's
(``grading_config.ASSIGNMENTS``) unless ``extensions.csv`` gives the student a new one; the
penalty is ``grading_config.LATE``'s (percent per started day after the grace minutes, capped).
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
from grading_config import LATE, Assignment, LatePolicy

TIMES_FILE = "submission_times.csv"
NBGRADER_TIMESTAMP = "timestamp.txt"


@dataclass(frozen=True)
class Lateness:
    """How late one submission was, and what it costs."""

    submitted_at: dt.datetime | None
    due: dt.datetime
    extended: bool  # the due date comes from extensions.csv
    minutes_late: float  # 0 when on time or when the time is unknown
    days_late: int  # started days after the grace period
    penalty_percent: float

    @property
    def late(self) -> bool:
        return self.days_late > 0

    def describe(self) -> str:
        """One sentence for a student or an instructor."""
        due = f"due {format_time(self.due)}" + (" (extended)" if self.extended else "")
        if self.submitted_at is None:
            return f"{due}; no submission time was recorded, so no late penalty applies"
        if not self.late:
            return f"{due}; submitted {format_time(self.submitted_at)}: on time"
        hours = self.minutes_late / 60
        return (f"{due}; submitted {format_time(self.submitted_at)}: {hours:.1f} hours late "
                f"({self.days_late} day(s)), {self.penalty_percent:g}% of the points taken off")


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
) -> Lateness:
    """The lateness of one submission under ``policy``."""
    extensions = load_extensions(policy.extensions_file) if extensions is None else extensions
    new_due = extensions.get((student, assignment.id))
    due = new_due or assignment.due
    moment = parse_time(submitted_at) if isinstance(submitted_at, str) else submitted_at
    if moment is None:
        return Lateness(None, due, new_due is not None, 0.0, 0, 0.0)
    minutes = max(0.0, (moment - due).total_seconds() / 60)
    days = math.ceil((minutes - policy.grace_minutes) / 1440) if minutes > policy.grace_minutes else 0
    penalty = min(policy.max_percent, days * policy.percent_per_day)
    return Lateness(moment, due, new_due is not None, round(minutes, 1), days, penalty)


def assess_record(record: dict[str, Any], extensions: dict[tuple[str, str], dt.datetime] | None = None) -> Lateness:
    """The lateness of a gradebook record (its assignment looked up in grading_config)."""
    return assess(record.get("submitted_at"), grading_config.assignment(record["assignment"]), record["student"],
                  extensions=extensions)


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


def notebook_time(notebook: Path) -> str | None:
    """nbgrader's timestamp.txt beside the notebook, or the commit time of the student's repository."""
    stamp = notebook.parent / NBGRADER_TIMESTAMP
    if stamp.is_file() and not stamp.is_symlink():
        try:
            return parse_time(stamp.read_text(encoding="utf-8")[:100]).isoformat()
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    for folder in (notebook.parent, notebook.parent.parent):
        # Only the student's own folder: a submissions folder inside the course repository is not a clone.
        if (folder / ".git").exists() and not (folder / "grading_config.py").exists():
            moment = _git_commit_time(folder)
            return parse_time(moment).isoformat() if moment else None
    return None


def load_times_file(folder: Path) -> dict[str, str]:
    """``{student: ISO time}`` from ``submission_times.csv`` in the submissions folder, if there is one."""
    path = folder / TIMES_FILE
    if not path.is_file():
        return {}
    times = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                times[row["student"].strip()] = parse_time(row["submitted_at"]).isoformat()
            except (KeyError, AttributeError, ValueError) as err:
                raise ValueError(f"{path} line {line}: needs student,submitted_at ({err})") from None
    return times


def submission_times(folder: Path, submissions: Iterable[Any]) -> dict[str, str]:
    """The submission time of every submission that has one (see the module's docstring for the order)."""
    listed = load_times_file(folder) if folder.is_dir() else {}
    times = {}
    for sub in submissions:
        given = getattr(sub, "submitted_at", None)  # a hand-in format that carries its own time
        moment = listed.get(sub.student) or (given.isoformat() if isinstance(given, dt.datetime) else given)
        if moment is None and sub.path is not None:
            moment = notebook_time(sub.path)
        if moment:
            times[sub.student] = moment
    return times
