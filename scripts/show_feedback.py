"""Print a feedback page as plain text (make demo shows a Spanish one): `python scripts/show_feedback.py PAGE [LINES]`."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path


def page_text(page: str) -> str:
    body = re.sub(r"(?s)<(style|title)>.*?</\1>", "", page)
    body = re.sub(r"<(br|/p|/h[1-3]|/li|/tr|/div)>", "\n", body)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


if __name__ == "__main__":
    lines = page_text(Path(sys.argv[1]).read_text(encoding="utf-8")).splitlines()
    print("\n".join(lines[: int(sys.argv[2])] if len(sys.argv) > 2 else lines))
