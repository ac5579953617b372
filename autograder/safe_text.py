"""Student text made safe for people and files: printable text, CSV cells, and student ids.

The one filter for everything a student chose (names, error messages, answers) on its way to the
terminal, a CSV file, a feedback page or a folder name. Every module may use it; it uses nothing
of the grader but the names of the ``--out`` folder's own files. Ids are compared by
:func:`fold_case` (what case-blind file systems merge) and checked for look-alikes by
:func:`skeleton` (Unicode TR39's idea, on a small table of Latin, Cyrillic and Greek letters).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from autograder.out_folder import RESERVED_NAMES

MAX_ID_LENGTH = 100
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}

# Terminal escape sequences (colours, cursor moves, erase-line, window titles, hyperlinks): a student
# name or exception message holding one could redraw the grader's screen ("control_full 30/30 ok").
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlink
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings
    r"|\x1b[ -/]*[0-~]?"  # two-character escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# Control characters (all but newline and tab) and the invisible marks that reorder text (bidi).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile("[\n\t\u2028\u2029]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: object, *, one_line: bool = False) -> str:
    """Student text made safe to show a person: the one filter for the terminal, messages and feedback.

    Escape sequences and control characters are removed (a carriage return could overwrite a line,
    an escape sequence redraw the screen), as are invisible bidi marks; lone surrogates become
    ``?`` so that any file can be written.  ``one_line`` also turns line breaks and tabs into a space.
    """
    text = text if isinstance(text, str) else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n")))
    if one_line:
        return _LINE_BREAK.sub(" ", text)
    return text.replace("\u2028", "\n").replace("\u2029", "\n")


def printable_data(data: Any) -> Any:
    """``data`` (JSON-like) with every string passed through :func:`printable`."""
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable(k) if isinstance(k, str) else k: printable_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [printable_data(v) for v in data]
    return data


def csv_cell(value: object) -> str:
    """A text cell of a CSV file: one printable line, with a leading ``'`` where a spreadsheet
    would read a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return): OWASP's CSV injection advice."""
    text = printable(value, one_line=True)  # a tab or CR becomes a space: the formula may follow it
    return "'" + text if text.lstrip().startswith(_FORMULA_START) else text


def student_id(name: str) -> str:
    """The id a name is graded under: its row in grades.csv and its output folder.

    NFC; escape sequences and control characters removed; every run of characters other than
    letters, marks, digits, ``_``, ``.`` and ``-`` replaced by one ``_``; no trailing dot or space,
    no leading dot or dash (hidden files, command options); at most 100 characters; never a name
    of the grader's own files (``grades.csv`` becomes ``_grades.csv``). Applying it twice changes nothing.
    """
    text = unicodedata.normalize("NFC", printable(name, one_line=True))
    text = "".join(ch if unicodedata.category(ch)[0] in "LMN" or ch in "_.-" else "\0" for ch in text)
    text = re.sub("\0+", "_", text).rstrip(". ")
    if text[:1] in (".", "-"):
        text = "_" + text[1:]
    if len(text) > MAX_ID_LENGTH:
        text = text[: MAX_ID_LENGTH - 9] + "-" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:8]
    if not text.strip("_.-"):
        return "student-" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:8]
    if text.casefold() in RESERVED_NAMES or text.split(".")[0].casefold() in WINDOWS_DEVICES:
        text = "_" + text
    return text


def fold_case(text: str) -> str:
    """``text`` as a case-blind file system compares names: NFC, each character folded on its own.

    Unicode's simple case folding (one character to one): ``Casey`` and ``casey`` are one name, but
    ``Strauß`` and ``Strauss`` are two (``str.casefold`` makes ``ß`` "ss" and so merged two students).
    """
    folded = []
    for ch in unicodedata.normalize("NFC", text):
        fold = ch.casefold()
        lower = ch.lower()
        folded.append(fold if len(fold) == 1 else lower if len(lower) == 1 else ch)
    return unicodedata.normalize("NFC", "".join(folded))


# Letters of other scripts that look like a Latin letter (a few of Unicode's confusables.txt, TR39):
# enough that "аlice" with a Cyrillic а is seen to look like "alice".
CONFUSABLE_LATIN = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o",
    "р": "p", "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y", "ү": "y", "ɡ": "g",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ԛ": "Q", "Ѕ": "S", "Т": "T", "Ԝ": "W", "Х": "X", "У": "Y", "Ү": "Y", "Ӏ": "I",
    # Greek
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})


def skeleton(text: str) -> str:
    """What ``text`` looks like: two ids with one skeleton may be mistaken for each other by a person.

    TR39's skeleton on a small table: NFD, each look-alike letter replaced by the Latin letter it
    looks like, NFD again; then folded as names are compared (:func:`fold_case`).
    """
    mapped = unicodedata.normalize("NFD", text).translate(CONFUSABLE_LATIN)
    return fold_case(unicodedata.normalize("NFD", mapped))


def look_alike_letters(text: str) -> list[str]:
    """The letters of ``text`` that are look-alikes from another script, as "Cyrillic а" (for messages)."""
    found = []
    for ch in unicodedata.normalize("NFD", text):
        if ch.translate(CONFUSABLE_LATIN) != ch:
            script = unicodedata.name(ch, "?").split()[0].capitalize()
            found.append(f"{script} {ch}")
    return list(dict.fromkeys(found))


def look_alike_groups(ids: list[str]) -> list[list[str]]:
    """Groups of two or more different ids with one :func:`skeleton`: a person may take one for another."""
    by_look: dict[str, list[str]] = {}
    for sid in dict.fromkeys(ids):
        by_look.setdefault(skeleton(sid), []).append(sid)
    return [group for group in by_look.values() if len(group) > 1]


def described(sid: str) -> str:
    """An id for a message about look-alikes: ``'аlice' (Cyrillic а)``."""
    letters = look_alike_letters(sid)
    return repr(sid) + (f" ({', '.join(letters)})" if letters else "")


def look_alike_note(sid: str) -> str:
    """The note a student whose id looks like another's gets (without naming the other student)."""
    letters = look_alike_letters(sid)
    why = f" (it has {', '.join(letters)}, which look like Latin letters)" if letters else ""
    return (f"the id {sid} looks like another student's id{why}; both are graded: your instructor will check "
            "that they are different students")
