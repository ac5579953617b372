"""The student package's install URL, filled into a notebook's text in place of its token and old placeholders.

A source notebook writes ``{{STUDENT_PACKAGE_URL}}`` (or one of the placeholders older notebooks
carry) where its install line names the package; ``mdl build`` writes the course's setting
(``grading_config.STUDENT_PACKAGE_URL``) into every release in its place, and ``mdl student-package
--url`` may write another into the copy it publishes.
"""

from __future__ import annotations

from typing import Any

TOKEN = "{{STUDENT_PACKAGE_URL}}"
OLD_PLACEHOLDERS = ("git+https://github.com/<org>/<course>#subdirectory=student",
                    "git+https://github.com/<org>/<repo>#subdirectory=student")


def fill_install_url(text: str, url: str, also: tuple[str, ...] = ()) -> str:
    """The text with the install URL in place of the token, the older placeholders and ``also``.

    ``also``: URLs a release already carries (the one ``mdl build`` filled in), replaced as well."""
    for placeholder in (TOKEN, *OLD_PLACEHOLDERS, *(a for a in also if a and a != url)):
        text = text.replace(placeholder, url)
    return text


def fill_notebook(nb: Any, url: str, also: tuple[str, ...] = ()) -> Any:
    """Every cell of a notebook (an nbformat node or its JSON dict) with the URL filled in, in place."""
    for cell in nb["cells"]:
        source = cell.get("source", "")
        cell["source"] = fill_install_url(source if isinstance(source, str) else "".join(source), url, also)
    return nb
