"""HTML report of a run (``report.html``): one self-contained file.

The HTML is made from the Markdown report of :mod:`lio_validate.report`, so both
files carry the same tables, readings and warnings. Figures are embedded as base64
data URIs (SVG when available, else PNG), so the file opens in any browser without
the ``figures/`` folder next to it and without a network connection. The page has
no scripts and loads nothing from outside.

The converter reads only the Markdown subset that :mod:`lio_validate.report`
writes: ``#`` and ``##`` headings, paragraphs, pipe tables with an alignment row,
``-`` lists, fenced code blocks, images, links, ``*emphasis*`` and backslash escapes.
It is not a general Markdown parser.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

__all__ = ["markdown_to_html", "render_report_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  sans-serif; color: #1a1a1a; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
  line-height: 1.5; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
nav ul { columns: 2; font-size: 0.95rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; }
th { border-bottom: 2px solid #1a1a1a; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f5f5f5; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; }
""".strip()

_SCREEN_SCALE = 1.4
_FENCE = re.compile(r"^(`{3,})\s*$")
_IMAGE = re.compile(r"^!\[(?P<alt>(?:\\.|[^\]\\])*)\]\((?P<src>[^)\s]+)\)$")


# --------------------------------------------------------------------------------------
# Inline text


def _inline(text: str) -> str:
    """Convert inline Markdown (escapes, emphasis, links) to escaped HTML."""
    parts: list[str] = []
    emphasis = False
    index = 0
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text):
            parts.append(html.escape(text[index + 1]))
            index += 2
            continue
        if character == "*":
            parts.append("</em>" if emphasis else "<em>")
            emphasis = not emphasis
            index += 1
            continue
        if character == "[":
            link = re.match(r"\[((?:\\.|[^\]\\])*)\]\(([^)\s]+)\)", text[index:])
            if link:
                label = _inline(link.group(1))
                href = html.escape(link.group(2), quote=True)
                parts.append(f'<a href="{href}">{label}</a>')
                index += link.end()
                continue
        parts.append(html.escape(character))
        index += 1
    if emphasis:
        parts.append("</em>")
    return "".join(parts)


def _unescape(text: str) -> str:
    """Remove Markdown backslash escapes, for attributes such as alt texts."""
    return re.sub(r"\\(.)", r"\1", text)


def _anchor(text: str, used: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", _unescape(text).lower()).strip("-") or "section"
    anchor, number = slug, 2
    while anchor in used:
        anchor, number = f"{slug}-{number}", number + 1
    used.add(anchor)
    return anchor


# --------------------------------------------------------------------------------------
# Blocks


def _split_row(line: str) -> list[str]:
    """Split a pipe-table row into cells, keeping escaped pipes inside cells."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells, current, index = [], "", 0
    while index < len(body):
        if body[index] == "\\" and index + 1 < len(body):
            current += body[index : index + 2]
            index += 2
            continue
        if body[index] == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += body[index]
        index += 1
    cells.append(current.strip())
    return cells


def _table_html(lines: list[str]) -> str:
    header = _split_row(lines[0])
    numeric = [cell.endswith(":") for cell in _split_row(lines[1])]
    numeric += [False] * (len(header) - len(numeric))

    def row_html(cells: list[str], tag: str) -> str:
        items = []
        for cell, is_number in zip(cells, numeric):
            kind = ' class="number"' if is_number else ""
            items.append(f"<{tag}{kind}>{_inline(cell)}</{tag}>")
        return "<tr>" + "".join(items) + "</tr>"

    body = [row_html(_split_row(line), "td") for line in lines[2:]]
    return (
        "<table>\n<thead>"
        + row_html(header, "th")
        + "</thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def _figure_html(
    alt: str,
    src: str,
    images: Mapping[str, str],
    widths: Mapping[str, float],
    caption: str,
) -> str:
    """Embed a figure by its data URI, or keep the relative link when none exists."""
    stem = Path(src).stem
    source = images.get(stem, src)
    text = html.escape(_unescape(alt), quote=True)
    width = f' width="{round(widths[stem])}"' if stem in widths else ""
    return (
        f'<figure><img src="{html.escape(source, quote=True)}" alt="{text}"{width}>'
        f"{caption}</figure>"
    )


def _split_blocks(lines: list[str]) -> list[list[str]]:
    """Split Markdown lines into blocks: a fenced code block with its fences, a
    heading line, or the lines up to the next blank line."""
    blocks: list[list[str]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if not line.strip():
            index += 1
        elif fence:
            end = index + 1
            while end < len(lines) and lines[end].strip() != fence.group(1):
                end += 1
            blocks.append(lines[index : end + 1])
            index = end + 1
        elif line.startswith("#"):
            blocks.append([line])
            index += 1
        else:
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            blocks.append(lines[index:end])
            index = end
    return blocks


def markdown_to_html(
    markdown: str,
    images: Mapping[str, str] | None = None,
    widths: Mapping[str, float] | None = None,
) -> str:
    """Convert the report's Markdown to the body of an HTML page.

    Parameters
    ----------
    markdown : str
        Text written by :func:`lio_validate.report.render_report_markdown`.
    images : mapping of str to str, optional
        Figure stem to the URI that replaces its link, usually a ``data:`` URI.
    widths : mapping of str to float, optional
        Figure stem to its display width in CSS pixels. The style sheet caps every
        image at the width of the page.

    Returns
    -------
    str
        HTML without ``<html>`` and ``<body>``: a contents list, the headings,
        paragraphs, tables, lists, code and figures. An image followed by an
        emphasised paragraph becomes a figure with that paragraph as caption.
    """
    images = images or {}
    widths = widths or {}
    blocks = _split_blocks(markdown.splitlines())
    parts: list[str] = []
    contents: list[tuple[str, str]] = []
    used: set[str] = set()
    index = 0
    while index < len(blocks):
        block = blocks[index]
        first = block[0]
        index += 1
        image = _IMAGE.match(first.strip())

        if _FENCE.match(first):
            code = html.escape("\n".join(block[1:-1]))
            parts.append(f"<pre><code>{code}</code></pre>")
        elif first.startswith("# "):
            parts.append(f"<h1>{_inline(first[2:])}</h1>")
        elif first.startswith("## "):
            anchor = _anchor(first[3:], used)
            contents.append((anchor, _inline(first[3:])))
            parts.append(f'<h2 id="{anchor}">{_inline(first[3:])}</h2>')
        elif len(block) == 1 and image:
            caption = ""
            if index < len(blocks) and blocks[index][0].startswith("*"):
                caption = f"<figcaption>{_inline(' '.join(blocks[index]))}</figcaption>"
                index += 1
            parts.append(
                _figure_html(image["alt"], image["src"], images, widths, caption)
            )
        elif len(block) >= 2 and all(row.startswith("|") for row in block):
            parts.append(_table_html(block))
        elif all(row.startswith("- ") for row in block):
            items = "\n".join(f"<li>{_inline(row[2:])}</li>" for row in block)
            parts.append(f"<ul>\n{items}\n</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(block))}</p>")

    if contents:
        entries = "\n".join(
            f'<li><a href="#{anchor}">{title}</a></li>' for anchor, title in contents
        )
        position = 1 if parts and parts[0].startswith("<h1>") else 0
        parts.insert(position, f"<nav><ul>\n{entries}\n</ul></nav>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------
# Figures and page


def _width_in_inches(data: bytes, kind: str) -> float | None:
    """Read the printed width of a saved SVG (``width="...pt"``) or PNG (pHYs)."""
    if kind == "image/svg+xml":
        match = re.search(rb'<svg[^>]*\swidth="([0-9.]+)pt"', data[:4096])
        return float(match.group(1)) / 72 if match else None

    # A PNG stores its width in the IHDR chunk and its resolution, in pixels per
    # metre, in the optional pHYs chunk.
    position = data.find(b"pHYs")
    if len(data) < 24 or position < 0 or data[position + 12] != 1:
        return None
    pixels = int.from_bytes(data[16:20], "big")
    per_metre = int.from_bytes(data[position + 4 : position + 8], "big")
    return pixels / (per_metre * 0.0254) if per_metre else None


def _figure_uri(figure: Figure) -> str:
    """Render a figure as an SVG data URI, as :func:`save_figure` writes the SVG."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "lio_validate"}):
        figure.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            pad_inches=0.04,
            metadata={"Date": None},
        )
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _file_uri(directory: Path, stem: str) -> tuple[str, float | None] | None:
    """Return a saved figure's data URI and printed width in inches, or None."""
    for suffix, kind in ((".svg", "image/svg+xml"), (".png", "image/png")):
        path = directory / f"{stem}{suffix}"
        if path.is_file():
            data = path.read_bytes()
            uri = f"data:{kind};base64," + base64.b64encode(data).decode()
            return uri, _width_in_inches(data, kind)
    return None


def render_report_html(
    markdown: str,
    *,
    figures: Mapping[str, Figure] | None = None,
    figures_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> str:
    """Render the Markdown report as one self-contained HTML page.

    Parameters
    ----------
    markdown : str
        The report from :func:`lio_validate.report.render_report_markdown`.
    figures : mapping of str to matplotlib.figure.Figure, optional
        Figures by stem, embedded as SVG. Use it before the figures are saved.
    figures_dir : str or path-like, optional
        Folder with saved figures (``<stem>.svg`` or ``<stem>.png``), read for the
        stems that ``figures`` lacks.
    title : str, optional
        Title of the page. By default the report's first heading.

    Returns
    -------
    str
        The HTML document, UTF-8 text ending with a newline. A figure found in
        neither ``figures`` nor ``figures_dir`` keeps its relative link.
    """
    images: dict[str, str] = {}
    inches: dict[str, float | None] = {}
    stems = [Path(m).stem for m in re.findall(r"^!\[.*\]\((\S+)\)$", markdown, re.M)]
    for stem in stems:
        if figures and stem in figures:
            images[stem] = _figure_uri(figures[stem])
            inches[stem] = float(figures[stem].get_size_inches()[0])
        elif figures_dir is not None:
            found = _file_uri(Path(figures_dir), stem)
            if found is not None:
                images[stem], inches[stem] = found

    # Figures are sized for print. On screen they are shown larger, at
    # _SCREEN_SCALE times 96 CSS pixels per printed inch.
    widths = {
        stem: width * 96 * _SCREEN_SCALE
        for stem, width in inches.items()
        if width is not None
    }

    if title is None:
        heading = next(
            (line[2:] for line in markdown.splitlines() if line.startswith("# ")),
            "Report",
        )
        title = _unescape(heading)
    body = markdown_to_html(markdown, images, widths)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n"
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )
