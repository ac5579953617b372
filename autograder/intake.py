"""Intake: every submission a collection step hands over, found, named once, and never followed through a link.

``mdl grade A PATH`` reads PATH in whichever layout it comes:

* nbgrader's ``PATH/<student>/<a>/<a>.ipynb`` (the notebook may be renamed);
* flat ``PATH/<student>.ipynb``;
* a student folder holding one notebook under any name, at any depth up to three folders
  (GitHub Classroom's ``<assignment-slug>-<login>/`` clones, in ``<assignment-slug>-submissions/``);
* Canvas's ``submissions.zip``: ``<name>[_LATE]_<user id>_<attachment id>_<file>``;
* Moodle's "Download all submissions": ``<Full Name>_<participant id>_assignsubmission_file_/<file>``
  (or the same prefix on flat files);
* a ``.zip`` of any of these (extracted safely: no path outside the folder, no link, bounded size
  and count), or a single notebook.

The pipeline, one step per function: ``open_path`` (a folder, a zip, a notebook) -> ``scan`` (one
``Found`` per student entry, links refused) -> ``merge_resubmissions`` (an LMS's several files of
one student: the latest is graded, the others named) -> ``name_submissions`` (a safe, unique id
per submission: the row in grades.csv and the output folder; duplicates reported, not merged).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grading_config import LIMITS, Assignment, SandboxLimits

from autograder.grade import Submission
from autograder.i18n import _
from autograder.late import TIMES_FILE
from autograder.safe_text import described, fold_case, look_alike_groups, look_alike_note, printable, student_id
from autograder.safe_zip import NOTEBOOK_SUFFIX, IntakeError, extract_zip

MAX_DEPTH = 3  # folders below a student's folder searched for a notebook
MAX_ENTRIES_PER_STUDENT = 2000  # files and folders looked at in one student's folder
MAX_NAMES_SHOWN = 5

IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}

# Canvas (lib/content_zipper.rb): sortable name without punctuation, LATE, user id (or anon_<id>),
# attachment id, the file's display name.  A re-uploaded file's display name gets "-1", "-2", ...
CANVAS_FILE = re.compile(r"^(?:(?!late_)(?P<name>[^_]+(?:_(?!late_)[^_\d][^_]*)*)_)?(?:(?P<late>late)_)?"
                         r"(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?P<aid>\d+)_(?P<file>.+)$", re.IGNORECASE)
CANVAS_TEXT = re.compile(r"^(?:(?!late_)(?P<name>[^_]+(?:_(?!late_)[^_\d][^_]*)*)_)?(?:(?P<late>late)_)?"
                         r"(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?:text|link)\.html$", re.IGNORECASE)
# Moodle (mod/assign): full name (its "_" made spaces), participant id, the plugin; a folder per
# student and plugin (the default since 3.1), or the same prefix on each file.
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<file>.*))?$")
# A second copy of a file: "a1-2.ipynb" (Canvas), "a1 (2).ipynb" (browsers, file managers).
VERSION_SUFFIX = re.compile(r"^(?P<base>.+?)(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))$")


@dataclass
class NotebookFile:
    """One notebook found for a student."""

    path: Path
    shown: str  # its path under PATH, as a person may read it
    order: tuple[int, int] = (0, 0)  # (LMS upload order, copy number): the latest is the largest
    late: bool = False
    oversized_mb: float = 0.0  # in a zip and over max_notebook_mb: refused unread


@dataclass
class Found:
    """What one student handed in, before naming: their notebooks and the other files beside them."""

    name: str  # the student's name as found (raw text), from which the id is made
    layout: str  # "flat", "nbgrader", "folder", "classroom", "canvas", "moodle"
    shown: str  # the entry under PATH
    notebooks: list[NotebookFile] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # other files found, by name
    links: list[str] = field(default_factory=list)  # symbolic links found where a submission was looked for
    lms_key: tuple[str, str] | None = None  # ("canvas", user id) or ("moodle", participant id)
    notes: list[str] = field(default_factory=list)
    nbgrader_folder: str = ""  # nbgrader's <student>/<a>/, where the notebook had to be


@dataclass
class Intake:
    """The submissions of one PATH, with what a person should know about how they were found."""

    submissions: list[Submission]
    notes: list[str]  # one line each, for the terminal
    layouts: dict[str, int]
    _extracted: tempfile.TemporaryDirectory[str] | None = None
    root: Path | None = None  # the folder read (inside an extracted zip too): where submission_times.csv is
    marked_late: set[str] = field(default_factory=set)  # ids whose graded file Canvas marked LATE

    def close(self) -> None:
        """Remove what was extracted from a zip (the submissions' paths point into it)."""
        if self._extracted is not None:
            self._extracted.cleanup()
            self._extracted = None

    def __enter__(self) -> "Intake":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- names


def _decoded(name: str) -> tuple[str, bool]:
    """A file name as text, and whether its bytes were not UTF-8 (shown then with U+FFFD)."""
    try:
        name.encode("utf-8")
        return name, False
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "replace"), True


def _shown(text: str) -> str:
    return printable(_decoded(text)[0], one_line=True)


def _listing(names: list[str]) -> str:
    shown = [_shown(n) for n in names[:MAX_NAMES_SHOWN]]
    more = len(names) - MAX_NAMES_SHOWN
    return ", ".join(shown) + (_(" and {count} more").format(count=more) if more > 0 else "")


# --------------------------------------------------------------------------- open PATH


def open_path(path: Path, assignment: Assignment,
              limits: SandboxLimits) -> tuple[Path, str, tempfile.TemporaryDirectory[str] | None, dict[Path, float]]:
    """The folder to scan, its name (for GitHub Classroom's slug), the extraction folder, oversized notebooks."""
    if not path.exists():
        raise IntakeError(_("{path} does not exist").format(path=printable(str(path), one_line=True)))
    if path.is_file() and path.suffix.lower() == ".zip":
        extracted = tempfile.TemporaryDirectory(prefix="mdl-intake-")
        try:
            oversized = extract_zip(path, Path(extracted.name), limits)
        except BaseException:
            extracted.cleanup()
            raise
        root = _inside_single_folder(Path(extracted.name), assignment)
        label = root.name if root != Path(extracted.name) else path.stem
        return root, label, extracted, oversized
    if path.is_dir():
        return path, path.resolve().name, None, {}
    raise IntakeError(_("{path} is neither a folder, a .zip nor a notebook").format(path=printable(str(path), one_line=True)))


def _inside_single_folder(root: Path, assignment: Assignment) -> Path:
    """A zip of a folder holds only that folder: read what is inside it, unless it is one student's own
    (Moodle's, nbgrader's ``<student>/<a>/``, or a folder with exactly one notebook)."""
    entries = _visible_entries(root)
    if len(entries) != 1 or _kind(entries[0]) != "dir":
        return root
    folder = entries[0]
    if folder.name.lower().endswith("submissions"):
        return folder
    if MOODLE.match(folder.name) or _kind(folder / assignment.id) == "dir":
        return root
    notebooks = [e for e in _visible_entries(folder) if _kind(e) == "notebook"]
    return root if len(notebooks) == 1 else folder


# --------------------------------------------------------------------------- scan


def _visible_entries(folder: Path) -> list[Path]:
    """Entries of a folder, by name; hidden ones and OS litter (__MACOSX, Thumbs.db) left out."""
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise IntakeError(_("{folder} cannot be read ({error})").format(folder=folder, error=err.strerror)) from None
    return [folder / n for n in sorted(names, key=os.fsencode) if not n.startswith(".") and n not in IGNORED_NAMES]


def _kind(path: Path) -> str:
    """"link", "dir", "notebook", "file" or "other" (fifo, socket, device), never following a link."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "other"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "notebook" if path.suffix.lower() == NOTEBOOK_SUFFIX else "file"
    return "other"


def scan(root: Path, assignment: Assignment, label: str, oversized: dict[Path, float]) -> tuple[list[Found], list[str]]:
    """One Found per student entry of ``root`` (LMS files of one student are merged later), and the
    names of the files left out (not notebooks, not named by an LMS after a student)."""
    found: list[Found] = []
    ignored: list[str] = []
    prefixes = _classroom_prefixes(label, assignment)
    for entry in _visible_entries(root):
        kind = _kind(entry)
        if kind == "link":
            found.append(_refused_link(entry, prefixes))
        elif kind == "dir":
            found.append(_student_folder(entry, root, assignment, prefixes, oversized))
        elif kind == "notebook":
            found.append(_notebook_file(entry, oversized))
        else:
            lms = _lms_other_file(entry)
            (found.append(lms) if lms else ignored.append(entry.name))
    return found, ignored


def _classroom_prefixes(label: str, assignment: Assignment) -> list[str]:
    """GitHub Classroom names each clone <slug>-<login> inside <slug>-submissions/: strip "<slug>-"."""
    prefixes = [f"{assignment.id}-"]
    if label.endswith("-submissions") and len(label) > len("-submissions"):
        prefixes.insert(0, label[: -len("submissions")])
    return prefixes


def _refused_link(entry: Path, prefixes: list[str]) -> Found:
    name = entry.name
    moodle = MOODLE.match(name)
    canvas = CANVAS_FILE.match(name)
    if moodle:
        student = f"{moodle['name']}_{moodle['pid']}"
    elif canvas:
        student = _canvas_student(canvas)
    elif name.lower().endswith(NOTEBOOK_SUFFIX):
        student = name[: -len(NOTEBOOK_SUFFIX)]
    else:
        student = _strip_prefix(name, prefixes)
    return Found(student, "link", name, links=[name])


def _notebook_file(entry: Path, oversized: dict[Path, float]) -> Found:
    """A notebook at the top of PATH: Canvas, Moodle's flat files, or flat <student>.ipynb."""
    name = entry.name
    canvas = CANVAS_FILE.match(name)
    if canvas:
        copy = _copy_number(Path(canvas["file"]).stem)
        file = NotebookFile(entry, name, (int(canvas["aid"]), copy), bool(canvas["late"]), oversized.get(entry, 0.0))
        return Found(_canvas_student(canvas), "canvas", name, [file], lms_key=("canvas", canvas["uid"]))
    moodle = MOODLE.match(name)
    if moodle:
        file = NotebookFile(entry, name, (0, _copy_number(Path(moodle["file"] or name).stem)), oversized_mb=oversized.get(entry, 0.0))
        return Found(f"{moodle['name']}_{moodle['pid']}", "moodle", name, [file], lms_key=("moodle", moodle["pid"]))
    return Found(name[: -len(NOTEBOOK_SUFFIX)], "flat", name, [NotebookFile(entry, name, oversized_mb=oversized.get(entry, 0.0))])


def _lms_other_file(entry: Path) -> Found | None:
    """A non-notebook file that an LMS named after a student (a PDF, an online text): a student without a notebook."""
    canvas = CANVAS_FILE.match(entry.name) or CANVAS_TEXT.match(entry.name)
    if canvas:
        return Found(_canvas_student(canvas), "canvas", entry.name, others=[entry.name], lms_key=("canvas", canvas["uid"]))
    moodle = MOODLE.match(entry.name)
    if moodle:
        return Found(f"{moodle['name']}_{moodle['pid']}", "moodle", entry.name, others=[entry.name],
                     lms_key=("moodle", moodle["pid"]))
    return None


def _canvas_student(match: re.Match[str]) -> str:
    name, uid = match["name"], match["uid"]
    return f"{name}_{uid}" if name else uid


def _copy_number(stem: str) -> int:
    version = VERSION_SUFFIX.match(stem)
    return int(version["dash"] or version["paren"]) if version else 0


def _base_name(file_name: str) -> str:
    """"a1-2.ipynb" and "a1 (2).ipynb" -> "a1.ipynb": the name before the copy number."""
    stem, suffix = os.path.splitext(file_name)
    version = VERSION_SUFFIX.match(stem)
    return (version["base"] if version else stem) + suffix


def _strip_prefix(name: str, prefixes: list[str]) -> str:
    for prefix in prefixes:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def _student_folder(entry: Path, root: Path, assignment: Assignment, prefixes: list[str],
                    oversized: dict[Path, float]) -> Found:
    """A folder: Moodle's per-student folder, nbgrader's <student>/<a>/, or a folder of one student."""
    moodle = MOODLE.match(entry.name)
    assignment_folder = entry / assignment.id
    if moodle:
        found = Found(f"{moodle['name']}_{moodle['pid']}", "moodle", entry.name + "/", lms_key=("moodle", moodle["pid"]))
        _search(entry, root, found, oversized, MAX_DEPTH)
    elif _kind(assignment_folder) in ("dir", "link"):
        found = Found(entry.name, "nbgrader", entry.name + "/", nbgrader_folder=f"{entry.name}/{assignment.id}/")
        if _kind(assignment_folder) == "link":
            found.links.append(f"{entry.name}/{assignment.id}")
        else:
            _search(assignment_folder, root, found, oversized, 0)
    else:
        stripped = _strip_prefix(entry.name, prefixes)
        found = Found(stripped, "classroom" if stripped != entry.name else "folder", entry.name + "/")
        _search(entry, root, found, oversized, MAX_DEPTH)
    return found


def _search(folder: Path, root: Path, found: Found, oversized: dict[Path, float], depth: int) -> None:
    """Notebooks, other files and links under ``folder`` (``depth`` more folders down), never through a link."""
    pending = [(folder, depth)]
    seen = 0
    while pending:
        current, left = pending.pop(0)
        for entry in _visible_entries(current):
            seen += 1
            if seen > MAX_ENTRIES_PER_STUDENT:
                found.notes.append(_("only the first {count} entries of {folder} were looked at").format(count=MAX_ENTRIES_PER_STUDENT, folder=found.shown))
                return
            shown = entry.relative_to(root).as_posix()
            kind = _kind(entry)
            if kind == "link":
                found.links.append(shown)
            elif kind == "notebook":
                found.notebooks.append(NotebookFile(entry, shown, (0, _copy_number(entry.stem)),
                                                    oversized_mb=oversized.get(entry, 0.0)))
            elif kind == "dir" and left > 0:
                pending.append((entry, left - 1))
            elif kind in ("file", "other"):
                found.others.append(entry.name)


# --------------------------------------------------------------------------- decide


def merge_resubmissions(found: list[Found]) -> list[Found]:
    """An LMS's entries of one student (several files, a file folder and a text folder) become one Found."""
    merged: list[Found] = []
    by_key: dict[tuple[str, str], Found] = {}
    for item in found:
        if item.lms_key is None or item.layout == "link":
            merged.append(item)
        elif item.lms_key in by_key:
            first = by_key[item.lms_key]
            first.notebooks += item.notebooks
            first.others += item.others
            first.links += item.links
            first.notes += item.notes
        else:
            by_key[item.lms_key] = item
            merged.append(item)
    return merged


def choose_notebook(found: Found, assignment: Assignment) -> Submission:
    """The submission of one student: its notebook, or a refusal saying what was found instead."""
    if found.links:
        return Submission(found.name, None, _("{links}: a symbolic link in the submissions; links are never followed: "
                                              "submit the notebook itself").format(links=_listing(found.links)), status="refused-symlink")
    if not found.notebooks:
        where = found.nbgrader_folder or found.shown
        what = _("found only: {files}").format(files=_listing(found.others)) if found.others else _("the folder is empty")
        return Submission(found.name, None, _("no notebook in {folder} ({what})").format(folder=_shown(where), what=what), status="missing")
    named = [c for c in found.notebooks if _base_name(_own_file_name(c)).casefold() == assignment.notebook.casefold()]
    pool = named or found.notebooks
    # Copies of one file ("a1.ipynb", "a1-1.ipynb") have an order; Canvas numbers every upload.
    if len({_base_name(_own_file_name(c)) for c in pool}) > 1 and found.layout != "canvas":
        return Submission(found.name, None, _("several notebooks ({files}) and none named {notebook}: keep one and grade again").format(
                          files=_listing([c.shown for c in pool]), notebook=assignment.notebook), status="ambiguous")
    pool = sorted(pool, key=lambda c: (c.order, os.fsencode(c.shown)))
    return _submission_of(found, pool[-1], pool[:-1], assignment)


def _own_file_name(candidate: NotebookFile) -> str:
    """The student's own file name (without the prefix an LMS put before it)."""
    name = candidate.path.name
    for pattern, group in ((CANVAS_FILE, "file"), (MOODLE, "file")):
        match = pattern.match(name)
        if match and match[group]:
            return match[group]
    return name


def _submission_of(found: Found, chosen: NotebookFile, older: list[NotebookFile], assignment: Assignment) -> Submission:
    notes = list(found.notes)
    if found.layout == "nbgrader" and chosen.path.name != assignment.notebook:
        notes.append(_("the notebook was renamed to {name}; graded as {notebook}").format(name=_shown(chosen.path.name), notebook=assignment.notebook))
    notes += [_("Canvas marks this submission LATE")] if chosen.late else []
    if older:
        notes.append(_("{count} earlier or other file(s) not graded ({files}); graded the latest, {latest}").format(
                     count=len(older), files=_listing([o.shown for o in older]), latest=_shown(chosen.shown)))
    note = "; ".join(notes)
    if chosen.oversized_mb:
        return Submission(found.name, None, (note + "; " if note else "") +
                          _("the file is {size} MB, over the notebook size limit").format(size=f"{chosen.oversized_mb:.0f}"), status="invalid-notebook")
    return Submission(found.name, chosen.path, note)


def name_submissions(submissions: list[tuple[Found, Submission]]) -> list[Submission]:
    """Give every submission its id; ids that collide (case, NFC, unsafe characters, the same student
    twice) make every submission involved a ``duplicate`` row under an id of its own, graded none of them.
    Ids collide as a case-blind disk sees names (fold_case): ``Casey`` is ``casey``, ``Strauß`` is not ``Strauss``."""
    groups: dict[str, list[tuple[Found, Submission]]] = {}
    for found, sub in submissions:
        groups.setdefault(fold_case(student_id(sub.student)), []).append((found, sub))
    taken = set(groups)
    named: list[Submission] = []
    for members in groups.values():
        members.sort(key=lambda m: os.fsencode(m[0].shown))
        if len(members) == 1:
            named.append(_named(*members[0], student_id(members[0][1].student)))
            continue
        ids = [student_id(members[0][1].student)] + [_unused(student_id(m[1].student), k, taken) for k, m in enumerate(members[1:], 2)]
        everyone = ", ".join(_("{file} as {id}").format(file=_shown(m[0].shown), id=i) for m, i in zip(members, ids))
        for (found, sub), sid in zip(members, ids):
            message = _("{count} submissions map to the same student ({everyone}); none of them was graded: keep one (or "
                        "rename the others) and grade again").format(count=len(members), everyone=everyone)
            named.append(Submission(sid, None, message, status="duplicate"))
    return sorted(named, key=lambda s: s.student)


def _unused(base: str, k: int, taken: set[str]) -> str:
    while fold_case(f"{base}.dup{k}") in taken:
        k += 1
    taken.add(fold_case(f"{base}.dup{k}"))
    return f"{base}.dup{k}"


def flag_look_alikes(submissions: list[Submission]) -> tuple[list[Submission], list[str]]:
    """Ids that differ but look the same to a person (``аlice`` with a Cyrillic а, and ``alice``): a note on each,
    and a line for the terminal naming them. All are graded: they may be different students."""
    groups = look_alike_groups([s.student for s in submissions])
    alike = {sid for group in groups for sid in group}
    notes = [_("ids that look alike: {ids}: check that they are different students").format(
        ids=printable(_(" and ").join(map(described, g)), one_line=True)) for g in groups]
    return [Submission(s.student, s.path, "; ".join(n for n in (s.note, look_alike_note(s.student)) if n), status=s.status)
            if s.student in alike else s for s in submissions], notes


def _named(found: Found, sub: Submission, sid: str) -> Submission:
    """The submission under its id, saying how its name was read when the id differs from it."""
    shown, not_utf8 = _decoded(sub.student)
    notes = [sub.note] if sub.note else []
    if not_utf8:
        notes.insert(0, _("the file name {name} is not UTF-8; graded as {id}").format(name=repr(_shown(found.shown)), id=sid))
    elif sid != sub.student:
        notes.insert(0, _("submitted as {name}, graded as {id}").format(name=repr(printable(shown, one_line=True)), id=sid))
    return Submission(sid, sub.path, "; ".join(notes), status=sub.status)


# --------------------------------------------------------------------------- the whole step


def find_submissions(path: Path, assignment: Assignment, limits: SandboxLimits = LIMITS) -> Intake:
    """Every submission in PATH (a folder in any layout above, a zip of one, or one notebook).

    Raises IntakeError when PATH does not exist, or holds no notebook and no refused entry at all.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == NOTEBOOK_SUFFIX:
        found = _notebook_file(path, {})
        return Intake(name_submissions([(found, choose_notebook(found, assignment))]), [], {"single notebook": 1})
    root, label, extracted, oversized = open_path(path, assignment, limits)
    try:
        found, ignored = scan(root, assignment, label, oversized)
        if not any(f.notebooks or f.links for f in found):
            what = _("found only: {files}").format(files=_listing([f.shown for f in found] + ignored)) if found or ignored else _("it is empty")
            raise IntakeError(_("no notebook (.ipynb) in {path} ({what})").format(path=printable(str(path), one_line=True), what=what))
        instructor_files = [n for n in ignored if n == TIMES_FILE]  # read by autograder.late, not ignored
        ignored = [n for n in ignored if n != TIMES_FILE]
        notes = [_("ignored {count} file(s) that are not notebooks: {files}").format(count=len(ignored), files=_listing(ignored))] if ignored else []
        notes += [_("submission times read from {file} (autograder/late.py)").format(file=TIMES_FILE) for _file in instructor_files]
        found = merge_resubmissions(found)
        chosen = [(f, choose_notebook(f, assignment)) for f in found]
    except BaseException:
        if extracted is not None:
            extracted.cleanup()
        raise
    layouts: dict[str, int] = {}
    for f in found:
        layouts[f.layout] = layouts.get(f.layout, 0) + 1
    summary = ", ".join(f"{kind} {count}" for kind, count in sorted(layouts.items()))
    notes.insert(0, _("{count} submission(s) found ({layouts})").format(count=len(found), layouts=summary))
    named = name_submissions(chosen)
    late_raw = {sub.student for f, sub in chosen if sub.path is not None and _graded_file_late(f, sub.path)}
    marked_late = {s.student for s in named if s.status == "" and _raw_name_of(s, chosen) in late_raw}
    named, alike = flag_look_alikes(named)
    return Intake(named, notes + alike, layouts, extracted, root, marked_late)


def _graded_file_late(found: Found, path: Path) -> bool:
    return any(n.late and n.path == path for n in found.notebooks)


def _raw_name_of(named: Submission, chosen: list[tuple[Found, Submission]]) -> str | None:
    """The name a graded submission was handed in under (its path is its own)."""
    return next((sub.student for _, sub in chosen if sub.path is not None and sub.path == named.path), None)
