"""Library exception text, squeezed onto one line for DataError messages (the CLI prints one line)."""

from __future__ import annotations


def reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if len(text) > 200:  # some parsers echo whole headers back
        text = text[:197] + "..."
    return text or type(e).__name__
