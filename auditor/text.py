r"""Text from captures made safe for a terminal.

Host names, URLs, header values and company names come from the traffic or
from imported lists, so an attacker chooses them. Written raw, an escape
sequence in one can clear the screen, rewrite earlier lines (``\r``), forge
a clickable link (OSC 8) or change the terminal's title. :func:`printable`
turns every control character into a visible escape, so the line shows what
was captured and does nothing else.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the Unicode controls that reorder or hide text (bidi
# overrides and isolates, zero-width characters, line/paragraph separators), and
# lone surrogates (undecodable bytes kept by ``surrogateescape``, or ``\ud800`` in
# a JSON string), which no UTF-8 stream can even encode.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    r"""``value`` as text with every control character written as a visible escape.

    >>> print(printable("evil.example\x1b[2J\rok.example"))
    evil.example\x1b[2J\rok.example
    >>> print(printable("a\u202eb"), printable(None), printable("café.example"))
    a\u202eb None café.example
    """
    text = str(value)
    if _UNSAFE.search(text) is None:
        return text
    text = text.replace("\\", "\\\\")
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return _UNSAFE.sub(_escape, text)


def encodable(text: str) -> str:
    r"""``text`` with each lone surrogate written as ``\udXXX``, so it can be written as UTF-8.

    Inside a JSON string that is the JSON escape of the same character, so a
    JSON document stays exact; in HTML or CSV it shows where a byte was odd.

    >>> print(encodable("host\udcff.example"), encodable("plain"))
    host\udcff.example plain
    """
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
