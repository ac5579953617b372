"""The course roster (optional ``roster.csv``): one id per student across assignments and layouts, and who is missing.

``roster.csv`` beside ``grading_config.py`` (or ``mdl grade --roster FILE``) has a ``login`` column and
any of ``name``, ``email``, ``canvas_id``, ``sis_id``, ``moodle_participant`` (and other LMS ids,
kept for the exports). With a roster, every submission is graded under its student's login:

* Canvas (``<sortable name>_<user id>``): by ``canvas_id``, else the sortable name (``doejohn``);
* Moodle (``<Full Name>_<participant id>``): Moodle's participant number is per assignment, so by
  ``moodle_participant`` only where it lists this number, else by the full name;
* any other layout: by login, else by email (a Classroom login, an nbgrader student id, a flat file).

A submission that matches no roster row keeps its own id and is named in a warning; a roster
student with no submission gets one row with status ``missing``.  Names in the instructor's files
(``manual_grades.csv``, ``extensions.csv``, ``submission_times.csv``) that are neither a roster
login nor a submission are named in warnings.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grading_config import ROOT

from autograder.grade import Submission
from autograder.i18n import _
from autograder.safe_text import printable, student_id

ROSTER_FILE = ROOT / "roster.csv"
LMS_ID = re.compile(r"^(?P<name>.*?)_(?P<number>\d+)$")


def _key(text: str) -> str:
    """Names compared without case, accents' composition, spaces, underscores or punctuation."""
    text = unicodedata.normalize("NFC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True)
class RosterStudent:
    """One row of the roster."""

    login: str
    name: str = ""
    email: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # canvas_id, sis_id, moodle_participant, ...

    def sortable_keys(self) -> set[str]:
        """Canvas's sortable name ("Doe, John" -> "doejohn") and the name in both orders."""
        parts = self.name.replace(",", " ").split()
        keys = {_key(self.name)} if self.name else set()
        if len(parts) >= 2:
            keys |= {_key(parts[-1] + "".join(parts[:-1])), _key("".join(parts[1:]) + parts[0])}
        return keys


@dataclass
class Roster:
    """The students of the course, looked up by any id an LMS or a layout gives."""

    students: list[RosterStudent]
    source: Path

    @property
    def logins(self) -> set[str]:
        return {s.login for s in self.students}

    def knows(self, name: str) -> bool:
        return _key(name) in {_key(s.login) for s in self.students} or any(
            _key(name) == _key(s.email) for s in self.students if s.email)

    def match(self, submission_id: str) -> RosterStudent | None:
        """The roster student a submission id (as intake made it) belongs to, if any."""
        key = _key(submission_id)
        for student in self.students:
            if key == _key(student.login) or (student.email and key == _key(student.email)):
                return student
        lms = LMS_ID.match(submission_id)
        if not lms:
            return None
        number, name = lms["number"], _key(lms["name"])
        by_number = [s for s in self.students
                     if number in (s.ids.get("canvas_id", ""), *s.ids.get("moodle_participant", "").split(";"))]
        if len(by_number) == 1:
            return by_number[0]
        by_name = [s for s in self.students if name and name in s.sortable_keys()]
        return by_name[0] if len(by_name) == 1 else None


def load_roster(path: Path | None = None) -> Roster | None:
    """The roster at ``path`` (default: roster.csv beside grading_config.py); None when there is none.

    A file without a ``login`` column, a row without a login, or one login twice is a ValueError naming the line.
    """
    path = ROSTER_FILE if path is None else Path(path)
    if not path.is_file():
        if path != ROSTER_FILE:
            raise ValueError(_("{path}: no such roster file").format(path=path))
        return None
    students: list[RosterStudent] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "login" not in (reader.fieldnames or []):
            raise ValueError(_("{path}: the header needs a login column (and any of name, email, canvas_id, sis_id, "
                               "moodle_participant)").format(path=path))
        for line, row in enumerate(reader, start=2):
            login = student_id((row.get("login") or "").strip()) if (row.get("login") or "").strip() else ""
            if not login:
                raise ValueError(_("{path} line {line}: a row without a login").format(path=path, line=line))
            if login.casefold() in seen:
                raise ValueError(_("{path} line {line}: login {login} is already on line {first}").format(
                    path=path, line=line, login=repr(login), first=seen[login.casefold()]))
            seen[login.casefold()] = line
            ids = {k: (v or "").strip() for k, v in row.items() if k and k not in ("login", "name", "email") and v}
            students.append(RosterStudent(login, (row.get("name") or "").strip(), (row.get("email") or "").strip(), ids))
    return Roster(students, path)


def unknown_names(roster: Roster | None, submission_ids: list[str], named: dict[str, list[str]]) -> list[str]:
    """A warning for every name in an instructor's file (``{file: names}``) that is no student of the class."""
    known = {_key(s) for s in submission_ids}
    lines = []
    for file, names in named.items():
        for name in names:
            if _key(name) not in known and not (roster and roster.knows(name)):
                unknown = (_("warning: {file} names {name}, who is not in the roster or the submissions") if roster
                           else _("warning: {file} names {name}, who is not in the submissions"))
                lines.append(unknown.format(file=file, name=repr(printable(name, one_line=True))))
    return lines




def apply_roster(roster: Roster, submissions: list[Submission],
                 echo: Callable[[str], None]) -> tuple[list[Submission], dict[str, str]]:
    """Every submission under its roster login, one ``missing`` row per roster student without one, and
    ``{id intake gave: roster login}``; submissions that match no roster row keep their id, named in a warning."""
    result: list[Submission] = []
    aliases: dict[str, str] = {}
    taken: set[str] = set()
    for sub in submissions:
        student = roster.match(sub.student)
        if student is None:
            echo(_("warning: {student} matches no student of {roster}: graded under that id").format(
                student=repr(printable(sub.student, one_line=True)), roster=roster.source.name))
        elif student.login.casefold() in taken:
            echo(_("warning: {student} is a second submission of {login} ({roster}): graded under its own id").format(
                student=repr(printable(sub.student, one_line=True)), login=student.login, roster=roster.source.name))
        else:
            taken.add(student.login.casefold())
            if student.login != sub.student:
                aliases[sub.student] = student.login
                note = "; ".join(filter(None, [_("handed in as {handed_in_as} ({roster}: {login})").format(
                    handed_in_as=sub.student, roster=roster.source.name, login=student.login), sub.note]))
                sub = Submission(student.login, sub.path, note, status=sub.status)
        result.append(sub)
    ids = {s.student.casefold() for s in result}
    for student in roster.students:
        if student.login.casefold() not in ids:
            result.append(Submission(student.login, None, _("no submission was found for this student ({roster})").format(
                roster=roster.source.name), status="missing"))
    return sorted(result, key=lambda s: s.student), aliases


__all__ = ["ROSTER_FILE", "Roster", "RosterStudent", "apply_roster", "load_roster", "unknown_names"]
