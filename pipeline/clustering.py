"""Online story clustering: articles arrive one at a time and either join a story or start one.

For each article the clusterer asks a :class:`CentroidIndex` for the k nearest *active* story
centroids (so the work per article does not grow with the number of stories), scores each
candidate and joins the best one that passes the rule, else starts a new story:

* ``similarity`` = cosine(article, story centroid) minus a time-decay penalty when both sides
  have dates (a week-old story needs a closer match than one from this morning);
* ``background`` = ``background_weight`` x the mean cosine of the *other* candidates: in a
  dense beat (politics, where every story looks alike) the best story must stand out, while
  in a sparse one (coarse topics) a moderate match is enough. This relative threshold is what
  lets one configuration serve corpora whose absolute thresholds differ widely;
* ``term overlap`` = cosine of the article's key terms (capitalised words and numbers: a cheap
  stand-in for named entities) with the story's, weighted by rarity;
* join the best candidate when ``similarity - background + term_weight * overlap`` reaches
  ``join_threshold``, else start a new story.

Stories go dormant after ``dormant_after`` without a new article; dormant stories are no longer
candidates. :meth:`OnlineClusterer.merge_pass` joins stories whose centroids converged and
records the lineage. Syndicated copies join their original's story without moving its centroid.

All state lives in plain dataclasses (:class:`StoryState`, :class:`ClustererState`) so the
caller can persist it and resume the stream later with the same result.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import numpy as np

from pipeline.records import STORYLINE_NAMESPACE


class StoryStatus(StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"
    MERGED = "merged"


class JoinRule(StrEnum):
    NEW_STORY = "new_story"
    SIMILARITY = "similarity"  # joined on the vector match alone
    TERMS = "similarity+terms"  # the vector match needed the shared key terms to pass
    SYNDICATED = "syndicated"  # a copy of an article already in the story


@dataclass(frozen=True)
class ClusterConfig:
    """One configuration for every corpus (tuned on the five labelled sets, see bench/)."""

    candidates: int = 10
    join_threshold: float = 0.40
    #: 0 in the tuned configuration: every weight > 0 lost BCubed F1 on allsides-neus (shared
    #: names like Trump are everywhere in politics); the overlap is still computed and recorded.
    term_weight: float = 0.0
    #: Share of the mean cosine of the other candidates subtracted from each score.
    background_weight: float = 0.6
    #: Similarity lost per day between the article and the story's latest article.
    decay_per_day: float = 0.01
    #: Days after which the decay stops growing (the window check below takes over).
    decay_cap_days: float = 10.0
    dormant_after: timedelta = timedelta(days=7)
    merge_threshold: float = 0.85
    #: Run the merge pass automatically after this many articles (0: only when called).
    merge_every: int = 50
    #: Most frequent key terms kept per story (bounded state).
    max_story_terms: int = 64
    #: Characters of the body (after the title) scanned for key terms.
    term_chars: int = 1500


@dataclass
class MergeRecord:
    merged_into: str
    at: datetime | None
    score: float


@dataclass
class StoryState:
    """A story as the clusterer keeps it; persist it as is and hand it back to resume."""

    id: str
    centroid_sum: np.ndarray
    count: int  # articles whose vectors are in centroid_sum (syndicated copies are not)
    label: str
    first_seen: datetime | None
    last_seen: datetime | None
    size: int  # every article, syndicated copies included
    sources: set[str] = field(default_factory=set)
    independent_sources: set[str] = field(default_factory=set)
    state: StoryStatus = StoryStatus.ACTIVE
    terms: Counter[str] = field(default_factory=Counter)
    merge: MergeRecord | None = None

    @property
    def centroid(self) -> np.ndarray:
        norm = float(np.linalg.norm(self.centroid_sum))
        return self.centroid_sum / norm if norm > 0 else self.centroid_sum


class CentroidIndex(Protocol):
    """Nearest-centroid search over the stories that can still take articles.

    ``nearest`` returns up to ``k`` ``(story_id, cosine)`` pairs, best first, among stories
    whose ``last_seen`` is at or after ``active_after`` (all stories when it is ``None``;
    stories without a date always qualify). ``upsert`` stores or refreshes a story's
    normalised centroid and ``last_seen``; ``get`` returns what ``upsert`` stored;
    ``remove`` forgets a story (dormant or merged). Implementations: :class:`NumpyCentroidIndex`
    here (exact, in memory) and a Qdrant-backed one for persistent deployments.
    """

    def nearest(
        self, vector: np.ndarray, k: int, active_after: datetime | None = None
    ) -> list[tuple[str, float]]: ...

    def upsert(self, story: StoryState) -> None: ...

    def get(self, story_id: str) -> StoryState | None: ...

    def remove(self, story_id: str) -> None: ...


class NumpyCentroidIndex:
    """Exact cosine search with one matrix product; rows freed by removals are reused."""

    def __init__(self, dimension: int, capacity: int = 64):
        self._matrix = np.zeros((capacity, dimension), dtype=np.float32)
        self._last_seen = np.zeros(capacity)  # epoch seconds; +inf: undated, always active
        self._live = np.zeros(capacity, dtype=bool)
        self._ids: list[str | None] = [None] * capacity
        self._used = 0  # rows handed out so far (live or freed)
        self._free: list[int] = []
        self._row_of: dict[str, int] = {}
        self._stories: dict[str, StoryState] = {}

    def __len__(self) -> int:
        return len(self._row_of)

    def upsert(self, story: StoryState) -> None:
        row = self._row_of.get(story.id)
        if row is None:
            row = self._free.pop() if self._free else self._new_row()
            self._row_of[story.id] = row
            self._ids[row] = story.id
        self._matrix[row] = story.centroid
        self._last_seen[row] = story.last_seen.timestamp() if story.last_seen else np.inf
        self._live[row] = True
        self._stories[story.id] = story

    def get(self, story_id: str) -> StoryState | None:
        return self._stories.get(story_id)

    def remove(self, story_id: str) -> None:
        row = self._row_of.pop(story_id, None)
        if row is None:
            return
        self._live[row] = False
        self._ids[row] = None
        del self._stories[story_id]
        self._free.append(row)

    def nearest(
        self, vector: np.ndarray, k: int, active_after: datetime | None = None
    ) -> list[tuple[str, float]]:
        mask = self._live[: self._used]
        if active_after is not None:
            mask = mask & (self._last_seen[: self._used] >= active_after.timestamp())
        live = int(mask.sum())
        if live == 0 or k <= 0:
            return []
        # Score every used row in place (copying the live rows cost more than the product at
        # 100k stories), then rank only the top k; ties resolve by row, so results reproduce.
        scores = self._matrix[: self._used] @ np.asarray(vector, dtype=np.float32)
        scores[~mask] = -np.inf
        k = min(k, live)
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        top = top[np.lexsort((top, -scores[top]))][:k]
        return [(self._ids[row], float(scores[row])) for row in top]  # type: ignore[misc]

    def _new_row(self) -> int:
        if self._used == len(self._ids):
            grow = len(self._ids)
            self._matrix = np.vstack([self._matrix, np.zeros_like(self._matrix)])
            self._last_seen = np.concatenate([self._last_seen, np.zeros(grow)])
            self._live = np.concatenate([self._live, np.zeros(grow, dtype=bool)])
            self._ids.extend([None] * grow)
        self._used += 1
        return self._used - 1


# --- key terms: capitalised words and numbers, a cheap stand-in for named entities ----------

_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")
_TOKEN = re.compile(r"[^\W\d_][\w'’&.-]*[^\W_]|[^\W\d_]|\d[\d,.]*\d|\d")
# Capitalised words that name no event: function words (title case capitalises them), days,
# months, honorifics and reporting verbs.
_NOT_TERMS = frozenset(
    [
        "a",
        "about",
        "after",
        "against",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "last",
        "more",
        "most",
        "my",
        "new",
        "no",
        "not",
        "now",
        "of",
        "on",
        "one",
        "or",
        "our",
        "out",
        "over",
        "says",
        "said",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "two",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "mr",
        "mrs",
        "ms",
        "dr",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "today",
        "yesterday",
        "tomorrow",
        "week",
        "year",
        "years",
    ]
)


def key_terms(title: str, text: str, body_chars: int = ClusterConfig.term_chars) -> frozenset[str]:
    """Lower-cased capitalised words (not sentence-initial) and numbers of the title and lead.

    A title is often in title case, so its words count wherever they stand; in the body the
    first word of a sentence is capitalised by grammar, not because it is a name.
    """
    terms: set[str] = set()
    for part, skip_initial in ((title, False), (text[:body_chars], True)):
        for sentence in _SENTENCE_END.split(part):
            for position, token in enumerate(_TOKEN.findall(sentence)):
                if token[0].isdigit():
                    terms.add(token.replace(",", "").rstrip("."))
                elif token[0].isupper() and not (skip_initial and position == 0):
                    term = token.rstrip(".").lower().removesuffix("'s").removesuffix("’s")
                    if term not in _NOT_TERMS:
                        terms.add(term)
    return frozenset(terms)


# --- the clusterer ---


@dataclass(frozen=True)
class ClusterItem:
    """One article as the clusterer sees it: its vector (normalised) and what the rule reads."""

    id: str
    vector: np.ndarray
    title: str
    text: str = ""
    published_at: datetime | None = None
    source: str | None = None
    syndicated_of: str | None = None


@dataclass(frozen=True)
class Assignment:
    """Why an article landed in its story (stored with the article as its explanation)."""

    article_id: str
    story_id: str
    rule: JoinRule
    score: float  # similarity + term_weight * overlap (0 for a new story)
    similarity: float  # cosine to the centroid after the time decay
    term_overlap: float
    time_gap: timedelta | None  # article date minus the story's latest article date


@dataclass
class ClustererState:
    """Everything the clusterer needs to resume a stream: persist it between runs."""

    stories: dict[str, StoryState] = field(default_factory=dict)
    article_story: dict[str, str] = field(default_factory=dict)
    #: Articles per key term, for the rarity weights of the term overlap.
    term_counts: Counter[str] = field(default_factory=Counter)
    articles_seen: int = 0
    since_merge: int = 0
    #: Stories changed since the last merge pass (the only ones it needs to look at).
    touched: set[str] = field(default_factory=set)
    #: Latest publication date seen: the stream's clock for dormancy (never the wall clock).
    clock: datetime | None = None


def story_id_for(first_article_id: str) -> str:
    """Stable story id: the same first article gives the same story on every run."""
    return str(uuid.uuid5(STORYLINE_NAMESPACE, f"story:{first_article_id}"))


class OnlineClusterer:
    def __init__(
        self,
        index: CentroidIndex,
        config: ClusterConfig | None = None,
        state: ClustererState | None = None,
    ):
        """Start a stream, or resume one from a persisted ``state``.

        On resume every active story is upserted into ``index`` (idempotent, so an index that
        was persisted alongside the state is fine too).
        """
        self.config = config or ClusterConfig()
        self.index = index
        self.state = state or ClustererState()
        for story in self.state.stories.values():
            if story.state is StoryStatus.ACTIVE:
                index.upsert(story)

    # -- public API --

    def add(self, item: ClusterItem) -> Assignment:
        state = self.state
        if item.published_at is not None and (
            state.clock is None or item.published_at > state.clock
        ):
            state.clock = item.published_at
        terms = key_terms(item.title, item.text, self.config.term_chars)
        assignment = self._syndicated(item) or self._best_story(item, terms)
        if assignment is None:
            assignment = self._start_story(item, terms)
        else:
            self._join(assignment, item, terms)
        state.article_story[item.id] = assignment.story_id
        state.touched.add(assignment.story_id)
        state.articles_seen += 1
        state.term_counts.update(terms)
        state.since_merge += 1
        if self.config.merge_every and state.since_merge >= self.config.merge_every:
            self.merge_pass()
        return assignment

    def story_of(self, article_id: str) -> str | None:
        """The story an article belongs to now (following merges)."""
        story_id = self.state.article_story.get(article_id)
        return None if story_id is None else self.resolve_story(story_id)

    def merge_pass(self) -> list[tuple[str, MergeRecord]]:
        """Retire quiet stories, then merge touched stories whose centroids converged.

        The smaller story (fewer articles; on a tie the younger one) is merged into the other,
        which keeps its id, so story ids already shown to users survive.
        """
        state = self.state
        state.since_merge = 0
        self._retire_quiet_stories()
        merges: list[tuple[str, MergeRecord]] = []
        for story_id in sorted(state.touched):
            story = state.stories[story_id]
            if story.state is not StoryStatus.ACTIVE:
                continue
            best = self._merge_partner(story)
            if best is None:
                continue
            other, score = best
            keep, gone = sorted((story, other), key=_survivor_order)
            record = MergeRecord(merged_into=keep.id, at=state.clock, score=score)
            self._absorb(keep, gone, record)
            merges.append((gone.id, record))
        state.touched.clear()
        return merges

    # -- rule --

    def _syndicated(self, item: ClusterItem) -> Assignment | None:
        if item.syndicated_of is None:
            return None
        story_id = self.story_of(item.syndicated_of)
        if story_id is None:
            return None
        story = self.state.stories[story_id]
        return Assignment(
            item.id, story_id, JoinRule.SYNDICATED, 1.0, 1.0, 1.0, _gap(item.published_at, story)
        )

    def _best_story(self, item: ClusterItem, terms: frozenset[str]) -> Assignment | None:
        config = self.config
        best: Assignment | None = None
        found = self.index.nearest(item.vector, config.candidates, self._active_after())
        # How close the article is to stories in general: in a dense news beat (politics)
        # every story looks similar, so the best one must stand out from the rest.
        background = config.background_weight * _mean_cosine(found[1:])
        for story_id, cosine in found:
            story = self.state.stories[story_id]
            gap = _gap(item.published_at, story)
            similarity = cosine - self._decay(gap)
            overlap = self._term_overlap(terms, story)
            score = similarity + config.term_weight * overlap - background
            if score < config.join_threshold or (best is not None and score <= best.score):
                continue
            alone = similarity - background >= config.join_threshold
            rule = JoinRule.SIMILARITY if alone else JoinRule.TERMS
            best = Assignment(item.id, story_id, rule, score, similarity, overlap, gap)
        return best

    def _decay(self, gap: timedelta | None) -> float:
        if gap is None:
            return 0.0
        days = min(abs(gap.total_seconds()) / 86400.0, self.config.decay_cap_days)
        return self.config.decay_per_day * days

    def _term_overlap(self, terms: frozenset[str], story: StoryState) -> float:
        """Cosine between the article's key terms and the story's, both weighted by rarity
        (the story's terms also by how many of its articles use them)."""
        if not terms or not story.terms:
            return 0.0
        article = {term: self._rarity(term) for term in terms}
        dot = story_norm = 0.0
        for term, count in story.terms.items():
            weight = count * article.get(term, self._rarity(term))
            story_norm += weight * weight
            if term in article:
                dot += weight * article[term]
        article_norm = math.sqrt(sum(w * w for w in article.values()))
        return dot / (article_norm * math.sqrt(story_norm)) if dot > 0 else 0.0

    def _rarity(self, term: str) -> float:
        # Smoothed inverse document frequency over the articles seen so far.
        return math.log((2 + self.state.articles_seen) / (1 + self.state.term_counts[term]))

    def _active_after(self) -> datetime | None:
        clock = self.state.clock
        return None if clock is None else clock - self.config.dormant_after

    # -- state changes --

    def _start_story(self, item: ClusterItem, terms: frozenset[str]) -> Assignment:
        story = StoryState(
            id=story_id_for(item.id),
            centroid_sum=np.asarray(item.vector, dtype=np.float64).copy(),
            count=1,
            label=item.title,
            first_seen=item.published_at,
            last_seen=item.published_at,
            size=1,
            sources={item.source} if item.source else set(),
            independent_sources={item.source} if item.source else set(),
            terms=Counter(terms),
        )
        self.state.stories[story.id] = story
        self.index.upsert(story)
        return Assignment(item.id, story.id, JoinRule.NEW_STORY, 0.0, 0.0, 0.0, None)

    def _join(self, assignment: Assignment, item: ClusterItem, terms: frozenset[str]) -> None:
        story = self.state.stories[assignment.story_id]
        story.size += 1
        if item.source:
            story.sources.add(item.source)
        if item.published_at is not None:
            story.first_seen = _earliest(story.first_seen, item.published_at)
            story.last_seen = _latest(story.last_seen, item.published_at)
        if assignment.rule is not JoinRule.SYNDICATED:
            story.centroid_sum += item.vector
            story.count += 1
            story.terms.update(terms)
            _trim_terms(story, self.config.max_story_terms)
            if item.source:
                story.independent_sources.add(item.source)
        if story.state is StoryStatus.ACTIVE:
            self.index.upsert(story)

    def _retire_quiet_stories(self) -> None:
        active_after = self._active_after()
        if active_after is None:
            return
        for story in self.state.stories.values():
            quiet = story.last_seen is not None and story.last_seen < active_after
            if story.state is StoryStatus.ACTIVE and quiet:
                story.state = StoryStatus.DORMANT
                self.index.remove(story.id)

    def _merge_partner(self, story: StoryState) -> tuple[StoryState, float] | None:
        for other_id, cosine in self.index.nearest(story.centroid, 2, self._active_after()):
            if other_id != story.id:
                return (
                    (self.state.stories[other_id], cosine)
                    if cosine >= self.config.merge_threshold
                    else None
                )
        return None

    def _absorb(self, keep: StoryState, gone: StoryState, record: MergeRecord) -> None:
        keep.centroid_sum += gone.centroid_sum
        keep.count += gone.count
        keep.size += gone.size
        keep.sources |= gone.sources
        keep.independent_sources |= gone.independent_sources
        keep.terms.update(gone.terms)
        _trim_terms(keep, self.config.max_story_terms)
        keep.first_seen = _earliest(keep.first_seen, gone.first_seen)
        keep.last_seen = _latest(keep.last_seen, gone.last_seen)
        gone.state = StoryStatus.MERGED
        gone.merge = record
        self.index.remove(gone.id)
        self.index.upsert(keep)

    def resolve_story(self, story_id: str) -> str:
        """The story ``story_id`` is now part of (itself unless it was merged)."""
        story = self.state.stories[story_id]
        while story.merge is not None:
            story = self.state.stories[story.merge.merged_into]
        return story.id


def _mean_cosine(found: list[tuple[str, float]]) -> float:
    return sum(cosine for _, cosine in found) / len(found) if found else 0.0


def _survivor_order(story: StoryState) -> tuple[int, float, str]:
    first = story.first_seen.timestamp() if story.first_seen else 0.0
    return (-story.count, first, story.id)


def _gap(published_at: datetime | None, story: StoryState) -> timedelta | None:
    if published_at is None or story.last_seen is None:
        return None
    return published_at - story.last_seen


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _trim_terms(story: StoryState, limit: int) -> None:
    # Trim only at twice the limit so the (sorting) trim runs rarely.
    if len(story.terms) > 2 * limit:
        # Ties broken by the term itself: the result must not depend on hash order.
        kept = sorted(story.terms.items(), key=lambda item: (-item[1], item[0]))[:limit]
        story.terms = Counter(dict(kept))
