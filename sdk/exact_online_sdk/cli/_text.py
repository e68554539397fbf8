"""Text from data made safe for a terminal: no escape sequences, no control characters, no markup.

Exact's rows, its error messages and the user's own input end up on a terminal. A ``Name`` holding an OSC 8
hyperlink, a CSI sequence that clears the screen, a carriage return that overwrites what was printed, or a bidi
override that reorders it must reach the terminal as harmless text. Rich markup (``[bold]``, ``[link=...]``) is a
separate danger, handled where rich renders: cells are :class:`rich.text.Text` objects, never markup strings.
"""

from __future__ import annotations

import re

__all__ = ["clean", "one_line"]

# Whole escape sequences first, so an OSC's payload (a URL, a window title) does not survive as stray text.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC ... BEL or ST (hyperlinks, titles, clipboard)
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?        # DCS, SOS, PM, APC ... ST
    | \x1b\[[0-?]*[ -/]*[@-~]                       # CSI (colours, cursor moves, clear screen)
    | \x1b[ -/]*[0-~]                               # the other escapes (ESC c resets the terminal)
    | \x9d[^\x07\x9c]*[\x07\x9c]?                   # 8-bit OSC
    | \x9b[0-?]*[ -/]*[@-~]                         # 8-bit CSI
    | [\x90\x98\x9e\x9f][^\x9c]*\x9c?               # 8-bit DCS, SOS, PM, APC
    """,
    re.VERBOSE,
)
# C0 and C1 controls except tab and newline (\r would let a value overwrite the line before it), DEL, and the
# bidi controls that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """``text`` without escape sequences or control characters (tabs and newlines are kept)."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def one_line(text: str, *, limit: int = 600) -> str:
    """``text`` cleaned, its whitespace runs (newlines included) folded into one space, at most ``limit`` chars."""
    folded = _SPACE.sub(" ", clean(text)).strip()
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"
