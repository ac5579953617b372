"""``mdl feedback-export DIR --format canvas|moodle|classroom``: the feedback pages, laid out to go back to students.

* ``moodle``: ``DIR/feedback-moodle.zip`` for the assignment's "Upload multiple feedback files in a
  zip" (feedback type "Feedback files" on): one folder per student named as the download names it,
  ``<Full name>_<participant>_assignsubmission_file_/feedback.html``; Moodle reads the participant
  number from the folder name (so the student must come from this assignment's download).
* ``canvas``: ``DIR/feedback-canvas.zip`` for the assignment's "Re-Upload Submissions": each file
  becomes a comment on the submission of the student whose Canvas user id is the first all-digit
  part of its name, ``<name>_<user id>_feedback.html`` (the user id from the roster's ``canvas_id``
  or the Canvas download's file name).
* ``classroom``: ``DIR/feedback-classroom/push_feedback.sh``, which puts each student's page on a
  branch ``feedback-<assignment>`` of their Classroom repository ``$ORG/$PREFIX<login>`` with ``gh``
  and ``git`` (README: step by step).

A student the LMS could not match (no participant number, no Canvas user id) is left out and named
in a warning. Pages are copied as ``mdl grade`` / ``mdl report`` wrote them.
"""

from __future__ import annotations

import io
import shlex
import zipfile
from pathlib import Path
from typing import Any, Callable

from autograder.export import LMS_ID, read_handed_in_as
from autograder.i18n import _
from autograder.out_folder import FEEDBACK_NAME, atomic_write_text
from autograder.records import student_folder
from autograder.totals import class_records

FORMATS = ("canvas", "moodle", "classroom")


def _pages(out_dir: Path) -> list[tuple[str, Path]]:
    pages = []
    for record in sorted(class_records(out_dir), key=lambda r: r["student"]):
        page = student_folder(out_dir, record["student"]) / FEEDBACK_NAME
        if page.is_file():
            pages.append((record["student"], page))
    return pages


def _write_zip(path: Path, entries: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries.items()):
            archive.writestr(name, data)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def _lms_id(student: str, handed: dict[str, str], roster: Any, key: str) -> tuple[str, str] | None:
    """(name, number) for the LMS: the download's ``<name>_<number>`` id, else the roster's ``key`` column."""
    match = LMS_ID.match(handed.get(student, student))
    if match:
        return match["name"], match["number"]
    row = next((s for s in (roster.students if roster else []) if s.login.casefold() == student.casefold()), None)
    if row is not None and row.ids.get(key):
        return row.name or student, row.ids[key]
    return None


def _comment(text: str) -> list[str]:
    """``text`` as shell comment lines (a translation may break a line where it likes)."""
    return ["# " + line for line in text.splitlines()]


def _in_double_quotes(text: str) -> str:
    """Translated words made safe inside a shell word in double quotes: nothing in them is expanded."""
    return "".join("\\" + ch if ch in '"$`\\' else ch for ch in text)


def _classroom_script(assignment: str, pages: list[tuple[str, Path]]) -> str:
    """push_feedback.sh: its comments, errors, progress lines and commit message in the run's language."""
    progress = _in_double_quotes(_("{login}: {repository}, branch {branch}")).format(
        login="$1", repository="$ORG/$PREFIX$1", branch="$branch")
    lines = [
        "#!/bin/sh",
        *_comment(_("Puts each student's feedback page for {assignment} on a branch feedback-{assignment} of their\n"
                    "GitHub Classroom repository $ORG/$PREFIX<login>. Needs gh (logged in: gh auth login) and git.\n"
                    "Usage: ORG=my-org PREFIX=a1- sh push_feedback.sh").format(assignment=assignment)),
        "set -eu",
        'if [ -z "${ORG:-}" ]; then printf "%s\\n" ' + shlex.quote(_("ORG: set ORG to the Classroom organisation")) + " >&2; exit 2; fi",
        'if [ -z "${PREFIX:-}" ]; then printf "%s\\n" ' + shlex.quote(_("PREFIX: set PREFIX to the assignment prefix, e.g. a1-"))
        + " >&2; exit 2; fi",
        f"branch={shlex.quote('feedback-' + assignment)}",
        "push() {  # " + _("login, page"),
        '  work=$(mktemp -d)',
        '  gh repo clone "$ORG/$PREFIX$1" "$work" -- --quiet --depth 1',
        '  git -C "$work" switch --quiet -c "$branch"',
        '  cp "$2" "$work/$branch.html"',
        '  git -C "$work" add "$branch.html"',
        '  git -C "$work" -c user.name="mdl feedback" -c user.email="feedback@invalid" commit --quiet -m '
        + shlex.quote(_("Feedback on the assignment")),
        '  git -C "$work" push --quiet --force origin "$branch"',
        '  rm -rf "$work"',
        f'  printf "%s\\n" "{progress}"',  # printf: dash's echo would read a backslash in the words
        "}",
    ]
    lines += [f"push {shlex.quote(student)} {shlex.quote(str(page.resolve()))}" for student, page in pages]
    return "\n".join(lines) + "\n"


def feedback_export(out_dir: Path, fmt: str, roster: Any = None,
                    warn: Callable[[str], None] | None = None) -> tuple[Path, int]:
    """Write the upload for ``fmt``; returns its path and how many students it carries."""
    if fmt not in FORMATS:
        raise ValueError(_("--format must be one of {formats}, not {format}").format(formats=", ".join(FORMATS),
                                                                                  format=repr(fmt)))
    say = warn or (lambda text: None)
    pages = _pages(out_dir)
    handed = read_handed_in_as(out_dir)
    if fmt == "classroom":
        assignment = class_records(out_dir)[0]["assignment"]
        path = out_dir / "feedback-classroom" / "push_feedback.sh"
        atomic_write_text(path, _classroom_script(assignment, pages))
        path.chmod(0o755)
        return path, len(pages)
    entries: dict[str, bytes] = {}
    key = "canvas_id" if fmt == "canvas" else "moodle_participant"
    for student, page in pages:
        found = _lms_id(student, handed, roster, key)
        if found is None or (fmt == "moodle" and ";" in found[1]):
            left_out = (_("warning: {student}: no Canvas user id (from the download's file names or the roster): "
                          "left out of the zip") if fmt == "canvas" else
                        _("warning: {student}: no Moodle participant number (from the download's file names or the "
                          "roster): left out of the zip"))
            say(left_out.format(student=student))
            continue
        name, number = found
        if fmt == "canvas":  # Canvas takes the first all-digit part of the name as the user id: the name has none
            short = "".join(ch for ch in name if ch.isalnum()).lower()
            short = short if short and not short.isdigit() else f"student{short}"
            entries[f"{short}_{number}_feedback.html"] = page.read_bytes()
        else:
            # Moodle splits the path at underscores and reads the participant from the second part: the name
            # (Jane_Roe once intake made an id of "Jane Roe") gets its spaces back
            folder = name.replace("_", " ").replace("/", " ").strip() or "Student"
            entries[f"{folder}_{number}_assignsubmission_file_/feedback.html"] = page.read_bytes()
    path = out_dir / f"feedback-{fmt}.zip"
    _write_zip(path, entries)
    return path, len(entries)


__all__ = ["FORMATS", "feedback_export"]
