"""Charts as SVG text, drawn on the server: no script, no library, no outside request.

Exact counts (published studies, FOI tallies) are bars; noisy counts are intervals: a line
from the low to the high end of the 95% interval with a dot at the noisy count, and no mark at
all for a count too uncertain to show (its row says so in words).

Each chart carries its own text alternative (``<title>`` and ``<desc>``, referenced by
``aria-labelledby``); the page puts the same numbers in a data table beside it. Colours are
presentation attributes, not inline CSS, so a strict Content-Security-Policy allows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["TILE_COLOURS", "Bar", "Span", "Tile", "bar_chart", "interval_chart", "tile_chart"]

_BAR_COLOUR = "#1d4f91"  # 8.6:1 on white
_TEXT_COLOUR = "#111111"
_MUTED = "#595959"  # 7:1 on white
_ROW = 28
_LABEL_WIDTH = 240
_BAR_WIDTH = 300
_VALUE_WIDTH = 130


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: not shown (suppressed); drawn without a bar
    shown: str  # the text for the value, exactly as the data table shows it


def _row(index: int, bar: Bar, top: int) -> str:
    y = index * _ROW
    text_y = y + _ROW // 2 + 5
    parts = [f'<text x="{_LABEL_WIDTH - 8}" y="{text_y}" text-anchor="end" '
             f'fill="{_TEXT_COLOUR}">{escape(bar.label)}</text>']
    width = 0 if bar.value is None or top <= 0 else round(_BAR_WIDTH * max(bar.value, 0) / top)
    if width > 0:
        parts.append(f'<rect x="{_LABEL_WIDTH}" y="{y + 5}" width="{width}" '
                     f'height="{_ROW - 10}" fill="{_BAR_COLOUR}"/>')
    colour = _MUTED if bar.value is None else _TEXT_COLOUR
    parts.append(f'<text x="{_LABEL_WIDTH + width + 6}" y="{text_y}" '
                 f'fill="{colour}">{escape(bar.shown)}</text>')
    return "".join(parts)


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Markup:
    """A horizontal bar chart; ``chart_id`` must be unique on the page."""
    top = max((b.value for b in bars if b.value is not None), default=0)
    height = max(len(bars), 1) * _ROW
    width = _LABEL_WIDTH + _BAR_WIDTH + _VALUE_WIDTH
    desc = "; ".join(f"{b.label}: {b.shown}" for b in bars)
    rows = "".join(_row(i, bar, top) for i, bar in enumerate(bars))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'id="{escape(chart_id)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="system-ui, sans-serif" font-size="14" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>{rows}</svg>'
    )
    return Markup(svg)  # every piece of text above is escaped


@dataclass(frozen=True)
class Span:
    label: str
    estimate: int | None  # None: too uncertain to show; drawn without a mark
    low: int
    high: int
    shown: str  # the row's text, as the data table gives it
    group: str = ""  # rows of one group (e.g. a period) follow a heading row with this text


_SPAN_LABEL_WIDTH = 320
_SPAN_WIDTH = 300
_SPAN_TEXT_WIDTH = 340
_LINE_CHARS = 44  # a label longer than this (at 14px, about 7px a character) is wrapped


def _label(text: str, x: int, y: int) -> str:
    """The row's label, right-aligned at ``x``; long labels on two smaller lines."""
    if len(text) <= _LINE_CHARS:
        return (f'<text x="{x}" y="{y + 5}" text-anchor="end" fill="{_TEXT_COLOUR}">'
                f"{escape(text)}</text>")
    cut = text.rfind(" ", 0, len(text) // 2 + 8)
    cut = cut if cut > 0 else len(text) // 2
    first, second = text[:cut], text[cut:].strip()
    return (f'<text x="{x}" y="{y - 1}" text-anchor="end" font-size="12" '
            f'fill="{_TEXT_COLOUR}"><tspan x="{x}">{escape(first)}</tspan>'
            f'<tspan x="{x}" dy="13">{escape(second)}</tspan></text>')


def _span_row(y: int, span: Span, top: int) -> str:
    mid = y + _ROW // 2
    parts = [_label(span.label, _SPAN_LABEL_WIDTH - 8, mid)]
    end = _SPAN_LABEL_WIDTH + _SPAN_WIDTH
    if span.estimate is not None and top > 0:
        def x(value: int) -> int:
            return _SPAN_LABEL_WIDTH + round(_SPAN_WIDTH * max(value, 0) / top)

        low, high, dot = x(span.low), x(span.high), x(span.estimate)
        parts.append(
            f'<g class="interval" stroke="{_BAR_COLOUR}" stroke-width="3">'
            f'<line x1="{low}" y1="{mid}" x2="{high}" y2="{mid}"/>'
            f'<line x1="{low}" y1="{mid - 7}" x2="{low}" y2="{mid + 7}"/>'
            f'<line x1="{high}" y1="{mid - 7}" x2="{high}" y2="{mid + 7}"/></g>'
            f'<circle cx="{dot}" cy="{mid}" r="5" fill="{_BAR_COLOUR}"/>')
        colour = _TEXT_COLOUR
    else:
        colour = _MUTED
    parts.append(f'<text x="{end + 10}" y="{mid + 5}" fill="{colour}">'
                 f"{escape(span.shown)}</text>")
    return "".join(parts)


def interval_chart(chart_id: str, title: str, spans: Sequence[Span]) -> Markup:
    """Each noisy count as its 95% interval with a dot at the count, on one scale from 0;
    rows too uncertain to show are named in words and get no mark."""
    top = max((s.high for s in spans if s.estimate is not None), default=0)
    rows: list[str] = []
    y, group = 0, ""
    for span in spans:
        if span.group and span.group != group:
            group = span.group
            rows.append(f'<text x="0" y="{y + _ROW // 2 + 5}" font-weight="bold" '
                        f'fill="{_TEXT_COLOUR}">{escape(group)}</text>')
            y += _ROW
        rows.append(_span_row(y, span, top))
        y += _ROW
    height = max(y, _ROW)
    width = _SPAN_LABEL_WIDTH + _SPAN_WIDTH + _SPAN_TEXT_WIDTH
    desc = "; ".join(f"{s.group + ': ' if s.group else ''}{s.label}: {s.shown}" for s in spans)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart intervals" role="img" '
        f'id="{escape(chart_id)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="system-ui, sans-serif" font-size="14" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>{"".join(rows)}</svg>'
    )
    return Markup(svg)  # every piece of text above is escaped


@dataclass(frozen=True)
class Tile:
    label: str  # short, fits a tile
    group: str  # tiles are laid out group by group (e.g. by country)
    kind: str  # a key of TILE_COLOURS


#: (fill, text) per kind; each text colour has at least 4.5:1 contrast on its fill.
TILE_COLOURS: dict[str, tuple[str, str]] = {
    "shares": ("#a4161a", "#ffffff"),
    "does_not_share": ("#1b6e3a", "#ffffff"),
    "unclear": ("#6b5200", "#ffffff"),
    "refused": ("#5a2d82", "#ffffff"),
    "no_answer": ("#3b3b3b", "#ffffff"),
    "waiting": ("#e8e8e8", "#111111"),
    "not_asked": ("#ffffff", "#111111"),
    "not_published": ("#ffffff", "#111111"),
}
_TILE_W, _TILE_H, _TILE_GAP, _TILE_COLUMNS = 118, 40, 4, 8


def _tile(x: int, y: int, tile: Tile) -> str:
    fill, ink = TILE_COLOURS.get(tile.kind, TILE_COLOURS["not_published"])
    return (f'<rect x="{x}" y="{y}" width="{_TILE_W}" height="{_TILE_H}" fill="{fill}" '
            f'stroke="#595959"/><text x="{x + _TILE_W // 2}" y="{y + _TILE_H // 2 + 4}" '
            f'text-anchor="middle" font-size="11" fill="{ink}">{escape(tile.label)}</text>')


def tile_chart(chart_id: str, title: str, tiles: Sequence[Tile],
               legend: Sequence[tuple[str, str, int]]) -> Markup:
    """One tile per item, coloured by its kind, laid out group by group under each group's
    name, below a legend of (kind, words, count). The text alternative names every tile."""
    parts: list[str] = []
    y = 0
    for kind, text, count in legend:
        fill, _ink = TILE_COLOURS.get(kind, TILE_COLOURS["not_published"])
        parts.append(f'<rect x="0" y="{y + 4}" width="18" height="18" fill="{fill}" '
                     f'stroke="#595959"/><text x="26" y="{y + 18}" fill="{_TEXT_COLOUR}">'
                     f"{escape(text)}: {count}</text>")
        y += 26
    y += 10
    groups: dict[str, list[Tile]] = {}
    for tile in tiles:
        groups.setdefault(tile.group, []).append(tile)
    for group, members in groups.items():
        parts.append(f'<text x="0" y="{y + 16}" font-weight="bold" fill="{_TEXT_COLOUR}">'
                     f"{escape(group)}</text>")
        y += 24
        for number, tile in enumerate(members):
            column, row = number % _TILE_COLUMNS, number // _TILE_COLUMNS
            parts.append(_tile(column * (_TILE_W + _TILE_GAP),
                               y + row * (_TILE_H + _TILE_GAP), tile))
        y += ((len(members) - 1) // _TILE_COLUMNS + 1) * (_TILE_H + _TILE_GAP) + 8
    width = _TILE_COLUMNS * (_TILE_W + _TILE_GAP)
    names = {kind: text for kind, text, _count in legend}
    desc = "; ".join(f"{tile.label}: {names.get(tile.kind, tile.kind)}" for tile in tiles)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart tiles" role="img" '
        f'id="{escape(chart_id)}" viewBox="0 0 {width} {y}" width="{width}" height="{y}" '
        f'font-family="system-ui, sans-serif" font-size="14" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>{"".join(parts)}</svg>'
    )
    return Markup(svg)  # every piece of text above is escaped
