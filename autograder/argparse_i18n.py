"""argparse's own words ("usage:", "error:", "the following arguments are required") in the run's language.

argparse looks its messages up with ``gettext.gettext`` and ``gettext.ngettext``, bound at its import
as its module's ``_`` and ``ngettext``; those read the process's default gettext domain and the
locale environment variables (``LANGUAGE``, ``LANG``), not ``MDL_LANG``.  Setting those variables (or
the default domain) would change every gettext lookup of the process and of the programs it starts
(pip, git, the sandboxed kernel), so :func:`in_run_language` instead points argparse's two lookups at
the grader's catalog (``mdl``) while ``mdl`` builds its parser and reads its command line, and puts
them back afterwards.  argparse's msgids (English, %-placeholders) are listed below so that Babel
extracts them into ``mdl.po`` with the rest; tests/test_cli_i18n.py fails if the running Python's
argparse uses a message a user can meet that is not here.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from mdl_student.i18n import current_language, translations

from autograder.i18n import DOMAIN, LOCALE_DIR, N_


def ngettext(singular: str, plural: str, n: int = 2) -> tuple[str, str]:
    """Marks one of argparse's plural messages for extraction (``pybabel extract -k ngettext:1,2``)."""
    return singular, plural


# What argparse (Python 3.11 to 3.13) may say to someone running mdl; its errors for a parser's
# author ("dest= is required for options like %r") stay English, as Python's own errors do.
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("subcommands"),
    N_("%(heading)s:"),
    N_(" (default: %(default)s)"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("%(prog)s: warning: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("expected one argument"),
    N_("expected at least one argument"),
    N_("expected at most one argument"),
    N_("ignored explicit argument %r"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("can't open '%(filename)s': %(error)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("unexpected option string: %s"),
    N_("argument '%(argument_name)s' is deprecated"),
    N_("command '%(parser_name)s' is deprecated"),
    N_("option '%(option)s' is deprecated"),
)
ARGPARSE_PLURALS = (ngettext("expected %s argument", "expected %s arguments"),)


@contextlib.contextmanager
def in_run_language() -> Iterator[None]:
    """argparse speaks the run's language (``MDL_LANG``) inside the block, as it did before outside it."""
    catalog = translations(current_language(), DOMAIN, LOCALE_DIR)
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = catalog.gettext, catalog.ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]
