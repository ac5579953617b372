"""The grader's messages in the run's language: the catalog ``mdl`` under autograder/locale/.

The same machinery as the student package's (`mdl_student.i18n`): the language is ``MDL_LANG``
(``mdl grade/report --lang`` sets it), English is the source language, and a message is written
in English with named placeholders and formatted after translation.  This catalog holds what only
the grader writes (the feedback page, statuses, cell places, the late-work sentence, results.json,
the class report, ``mdl``'s own output); it stays on the grader's side of the trust boundary.
"""

from __future__ import annotations

from pathlib import Path

from mdl_student.i18n import current_language, translations

DOMAIN = "mdl"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def _(message: str) -> str:
    """``message`` in the run's language (MDL_LANG; mdl grade/report --lang), from autograder/locale."""
    return translations(current_language(), DOMAIN, LOCALE_DIR).gettext(message)


def gettext_in(lang: str, message: str) -> str:
    """``message`` in ``lang`` whatever the run's language: for what a translated edition carries (its install cell)."""
    return translations(lang, DOMAIN, LOCALE_DIR).gettext(message)


def N_(message: str) -> str:
    """Marks a message for extraction where it is stored before it is shown; translated where shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the run's language."""
    return translations(current_language(), DOMAIN, LOCALE_DIR).ngettext(singular, plural, n)


def ordinal(n: int) -> str:
    """``n`` as an ordinal number in the run's language: 1st, 2nd, 11th; in Spanish 1.ª, 2.ª (a cell, feminine)."""
    if current_language() == "es":
        return f"{n}.ª"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
