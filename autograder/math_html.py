"""Markdown answers with LaTeX as safe HTML: ``$...$`` and ``$$...$$`` become MathML, drawn by the browser itself.

The manual grading pages (``DIR/manual/<grade_id>.html``) show students' derivations. Their
Content-Security-Policy allows no script, so MathJax or KaTeX cannot run there; instead the TeX is
converted here, in the grader, to MathML (latex2mathml, a PyPI dependency: nothing is fetched when
the page opens), which current browsers render natively. A student writes the TeX, so the MathML is
passed through an allowlist of MathML elements and presentation attributes (bleach): no ``href``,
no ``style``, no script, no other element survives. TeX the converter cannot read is shown as code.
"""

from __future__ import annotations

import html
import re

MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup", "mfrac", "msqrt",
    "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "semantics", "annotation", "mfenced", "merror", "mmultiscripts", "mprescripts", "none",
}
MATHML_ATTRIBUTES = [
    "xmlns", "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
    "accentunder", "movablelimits", "form", "columnalign", "rowalign", "columnspacing", "rowspacing",
    "columnlines", "rowlines", "frame", "displaystyle", "scriptlevel", "minsize", "maxsize", "width", "height",
    "depth", "linethickness", "symmetric", "largeop", "notation", "open", "close", "separators", "mathsize",
    "encoding",
]
MAX_MATH_CHARS = 2_000  # a formula longer than this is shown as code (converting it costs the grader)


def _mathml(tex: str, display: bool) -> str:
    import bleach
    from latex2mathml.converter import convert

    if len(tex) > MAX_MATH_CHARS:
        raise ValueError("too long")
    markup = convert(tex.strip(), display="block" if display else "inline")
    return bleach.clean(markup, tags=MATHML_TAGS, attributes={"*": MATHML_ATTRIBUTES}, strip=True)


def answer_html(text: str) -> str:
    """A Markdown answer as HTML: text escaped (line breaks kept by the page's CSS), each formula as MathML."""
    parts, last = [], 0
    for match in MATH.finditer(text):
        parts.append(html.escape(text[last:match.start()]))
        display = match.group(1) is not None
        tex = match.group(1) if display else match.group(2)
        try:
            parts.append(_mathml(tex, display))
        except Exception:  # noqa: BLE001  (TeX the converter cannot read: shown as the student wrote it)
            parts.append(f"<code>{html.escape(match.group(0))}</code>")
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)
