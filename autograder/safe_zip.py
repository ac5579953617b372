"""Safe zip extraction for intake: an untrusted archive is unpacked inside one folder, bounded, links defused.

A class's ``submissions.zip`` (Canvas, Moodle, a TA's own) is written by people the grader does not
trust. Every entry stays inside the target folder (no absolute path, no ``..``); links become dangling
links, so their student gets a ``refused-symlink`` row; the whole archive is bounded in entries and in
what it really expands to (a zip may lie about sizes); notebooks over the size limit are not extracted
but reported, to be refused unread.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import zipfile
from pathlib import Path

from grading_config import SandboxLimits

from autograder.i18n import _
from autograder.safe_text import printable

NOTEBOOK_SUFFIX = ".ipynb"
MAX_ZIP_ENTRIES = 20_000
MAX_ZIP_MB = 2048  # everything a zip may expand to
MAX_OTHER_FILE_KB = 1024  # non-notebook files of a zip larger than this are extracted empty (only names count)
MAX_PATH_BYTES = 4096  # Linux's PATH_MAX: a longer path cannot be opened


class IntakeError(ValueError):
    """PATH holds nothing that can be graded (or is not what it claims): one line saying why."""


def extract_zip(archive: Path, into: Path, limits: SandboxLimits) -> dict[Path, float]:
    """Extract a zip without trusting it: every entry stays inside ``into``; links become refused links.

    Refused as a whole (IntakeError): not a zip, encrypted, more than MAX_ZIP_ENTRIES entries, an entry
    that would land outside the folder (absolute or ``..``), more than MAX_ZIP_MB in all.  A link entry
    is recreated as a dangling link (to nothing), so that its student gets a ``refused-symlink`` row.
    Notebooks over the size limit are not extracted (returned, with their size, to be refused unread);
    other files over MAX_OTHER_FILE_KB are extracted empty, since only their names are reported.
    """
    try:
        archive_file = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise IntakeError(_("{archive} is not a readable zip archive ({error})").format(archive=archive, error=err)) from None
    oversized: dict[Path, float] = {}
    with archive_file:
        entries = archive_file.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise IntakeError(_("{archive} holds {count} entries, more than the {limit} a class can have").format(archive=archive, count=len(entries), limit=MAX_ZIP_ENTRIES))
        budget = [MAX_ZIP_MB * 2**20]
        for info in entries:
            target = _zip_target(info, into, archive)
            if target is None:
                continue
            try:
                _extract_entry(archive_file, info, target, limits, budget, oversized, archive)
            except OSError as err:  # a file and a folder of one name ("bob", "bob/a1.ipynb"), a path too long
                why = (_("a file and a folder of the same name") if err.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR)
                       else err.strerror or str(err))
                raise IntakeError(_("{archive}: its entry {entry} cannot be extracted ({why}): refused, nothing graded").format(
                    archive=archive, why=why, entry=repr(printable(info.filename[:200], one_line=True))
                    + ("..." if len(info.filename) > 200 else ""))) from None
    return oversized


def _extract_entry(archive_file: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: SandboxLimits,
                   budget: list[int], oversized: dict[Path, float], archive: Path) -> None:
    """One entry: a folder, a link (made a dangling one), or a file within its cap."""
    mode = info.external_attr >> 16
    if len(os.fsencode(target)) >= MAX_PATH_BYTES:
        raise OSError(errno.ENAMETOOLONG, f"its path is longer than {MAX_PATH_BYTES} bytes")
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    elif stat.S_ISLNK(mode):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/nonexistent/link-from-zip", target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = target.suffix.lower() == NOTEBOOK_SUFFIX
        cap = limits.max_notebook_mb * 2**20 if notebook else MAX_OTHER_FILE_KB * 1024
        if target.is_dir() or target.is_symlink():
            raise OSError(errno.EISDIR, "a folder or link of that name is already there")
        if info.file_size > cap:
            if notebook:
                oversized[target] = info.file_size / 2**20
            target.touch()
            return
        _copy_entry(archive_file, info, target, cap, budget, archive)


def _zip_target(info: zipfile.ZipInfo, into: Path, archive: Path) -> Path | None:
    """Where an entry goes, or None for an entry to skip; IntakeError for one that would escape."""
    name = info.filename.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise IntakeError(_("{archive} has an entry that would be written outside its folder ({entry}): refused, nothing graded").format(
            archive=archive, entry=repr(printable(info.filename, one_line=True))))
    if not parts or any("\0" in p or len(p.encode("utf-8", "replace")) > 255 for p in parts):
        return None
    return into.joinpath(*parts)


def _copy_entry(archive_file: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int,
                budget: list[int], archive: Path) -> None:
    """Copy one entry, counting what it really expands to (a zip may lie about sizes)."""
    written = 0
    try:
        with archive_file.open(info) as source, open(target, "wb") as sink:
            for block in iter(lambda: source.read(1 << 20), b""):
                written += len(block)
                budget[0] -= len(block)
                if budget[0] < 0:
                    raise IntakeError(_("{archive} expands to more than {limit} MB: refused, nothing graded").format(archive=archive, limit=MAX_ZIP_MB))
                if written > cap:  # it lied about its size: keep nothing of it
                    sink.truncate(0)
                    return
                sink.write(block)
    except RuntimeError as err:  # encrypted entries
        raise IntakeError(_("{archive} cannot be read: {error}").format(archive=archive, error=err)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise IntakeError(_("{archive} is damaged ({entry}: {error})").format(archive=archive, entry=printable(info.filename, one_line=True), error=err)) from None
