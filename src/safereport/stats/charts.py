"""Bar charts as SVG text, drawn on the server: no script, no library, no outside request.

Each chart carries its own text alternative (``<title>`` and ``<desc>``, referenced by
``aria-labelledby``); the page puts the same numbers in a data table beside it. Colours are
presentation attributes, not inline CSS, so a strict Content-Security-Policy allows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["Bar", "bar_chart"]

_BAR_COLOUR = "#1d4f91"  # 8.6:1 on white
_TEXT_COLOUR = "#111111"
_MUTED = "#595959"  # 7:1 on white
_ROW = 28
_LABEL_WIDTH = 210
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
