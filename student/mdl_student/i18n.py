"""Messages in the student's language: Python's gettext with the catalogs under mdl_student/locale/.

The language is the environment variable ``MDL_LANG`` (``en`` or ``es``), which the grader sets for
its own checks and passes to the sandboxed kernel, and which a student running locally or in Colab
sets in the release's first cell.  English is the source language: a message is written in English
with named placeholders (``_("{name} has shape {got}")``) and formatted after translation, so a
translation can reorder the values but never adds one.  The Spanish catalog is a ``.po`` file reviewed
by people; ``make install`` compiles it to ``.mo``, and where no ``.mo`` exists (a pip install from
git) it is compiled in memory with Babel at first use and cached for the process.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
from pathlib import Path

DOMAIN = "mdl_student"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "es")


def current_language() -> str:
    """``MDL_LANG`` when it names a language of the course (``es_CO`` counts as ``es``), else English."""
    lang = os.environ.get("MDL_LANG", "en").strip().lower().replace("-", "_").split("_")[0]
    return lang if lang in LANGUAGES else "en"


@functools.lru_cache(maxsize=None)
def translations(lang: str, domain: str = DOMAIN, locale_dir: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """The catalog of ``lang``: the compiled ``.mo`` if there is one, else the ``.po`` compiled in memory."""
    if lang == "en":
        return gettext.NullTranslations()
    mo = locale_dir / lang / "LC_MESSAGES" / f"{domain}.mo"
    po = mo.with_suffix(".po")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    if not po.is_file():
        return gettext.NullTranslations()
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:  # no Babel and no compiled catalog: English rather than a crash
        return gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    """``message`` in the current language (English when the catalog lacks it)."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)
