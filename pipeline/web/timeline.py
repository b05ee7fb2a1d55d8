"""The coverage timeline: articles per hour by source, laid out for an inline SVG.

One lane per source; one dot per (source, hour) whose area grows with the number of articles
in that hour. Syndicated copies are drawn hollow and new articles get a ring, so the shape of
a story (who broke it, who followed, when it flared up) reads at a glance. Only geometry is
computed here; the template draws it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WIDTH = 960
LABEL_WIDTH = 170
RIGHT_PAD = 24
LANE_HEIGHT = 34
AXIS_HEIGHT = 28
TOP_PAD = 10
MIN_RADIUS = 4.5
MAX_TICKS = 9
# Colour-blind-friendly (Okabe–Ito based), dark enough for white text on chips.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#444444")


@dataclass(frozen=True)
class Lane:
    source: str
    y: float
    color: str
    count: int


@dataclass(frozen=True)
class Dot:
    cx: float
    cy: float
    r: float
    color: str
    count: int
    hour: str
    source: str
    syndicated_only: bool
    new: bool


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    plot_left: int
    plot_right: int
    axis_y: float
    lanes: list[Lane]
    dots: list[Dot]
    ticks: list[Tick]
    summary: str


def source_colors(sources: Iterable[str]) -> dict[str, str]:
    """A stable colour per source (sorted by name), shared by the chart and the list chips."""
    return {source: PALETTE[i % len(PALETTE)] for i, source in enumerate(sorted(set(sources)))}


def parse_time(value: object) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ticks(start: datetime, end: datetime, scale) -> list[Tick]:
    span_hours = max((end - start).total_seconds() / 3600, 1)
    if span_hours <= 48:
        step = timedelta(hours=max(1, math.ceil(span_hours / MAX_TICKS)))
        first = start.replace(minute=0, second=0, microsecond=0)
        label = "%H:%M"
    else:
        step = timedelta(days=max(1, math.ceil(span_hours / 24 / MAX_TICKS)))
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
        label = "%b %d"
    ticks, moment = [], first
    while moment <= end:
        if moment >= start:
            ticks.append(Tick(scale(moment), moment.strftime(label)))
        moment += step
    return ticks


def build_timeline(articles: Sequence[Mapping[str, object]], colors: Mapping[str, str]) -> Timeline | None:
    """The chart for these articles (needs ``published_at``, ``source``, ``syndicated`` and an
    optional ``new`` flag); None when no article has a publication time."""
    dated = [(parse_time(a.get("published_at")), a) for a in articles]
    dated = [(moment, a) for moment, a in dated if moment is not None]
    if not dated:
        return None
    sources = sorted({str(a.get("source") or "unknown") for _, a in dated})
    buckets: dict[tuple[str, datetime], list[Mapping[str, object]]] = defaultdict(list)
    for moment, article in dated:
        hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        buckets[(str(article.get("source") or "unknown"), hour)].append(article)

    hours = [hour for _, hour in buckets]
    # Half an hour of margin each side keeps the edge dots inside the plot.
    start, end = min(hours) - timedelta(minutes=30), max(hours) + timedelta(minutes=90)
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_PAD
    seconds = (end - start).total_seconds()

    def scale(moment: datetime) -> float:
        return round(plot_left + (moment - start).total_seconds() / seconds * (plot_right - plot_left), 1)

    lane_y = {source: TOP_PAD + LANE_HEIGHT * (i + 0.5) for i, source in enumerate(sources)}
    per_source = defaultdict(int)
    for (source, _), members in buckets.items():
        per_source[source] += len(members)
    lanes = [Lane(s, lane_y[s], colors.get(s, PALETTE[-1]), per_source[s]) for s in sources]
    most = max(len(members) for members in buckets.values())
    max_radius = LANE_HEIGHT / 2 - 2
    dots = [
        Dot(
            cx=scale(hour + timedelta(minutes=30)),
            cy=lane_y[source],
            r=round(MIN_RADIUS + (max_radius - MIN_RADIUS) * math.sqrt((len(members) - 1) / max(most - 1, 1)), 1),
            color=colors.get(source, PALETTE[-1]),
            count=len(members),
            hour=hour.strftime("%Y-%m-%d %H:00 UTC"),
            source=source,
            syndicated_only=all(bool(m.get("syndicated")) for m in members),
            new=any(bool(m.get("new")) for m in members),
        )
        for (source, hour), members in sorted(buckets.items(), key=lambda item: item[0][1])
    ]
    axis_y = TOP_PAD + LANE_HEIGHT * len(sources) + 4
    summary = (
        f"{len(dated)} articles from {len(sources)} sources between "
        f"{min(hours):%b %d %H:00} and {max(hours):%b %d %H:00} UTC"
    )
    return Timeline(
        width=WIDTH,
        height=int(axis_y + AXIS_HEIGHT),
        plot_left=plot_left,
        plot_right=plot_right,
        axis_y=axis_y,
        lanes=lanes,
        dots=dots,
        ticks=_ticks(start, end, scale),
        summary=summary,
    )
