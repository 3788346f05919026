"""The C ABI's contract, checked on the header itself (cshim/include/ffitel.h)."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = Path(__file__).resolve().parents[2] / "cshim" / "include" / "ffitel.h"


def _declarations() -> str:
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_header_takes_no_function_pointers() -> None:
    """"No callbacks into the host, ever: the host polls." A function pointer
    in any declaration (a parameter or a typedef) would be such a callback."""
    decls = _declarations()
    assert "ffitel_version" in decls and "ffitel_span_start" in decls  # the parse saw the header
    offending = [line.strip() for line in decls.splitlines() if re.search(r"\(\s*\*", line)]
    assert not offending, f"function pointers in the C ABI: {offending}"
