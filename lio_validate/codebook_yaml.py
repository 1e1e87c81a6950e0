"""Write codebooks as YAML that a researcher can read and edit.

:func:`dump_codebook` writes a nested mapping in block style with comments
above chosen keys. PyYAML's own emitter cannot write comments, and a
starting codebook needs them to say what to check. Lists of names are
written in flow style (``[aut1, aut2]``) so that a scale fits on one line.
Strings are quoted whenever YAML would read them as something else.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump_codebook"]

# Plain (unquoted) strings: letters, digits and a few inner punctuation marks,
# starting with a letter. Anything else is quoted.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ .'()/+-]*")
# Words that YAML 1.1 (PyYAML) reads as booleans or null.
_RESERVED = {
    "y",
    "n",
    "yes",
    "no",
    "true",
    "false",
    "on",
    "off",
    "null",
    "none",
    "~",
}

Path = tuple[str, ...]

_WIDTH = 88


def dump_codebook(
    document: Mapping[str, Any],
    *,
    header: Sequence[str] = (),
    comments: Mapping[Path, Sequence[str]] | None = None,
) -> str:
    """Return ``document`` as YAML text with comment lines.

    Parameters
    ----------
    document : mapping
        Nested mappings, lists and scalars (str, int, float, bool, None).
    header : sequence of str
        Comment lines at the top of the file, without the ``#``.
    comments : mapping of {tuple of str: sequence of str}, optional
        Comment lines to write above the key at that path, such as
        ``("scales", "autonomy")``.

    Returns
    -------
    str
        YAML that :func:`yaml.safe_load` reads back as ``document``.
    """
    lines = [f"# {line}".rstrip() for line in header]
    if lines:
        lines.append("")
    _write_mapping(document, (), 0, lines, comments or {})
    return "\n".join(lines) + "\n"


def _write_mapping(
    mapping: Mapping[Any, Any],
    path: Path,
    indent: int,
    lines: list[str],
    comments: Mapping[Path, Sequence[str]],
) -> None:
    pad = " " * indent
    previous_was_block = False
    for key, value in mapping.items():
        key_path = (*path, str(key))
        notes = comments.get(key_path, ())
        is_block = isinstance(value, Mapping) and bool(value)
        # Top-level sections are set apart by a blank line.
        if (
            indent == 0
            and lines
            and lines[-1]
            and (is_block or notes or previous_was_block)
        ):
            lines.append("")
        previous_was_block = is_block
        text = " ".join(notes)
        for line in textwrap.wrap(text, width=_WIDTH - indent - 2):
            lines.append(f"{pad}# {line}")

        head = f"{pad}{_scalar(key)}:"
        if isinstance(value, Mapping):
            if not value:
                lines.append(f"{head} {{}}")
                continue
            lines.append(head)
            _write_mapping(value, key_path, indent + 2, lines, comments)
        elif isinstance(value, list | tuple):
            lines.append(f"{head} {_flow_list(value)}")
        else:
            lines.append(f"{head} {_scalar(value)}")


def _flow_list(values: Sequence[Any]) -> str:
    parts = []
    for value in values:
        if isinstance(value, Mapping):
            inner = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items())
            parts.append(f"{{{inner}}}")
        else:
            parts.append(_scalar(value))
    return f"[{', '.join(parts)}]"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value!r} as a code")
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if (
        _PLAIN.fullmatch(text)
        and text.lower() not in _RESERVED
        and text == text.strip()
    ):
        return text
    return json.dumps(text, ensure_ascii=False)
