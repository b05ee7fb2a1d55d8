"""A demo-style news site with any number of generated articles, served on 127.0.0.1.

The text is our own: templated sentences about fictional events (no real data), grouped into
stories so the clusterer has something to join. Pages and feeds are rendered by the demo
site's own templates for its six outlets; extra feeds are the same six feeds under distinct
query strings (the registry polls URLs as written, so each counts as its own feed).

    with GeneratedSite(generate_articles(500)) as site:
        registry = site.registry_path(tmp, feeds=50)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.demo.content import DemoArticle, PageKind, load_outlets
from pipeline.demo.site import DemoSite, Resource, build_resources, write_registry

PLACES = ["Valdane", "Orrick", "Port Selm", "Maren", "Kestrel Bay", "Harlow", "Tessin", "Branmoor",
          "Edris", "Calloway", "Northgate", "Vesk", "Lindqvist", "Amberly", "Rosk", "Dunmere"]
ACTORS = ["the transport ministry", "the central bank", "the port authority", "the city council",
          "the national rail operator", "the health agency", "the energy regulator",
          "the fisheries board", "the university senate", "the water utility", "the court of appeal",
          "the farmers' union", "the teachers' federation", "the coast guard", "the weather service"]
EVENTS = ["approved a plan to rebuild", "suspended work on", "opened an inquiry into",
          "announced new funding for", "postponed a vote on", "reported record demand for",
          "signed an agreement on", "warned of delays to", "published an audit of",
          "cut the budget for"]
OBJECTS = ["the northern bridge", "the harbour terminal", "the regional hospital", "the tram line",
           "the grain silos", "the offshore wind farm", "the flood barrier", "the airport runway",
           "the public library", "the school meals programme", "the desalination plant",
           "the mountain tunnel", "the housing scheme", "the fishing quota", "the power grid"]
# Sentences are assembled from short fragments (each at most four words) so that two
# articles rarely share a five-word run: the syndication check must not see copies.
SUBJECTS = ["A spokesperson", "The deputy mayor", "Two senior officials", "An engineer on site",
            "The committee chair", "Several residents", "A union representative", "The auditor",
            "Local traders", "An opposition member", "The project director", "Independent experts",
            "A regional governor", "Hospital staff", "The finance minister", "Environmental groups"]
VERBS = ["said on Tuesday that", "warned late on Friday that", "told reporters that",
         "confirmed in writing that", "argued at a hearing that", "wrote in a letter that",
         "insisted again that", "admitted privately that", "claimed without evidence that",
         "stated firmly that", "suggested cautiously that", "repeated yesterday that"]
CLAIMS = ["costs had risen", "the timetable slipped", "funding remained uncertain",
          "demand kept growing", "safety checks were incomplete", "contracts were signed",
          "consultations would continue", "a review was overdue", "staff numbers fell",
          "prices would climb", "the deadline held", "inspections found faults"]
AMOUNTS = ["by {n} percent", "for {n} weeks", "across {n} districts", "after {n} complaints",
           "despite {n} objections", "with {n} new hires", "over {n} kilometres",
           "within {n} days", "by {n} million crowns", "among {n} households"]


def _sentence(rng: random.Random) -> str:
    amount = rng.choice(AMOUNTS).format(n=rng.randint(2, 990))
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(CLAIMS)} {amount}."


def _paragraph(rng: random.Random, place: str, actor: str, event: str, obj: str) -> str:
    return " ".join([f"In {place}, {actor} {event} {obj}."] + [_sentence(rng) for _ in range(3)])


def generate_articles(count: int, *, stories: int | None = None, seed: int = 8,
                      start: datetime = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)) -> list[DemoArticle]:
    """``count`` articles over the demo outlets, about ``count // 10`` stories, oldest first."""
    rng = random.Random(seed)
    outlets = load_outlets()
    story_count = stories or max(1, count // 10)
    plots = [(rng.choice(PLACES), rng.choice(ACTORS), rng.choice(EVENTS), rng.choice(OBJECTS))
             for _ in range(story_count)]
    articles = []
    for number in range(count):
        story = number % story_count
        place, actor, event, obj = plots[story]
        outlet = outlets[number % len(outlets)]
        published = start + timedelta(minutes=7 * number)
        title = f"{place}: {actor[0].upper()}{actor[1:]} {event} {obj} ({number})"
        body = tuple(_paragraph(rng, place, actor, event, obj) for _ in range(7))
        path = f"/{outlet.slug}/{published:%Y/%m/%d}/generated-{number:05d}.html"
        articles.append(DemoArticle(
            key=f"{outlet.slug}/generated-{number:05d}", outlet=outlet.slug, kind=PageKind.ARTICLE,
            path=path, canonical_path=path, title=title, title_html=title, has_title_markup=False,
            published=published, updated=None, author="Staff reporter", section="News",
            story=f"story-{story}", topic=f"topic-{story}", summary=body[0][:200], body=body,
            guid=None, feed_date=True, tracking=False, paywalled=False, syndicated_of=None,
            duplicate_of=None,
        ))
    return articles


class GeneratedSite(DemoSite):
    """The demo server and templates, serving generated articles; ``release`` publishes more."""

    def __init__(self, articles: Sequence[DemoArticle], *, hidden: Iterable[str] = ()):
        self._generated = list(articles)
        self._hidden = set(hidden)
        super().__init__()

    def _build(self) -> dict[str, Resource]:
        visible = [a for a in self._generated if a.key not in self._hidden]
        return build_resources(self.base_url, visible, self._feed_updated)

    def release(self, keys: Iterable[str]) -> None:
        """Publish hidden articles: their feeds change (new body and ETag) and pages answer."""
        with self._lock:
            self._hidden -= set(keys)
            self._resources = self._build()

    def registry_path(self, directory: Path | str, feeds: int = 6) -> Path:  # type: ignore[override]
        """A registry of ``feeds`` feed URLs, cycling over the six outlets' feeds."""
        return write_registry(directory, (
            {"name": f"{outlet.name} #{number}", "url": self.url(outlet.feed_path) + f"?copy={number}",
             "language": outlet.language}
            for number, outlet in zip(range(feeds), itertools.cycle(load_outlets()))
        ))
