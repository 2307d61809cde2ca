"""Charts as inline SVG, written by hand: no library, no script, nothing fetched.

Each chart is sized from its data (so the number of bars is the caller's
bound, not the chart's) and every label and tooltip is escaped. Each bar
carries a ``<title>``, which a browser shows on hover and a screen reader
reads, with the exact count.
"""

from __future__ import annotations

from collections.abc import Sequence

from govgraph.http.pages.layout import esc

CHAR_WIDTH = 7.0
"""A generous average width of a 12px label's character, to size the label column."""
BAR_HEIGHT = 18
GAP = 6


def bars(items: Sequence[tuple[str, int]], *, label: str, width: int = 720, css: str = "bar") -> str:
    """Horizontal bars, one per (label, count), in the order given."""
    if not items:
        return '<p class="muted">Nothing in this window.</p>'
    labels = min(max(len(name) for name, _ in items) * CHAR_WIDTH + 12, width * 0.45)
    numbers = max(len(str(count)) for _, count in items) * CHAR_WIDTH + 12
    room = width - labels - numbers
    top = max(count for _, count in items) or 1
    height = len(items) * (BAR_HEIGHT + GAP) + GAP
    shapes = []
    for index, (name, count) in enumerate(items):
        y = GAP + index * (BAR_HEIGHT + GAP)
        length = max(room * count / top, 1.0)
        middle = y + BAR_HEIGHT / 2 + 4
        shapes.append(
            f'<text x="{labels - 6:.0f}" y="{middle:.0f}" text-anchor="end">{esc(name)}</text>'
            f'<rect class="{esc(css)}" x="{labels:.0f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}">'
            f"<title>{esc(name)}: {count}</title></rect>"
            f'<text x="{labels + length + 4:.1f}" y="{middle:.0f}">{count}</text>'
        )
    return (
        f'<svg role="img" aria-label="{esc(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{"".join(shapes)}</svg>'
    )


def columns(
    points: Sequence[tuple[str, int, int]], *, label: str, width: int = 960, height: int = 220
) -> str:
    """Columns over time: (period, records, of which denied), oldest first; the denied part drawn red
    at the foot of each column. The axis names the first, middle and last periods and the top count."""
    if not points:
        return '<p class="muted">Nothing in this window.</p>'
    left, bottom, top_margin = 48, 28, 12
    plot_width, plot_height = width - left - 8, height - bottom - top_margin
    top = max(records for _, records, _ in points) or 1
    step = plot_width / len(points)
    bar = min(max(step * 0.8, 1.0), 40.0)
    baseline = top_margin + plot_height
    shapes = [
        f'<line class="axis" x1="{left}" y1="{baseline}" x2="{width - 8}" y2="{baseline}"/>',
        f'<line class="axis" x1="{left}" y1="{top_margin}" x2="{left}" y2="{baseline}"/>',
        f'<text x="{left - 6}" y="{top_margin + 10}" text-anchor="end">{top}</text>',
        f'<text x="{left - 6}" y="{baseline}" text-anchor="end">0</text>',
    ]
    for index, (period, records, denied) in enumerate(points):
        if not records:
            continue  # an empty period is the gap on the axis
        x = left + index * step + (step - bar) / 2
        tall = plot_height * records / top
        low = plot_height * denied / top
        tip = f"{esc(period)}: {records} records, {denied} with a denial"
        shapes.append(
            f'<rect class="bar" x="{x:.1f}" y="{baseline - tall:.1f}" width="{bar:.1f}" height="{tall:.1f}">'
            f"<title>{tip}</title></rect>"
        )
        if denied:
            shapes.append(
                f'<rect class="denied" x="{x:.1f}" y="{baseline - low:.1f}" width="{bar:.1f}" '
                f'height="{low:.1f}"><title>{tip}</title></rect>'
            )
    for index in sorted({0, len(points) // 2, len(points) - 1}):
        x = left + index * step + step / 2
        anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
        shapes.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">{esc(points[index][0])}</text>'
        )
    return (
        f'<svg role="img" aria-label="{esc(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{"".join(shapes)}</svg>'
    )


def heat(value: int, maximum: int) -> str:
    """A cell's background for a heat table: from white (none) to the bars' blue (the most)."""
    share = value / maximum if maximum else 0.0
    return f"background:rgba(59,110,165,{0.08 + 0.72 * share:.2f})" if value else ""
