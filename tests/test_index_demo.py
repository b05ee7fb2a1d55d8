"""The whole pipeline on the demo site: stories, the seed's lineup, search, stability, resume.

Real parts: the demo site over HTTP, the real model, the embedded Qdrant Edge store, the
SQLite catalog; one backend comparison against qdrant-client's local mode (the server API).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.catalog import open_catalog
from pipeline.demo.labels import PEACE_TALKS_TOPIC, load_labels
from pipeline.demo.site import DemoSite
from pipeline.records import EntryStatus
from pipeline.settings import Settings
from pipeline.vectorstore import ARTICLES, STORIES, open_store
from tests.support.cli import STORYLINE, run_cli, run_json, storyline_env

SEED = Path("../shared/seed/000_d4eb1fab17eab041.txt")


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3].split("?", 1)[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The demo site ingested end to end with `storyline run`, then run again."""
    if not SEED.is_file():
        pytest.skip(f"the seed article is not at {SEED} (../shared is absent)")
    tmp = tmp_path_factory.mktemp("index-demo")
    with DemoSite() as site:
        env = storyline_env(tmp / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp)))
        first = run_json("run", env=env)
        second = run_json("run", env=env)
        lineup = run_json("lineup", env=env)
    return site, env, first, second, lineup, tmp / "home"


def test_run_indexes_every_article_once(demo_run) -> None:
    _, _, first, second, _, home = demo_run
    stored = first["fetch"]["extracted"] + first["fetch"]["fallback_summary"]
    assert first["index"]["indexed"] == stored
    assert second["index"]["indexed"] == 0 and second["poll"]["entries_new"] == 0
    catalog = open_catalog(Settings(home=home))
    assert catalog.count_entries(EntryStatus.EXTRACTED) == 0
    assert catalog.count_entries(EntryStatus.INDEXED) == stored
    assert open_store(Settings(home=home)).count(ARTICLES) == stored


def test_seed_lineup_holds_every_peace_talks_article_and_nothing_else(demo_run) -> None:
    _, _, _, _, lineup, _ = demo_run
    shown = [a for a in lineup["coverage"]] + [a for r in lineup["related"] for a in r["articles"]]
    shown_paths = {path_of(a["url"]) for a in shown}
    labels = [l for l in load_labels() if l.expect.value != "skipped" and not l.duplicate_of]
    talks = {l.path for l in labels if l.topic == PEACE_TALKS_TOPIC}
    others = {l.path for l in labels if l.topic != PEACE_TALKS_TOPIC}
    assert talks <= shown_paths, sorted(talks - shown_paths)
    assert not (others & shown_paths), sorted(others & shown_paths)
    times = [a["published_at"] for a in lineup["coverage"]]
    assert times == sorted(times), "coverage is in time order"
    assert all(a["similarity"] is not None for a in lineup["coverage"])


def test_syndicated_copies_count_as_one_independent_source(demo_run) -> None:
    _, _, _, _, lineup, _ = demo_run
    copies = {l.path for l in load_labels() if l.syndicated_of}
    stories = [lineup["story"] | {"articles": lineup["coverage"]}] + [
        r["story"] | {"articles": r["articles"]} for r in lineup["related"]
    ]
    (story,) = [s for s in stories if copies & {path_of(a["url"]) for a in s["articles"]}]
    marked = {path_of(a["url"]) for a in story["articles"] if a["syndicated"]}
    assert marked == copies
    independent = {a["source"] for a in story["articles"] if not a["syndicated"]}
    assert story["independent_sources"] == len(independent)
    assert story["independent_sources"] < len(story["sources"]) or independent == set(story["sources"])


def test_search_filters_and_related(demo_run) -> None:
    _, env, _, _, lineup, _ = demo_run
    hits = run_json("search", "prisoner exchange", "--limit", "5", env=env)
    assert len(hits) == 5
    assert set(hits[0]) == {"id", "score", "title", "url", "source", "published_at", "story_id"}
    assert "prisoner" in hits[0]["title"].lower() or "swap" in hits[0]["title"].lower()
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    only_wire = run_json("search", "prisoner exchange", "--source", "Meridian Wire", env=env)
    assert only_wire and {h["source"] for h in only_wire} == {"Meridian Wire"}
    per_story = run_json("search", "Ukraine", "--per-story", "--limit", "20", env=env)
    assert len({h["story_id"] for h in per_story}) == len(per_story)
    story_id = lineup["story"]["id"]
    in_story = run_json("search", "memorandum", "--story", story_id, env=env)
    assert in_story and {h["story_id"] for h in in_story} == {story_id}
    late = run_json("search", "Ukraine", "--since", "2025-05-24", env=env)
    assert late and min(h["published_at"] for h in late) >= "2025-05-24"
    first = lineup["coverage"][0]
    by_id = run_json("related", first["id"], env=env)
    by_url = run_json("related", first["url"], env=env)
    assert by_id == by_url and first["id"] not in {h["id"] for h in by_id}


def test_story_ids_are_stable_across_runs(demo_run, tmp_path: Path) -> None:
    _, _, _, _, lineup, home = demo_run
    with DemoSite() as site:
        env = storyline_env(tmp_path / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp_path)),
                            STORYLINE_INDEX_BATCH_SIZE="5")
        run_json("run", env=env)
        again = run_json("lineup", env=env)
    # Same stories, same members, although the site ran on another port (other URLs, other
    # ids) and in smaller batches: compare by path.
    assert sorted(path_of(a["url"]) for a in again["coverage"]) == sorted(path_of(a["url"]) for a in lineup["coverage"])
    first = open_catalog(Settings(home=home)).stories()
    second = open_catalog(Settings(home=tmp_path / "home")).stories()
    assert sorted(s.size for s in first) == sorted(s.size for s in second)


def test_reindex_is_idempotent(demo_run) -> None:
    _, env, _, _, _, home = demo_run
    settings = Settings(home=home)
    store = open_store(settings)
    before = (store.count(ARTICLES), store.count(STORIES))
    catalog = open_catalog(settings)
    with catalog.engine.begin() as connection:  # as if every article came back for re-indexing
        from sqlalchemy import update

        from pipeline.catalog.schema import entries

        connection.execute(update(entries).where(entries.c.status == "indexed").values(status="extracted"))
    result = run_json("index", env=env)
    assert result["indexed"] == before[0]
    assert (store.count(ARTICLES), store.count(STORIES)) == before


def test_reindex_with_another_model_switches_collections_and_keeps_the_stories(demo_run, tmp_path: Path) -> None:
    import shutil

    from pipeline.embedding import DEFAULT_MODEL_ID

    _, env, _, _, lineup, home = demo_run
    shutil.copytree(home, tmp_path / "home")  # the module's other tests keep the original
    settings = Settings(home=tmp_path / "home")
    # The demo ran on the default runtime (int8); fp32 gives other vectors, another model id.
    env = {**env, "STORYLINE_HOME": str(tmp_path / "home"), "STORYLINE_EMBED_BACKEND": "onnx"}
    stories_before = {row.id: row.size for row in open_catalog(settings).stories()}
    store = open_store(settings)
    points = store.count(ARTICLES)
    old_collections = set(store.physical_collections())
    assert store.describe(ARTICLES).model != DEFAULT_MODEL_ID

    refused = run_cli("index", env=env)
    assert refused.returncode != 0 and "storyline reindex" in refused.stderr, refused.stderr
    result = run_json("reindex", env=env)

    store = open_store(settings)
    assert result["articles"] == points == store.count(ARTICLES)
    assert store.describe(ARTICLES).model == store.describe(STORIES).model == result["model"] == DEFAULT_MODEL_ID
    assert set(result["dropped"]) == old_collections
    assert set(store.physical_collections()) == set(result["collections"].values())
    assert {row.id: row.size for row in open_catalog(settings).stories()} == stories_before
    assert store.count(STORIES) == result["stories"]
    # The vectors young stories keep for splitting are the new model's too.
    from pipeline.indexing import members_from_json

    kept = [m for row in open_catalog(settings).stories() for m in members_from_json(row.members) or [] if m.vector is not None]
    assert kept, "the demo has young stories"
    new_vectors = {p.id: p.vector for p in store.get(ARTICLES, [m.article_id for m in kept], with_vectors=True)}
    for member in kept:
        np.testing.assert_allclose(member.vector, new_vectors[member.article_id], atol=1e-6)
    assert run_json("index", env=env)["indexed"] == 0  # the new model is accepted
    again = run_json("lineup", env=env)
    assert [a["url"] for a in again["coverage"]] == [a["url"] for a in lineup["coverage"]]
    assert run_json("reindex", env=env)["articles"] == points  # again: same result, no leftovers
    assert open_store(settings).count(ARTICLES) == points


def test_killed_index_run_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    with DemoSite() as site:
        env = storyline_env(tmp_path / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp_path)),
                            STORYLINE_INDEX_BATCH_SIZE="4")
        run_json("poll", "--fetch", env=env)
    catalog = open_catalog(Settings(home=tmp_path / "home"))
    total = catalog.count_entries(EntryStatus.EXTRACTED)
    process = subprocess.Popen([STORYLINE, "index", "--json"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while catalog.count_entries(EntryStatus.INDEXED) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = catalog.count_entries(EntryStatus.INDEXED)
    assert 0 < done < total, "the kill must land mid-run"
    result = run_json("index", env=env)
    assert result["indexed"] == total - done
    assert catalog.count_entries(EntryStatus.INDEXED) == total
    store = open_store(Settings(home=tmp_path / "home"))
    assert store.count(ARTICLES) == total
    assert all(row.story_id for row in catalog.articles())


def test_server_backend_gives_the_same_stories(demo_run, tmp_path: Path) -> None:
    """The demo's catalog indexed again from scratch, once through the embedded store and once
    through qdrant-client's local mode (the server API): the same stories. (Both from scratch:
    `storyline run` indexed beside fetching, where a re-dated page may come later in the stream.)"""
    import shutil

    from sqlalchemy import delete, update

    from pipeline.catalog.schema import articles, clusterer_meta, entries, stories
    from pipeline.indexing import IndexStage
    from pipeline.vectorstore.server import ServerVectorStore

    _, _, _, _, _, home = demo_run

    def index_again(name: str, store=None) -> set[frozenset[str]]:
        (tmp_path / name).mkdir()
        shutil.copy(home / "catalog.db", tmp_path / name / "catalog.db")
        settings = Settings(home=tmp_path / name)
        catalog = open_catalog(settings)
        with catalog.engine.begin() as connection:
            connection.execute(delete(stories))
            connection.execute(delete(clusterer_meta))
            connection.execute(update(articles).values(story_id=None))
            connection.execute(update(entries).where(entries.c.status == "indexed").values(status="extracted"))
        stage = IndexStage(settings, catalog, store=store)
        summary = stage.run()
        assert summary.indexed == stage.store.count(ARTICLES) > 0
        groups: dict[str, set[str]] = {}
        for row in catalog.articles():
            groups.setdefault(row.story_id, set()).add(row.id)
        return {frozenset(group) for group in groups.values()}

    assert index_again("server", ServerVectorStore(":memory:")) == index_again("edge")


def test_split_stories_move_their_articles_in_catalog_and_store_and_resume_alike(catalog_settings: Settings) -> None:
    """Every join forced, so stories fill with unrelated articles and split: the index stage,
    run in small batches over several runs (each reloads the clusterer from the catalog),
    must end exactly where one uninterrupted in-memory stream ends, with the catalog and the
    store agreeing on every article's story. SQLite and PostgreSQL."""
    from pipeline.clustering import ClusterConfig, ClusterItem, NumpyCentroidIndex, OnlineClusterer
    from pipeline.embedding import embedder_for
    from pipeline.indexing import IndexStage, members_from_json

    settings = catalog_settings.model_copy(update={"index_batch_size": 3})
    home = settings.home
    with DemoSite() as site:
        env = storyline_env(home, STORYLINE_REGISTRY=str(site.registry_path(home.parent)),
                            **({"STORYLINE_CATALOG_URL": settings.catalog_url} if settings.catalog_url else {}))
        run_json("poll", "--fetch", env=env)
    catalog = open_catalog(settings)
    rows = catalog.articles_to_index()
    config = ClusterConfig(join_threshold=-10.0)
    embedder = embedder_for(settings)
    for limit in (5, 7, 11, None):  # four runs, each resuming from what the last one stored
        IndexStage(settings, catalog, embedder=embedder, config=config).run(limit=limit)

    stored = catalog.articles()
    assert len(stored) == len(rows) and all(row.story_id for row in stored)
    store = open_store(settings)
    points = {point.id: point for point in store.get(ARTICLES, [row.id for row in rows], with_vectors=True)}
    assert {row.id: row.story_id for row in stored} == {i: p.payload["story_id"] for i, p in points.items()}

    stream = OnlineClusterer(NumpyCentroidIndex(embedder.dimension), config)
    for row in rows:
        stream.add(ClusterItem(row.id, np.asarray(points[row.id].vector, dtype=np.float32), row.title,
                               row.text, row.published_at, row.source, row.syndicated_of))
    assert {row.id: row.story_id for row in stored} == {row.id: stream.story_of(row.id) for row in rows}

    story_rows = catalog.stories()
    assert any(story.split_from for story in story_rows), "forced joins must have made a story split"
    sizes = Counter(row.story_id for row in stored)
    for story in story_rows:
        if story.state != "merged":
            assert story.size == sizes[story.id], story.label
        members = members_from_json(story.members)
        if members is not None:
            assert sorted(m.article_id for m in members) == sorted(r.id for r in stored if r.story_id == story.id)

    # The lineage reads both ways: the parent lists what split off it, the child its parent.
    from pipeline.queries import Queries

    live = {story.id: story for story in story_rows if not story.merged_into}
    child = next(story for story in live.values() if story.split_from in live)
    queries = Queries(settings, catalog, store=store)
    assert {"split_from": child.split_from, "label": live[child.split_from].label,
            "at": child.split_at.isoformat(), "score": child.split_score} in queries.story(child.id)["lineage"]
    assert child.id in {event.get("split_off") for event in queries.story(child.split_from)["lineage"]}
    # ... and the story page says so, the parent's label escaped like all feed text.
    from markupsafe import escape

    from pipeline.web.pages import render_story

    page = render_story("/storyline", queries.story(child.id), None)
    assert "split from" in page and str(escape(live[child.split_from].label)) in page


TOPICS = {
    "harbour": ("The northern harbour quay reopened to cargo ships after storm repairs to its sea wall.",
                "Dock workers unloaded the first container vessel since the wall collapsed last winter."),
    "library": ("The city library extended its opening hours to ten at night on Fridays and Saturdays.",
                "Students welcomed the longer evenings in the reading rooms during the exam season."),
    "orchestra": ("The youth orchestra won the national competition with a programme of Czech symphonies.",
                  "Its conductor praised the string section after the final round in the concert hall."),
}


def topic_page(topic: str, number: int) -> bytes:
    first, second = TOPICS[topic]
    paragraphs = "".join(f"<p>{first} Report {number}, paragraph {n}. {second}</p>" for n in range(5))
    title = f"{first.split(' ', 6)[-1][:60]} (update {number})"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>").encode()


def test_fetch_and_index_indexes_beside_fetching_as_the_stages_in_turn_would(tmp_path: Path) -> None:
    """`storyline run`'s order of work: the index stage embeds what is extracted while later
    pages are still being fetched (the last batch's pages are held back until something is
    indexed), and the stories come out as with the stages one after the other."""
    from pipeline.fetching import fetch_entry_batches
    from pipeline.indexing import IndexStage
    from pipeline.records import FeedSource
    from pipeline.stages import fetch_and_index, plan_fetch_batches, poll_batch
    from tests.conftest import make_settings
    from tests.support.fixture_server import FixtureServer, send, static

    articles = [(f"/{topic}-{n}.html", topic, n) for n in range(4) for topic in TOPICS]  # 12, topics interleaved
    last_batch = {path for path, _, _ in articles[8:]}
    indexed_some = threading.Event()
    held_back_in_vain: list[str] = []

    def page(path: str, topic: str, number: int):
        def answer(handler) -> None:
            if path in last_batch and not indexed_some.wait(30):
                held_back_in_vain.append(path)
            send(handler, 200, topic_page(topic, number), "text/html")
        return answer

    items = "".join(
        f"<item><title>{topic} {n}</title><link>{{base}}{path}</link>"
        f"<pubDate>Mon, 12 May 2025 {8 + i:02d}:00:00 GMT</pubDate></item>"
        for i, (path, topic, n) in enumerate(articles)
    )
    routes = {path: page(path, topic, n) for path, topic, n in articles}
    partitions = []
    with FixtureServer("127.0.0.1", routes) as server:
        server.routes["/feed.xml"] = static(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items.format(base=server.base_url)}'
            "</channel></rss>".encode(), "application/rss+xml")
        for overlapped in (True, False):
            settings = make_settings(tmp_path / f"home-{overlapped}")
            catalog = open_catalog(settings)
            catalog.sync_registry([FeedSource("desk", server.url("/feed.xml"))])
            poll_batch(settings, [server.url("/feed.xml")], catalog=catalog)
            planned = plan_fetch_batches(settings, batch_size=4, catalog=catalog)
            stage = IndexStage(settings, catalog)
            if overlapped:
                fetched, indexed = fetch_and_index(settings, catalog, planned, stage,
                                                   on_indexed=lambda _count: indexed_some.set())
                assert fetched["extracted"] == indexed["indexed"] == 12
                assert not held_back_in_vain, "nothing was indexed while the last batch was fetched"
            else:
                list(fetch_entry_batches(settings, catalog, planned))
                assert stage.run().indexed == 12
            stories: dict[str, set[str]] = {}
            for row in catalog.articles():
                stories.setdefault(row.story_id, set()).add(path_of(row.url))
            partitions.append(sorted(map(sorted, stories.values())))
    assert partitions[0] == partitions[1]
    assert len(partitions[0]) == len(TOPICS), partitions[0]
