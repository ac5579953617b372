"""The grader's side of the pipe protocol: length-prefixed messages, and reply fields kept to a bounded size."""

from __future__ import annotations

import struct
from typing import Any

_HEADER = struct.Struct(">Q")  # every message: its length in 8 bytes (big-endian), then the codec's bytes
# A reply to "run a cell" or "ready" is a few short fields: what the grader's own process may parse of it.
SMALL_REPLY_ITEMS = 1000


def _count(value: Any) -> int:
    """A count the agent reports (bytes of output cut ...), as an int the grader can compute with."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), 2**53)


def _text(value: Any, limit: int) -> str:
    """A reply field as bounded text, whatever the agent sent."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
