"""Turn file bytes into text the matcher can read: wide encodings to UTF-8, notebooks to cells.

Both are guesses about a file's shape, and a wrong guess must never hide a key: an encoding is only
assumed when the NUL pattern is unmistakable, and a notebook that is not exactly what nbformat
writes (invalid JSON, ``cells`` not a list, an output whose ``data`` is a string, JSON nested
deeper than the parser's stack) is reported as such so the caller scans its raw bytes instead.
"""

from __future__ import annotations

import json

_BOMS = (  # longest first: the UTF-32LE BOM starts with the UTF-16LE one
    (b"\xff\xfe\x00\x00", "utf-32-le", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "utf-32"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
)


def wide_encoding(head: bytes) -> tuple[str, int, str] | None:
    """(codec, bytes of BOM to drop, family ``utf-16``/``utf-32``) of text in a wide encoding, or
    None. With a BOM that is certain; without one, text mostly in ASCII shows NUL bytes at a
    fixed position in each 2- or 4-byte unit and almost nowhere else."""
    for bom, codec, family in _BOMS:
        if head.startswith(bom):
            return codec, len(bom), family
    n = len(head) - len(head) % 4
    if n < 16 or b"\0" not in head:  # wide ASCII text is half or three quarters NULs
        return None
    unit = head[:n]
    lanes4 = [unit[i::4].count(0) / (n // 4) for i in range(4)]
    if lanes4[0] < 0.05 and min(lanes4[1:]) > 0.9 and _texty(unit[0::4]):
        return "utf-32-le", 0, "utf-32"
    if lanes4[3] < 0.05 and min(lanes4[:3]) > 0.9 and _texty(unit[3::4]):
        return "utf-32-be", 0, "utf-32"
    even, odd = unit[0::2].count(0) / (n // 2), unit[1::2].count(0) / (n // 2)
    if odd > 0.9 and even < 0.05 and _texty(unit[0::2]):
        return "utf-16-le", 0, "utf-16"
    if even > 0.9 and odd < 0.05 and _texty(unit[1::2]):
        return "utf-16-be", 0, "utf-16"
    return None


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def _texty(low: bytes) -> bool:
    """The low bytes of the units are text (few control characters), not a table of small binary
    integers that happens to share the NUL pattern."""
    return len(low.translate(None, _CONTROL)) > 0.9 * len(low)


def decode_wide(data: bytes, codec: str, bom: int) -> bytes:
    """``data`` re-encoded as UTF-8; a trailing partial unit or a bad surrogate becomes U+FFFD."""
    return data[bom:].decode(codec, errors="replace").encode("utf-8")


class NotANotebook(ValueError):
    """Why bytes named ``.ipynb`` are not a notebook this module can split into cells."""


class LegacyNotebook(NotANotebook):
    """A notebook in IPython's XML format (nbformat 2, 2011): plain text to scan, not damage."""


def notebook_cells(data: bytes) -> list[bytes]:
    """Cell sources and text outputs of a Jupyter notebook (nbformat 4, or 3 with worksheets),
    JSON-decoded (escapes undone), one piece per cell; :class:`NotANotebook` when the file is
    anything but a well-formed notebook."""
    if not data.strip():  # an empty file: no cells, nothing to scan
        return []
    if data.lstrip()[:9] in (b"<?xml ver", b"<notebook"):
        raise LegacyNotebook("an XML notebook (nbformat 2)")
    try:
        nb = json.loads(data)
    except RecursionError:
        raise NotANotebook("JSON nested too deep to parse") from None
    except ValueError as e:  # invalid JSON or not UTF-8
        raise NotANotebook(f"invalid JSON ({str(e).splitlines()[0][:80]})") from None
    if isinstance(nb, dict) and "cells" not in nb and isinstance(nb.get("worksheets"), list):
        sheets = nb["worksheets"]  # nbformat 3: cells inside worksheets, code under "input"
        if not all(isinstance(w, dict) and isinstance(w.get("cells"), list) for w in sheets):
            raise NotANotebook("a worksheet without a 'cells' list")
        nb = {"cells": [c for w in sheets for c in w["cells"]]}
    if not isinstance(nb, dict) or "cells" not in nb:
        raise NotANotebook("no 'cells' (not an nbformat 3 or 4 notebook)")
    cells = nb["cells"]
    if not isinstance(cells, list):
        raise NotANotebook(f"'cells' is a {type(cells).__name__}, not a list")
    out: list[bytes] = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotANotebook(f"cell {i} is a {type(cell).__name__}, not an object")
        parts = [_text(cell.get("source", cell.get("input")), f"cell {i} source")]
        outputs = cell.get("outputs") or []
        if not isinstance(outputs, list):
            raise NotANotebook(f"cell {i} outputs is a {type(outputs).__name__}, not a list")
        for j, o in enumerate(outputs):
            if not isinstance(o, dict):
                raise NotANotebook(f"cell {i} output {j} is a {type(o).__name__}, not an object")
            parts.append(_text(o.get("text"), f"cell {i} output {j} text"))
            parts.extend(_text(o.get(k), f"cell {i} output {j} {k}") for k in _V3_TEXT if k in o)
            bundle = o.get("data") or {}
            if not isinstance(bundle, dict):
                raise NotANotebook(f"cell {i} output {j} data is a {type(bundle).__name__}, not an object")
            parts.extend(
                _text(v, f"cell {i} output {j} data") for k, v in bundle.items() if k.startswith("text/")
            )
        text = ""
        for p in parts:
            if p:
                text += ("\n" if text and not text.endswith("\n") else "") + p
        out.append(text.encode("utf-8", "surrogatepass"))
    return out


_V3_TEXT = ("html", "latex", "markdown", "javascript", "json")  # nbformat 3 outputs: mime keys inline


def _text(value: object, where: str) -> str:
    """nbformat's multiline string: a string or a list of strings (None: absent)."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise NotANotebook(f"{where} is not a string or a list of strings")
