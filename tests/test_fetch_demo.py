"""The page stage against the demo news site over real HTTP: every article extracted with the
right title, date and body; fallbacks, gates and duplicates as labelled; resumable."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.catalog import open_catalog
from pipeline.demo.content import load_articles
from pipeline.demo.labels import Expectation, load_labels
from pipeline.demo.site import DemoSite
from pipeline.records import EntryStatus
from pipeline.settings import Settings
from tests.conftest import make_settings
from tests.support.cli import STORYLINE, run_json, storyline_env


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory):
    """One demo site, polled and fetched once through the CLI; then fetched again."""
    tmp = tmp_path_factory.mktemp("fetch-demo")
    with DemoSite() as site:
        env = storyline_env(tmp / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp)))
        result = run_json("poll", "--fetch", env=env)
        requests_after_first = sum(site.requests.values())
        again = run_json("fetch", env=env)
        repeat_requests = sum(site.requests.values()) - requests_after_first
    catalog = open_catalog(Settings(home=tmp / "home"))
    return site, result, again, repeat_requests, catalog


def by_path(site: DemoSite, rows) -> dict:
    return {row.url.removeprefix(site.base_url).split("?", 1)[0]: row for row in rows}


def test_fetch_summary_matches_the_labels(fetched) -> None:
    _, result, again, repeat_requests, _ = fetched
    labels = load_labels()
    articles = [l for l in labels if l.expect is Expectation.ARTICLE]
    duplicates = [l for l in articles if l.duplicate_of]
    fetch = result["fetch"]
    assert fetch["extracted"] == len(articles) - len(duplicates)
    assert fetch["duplicates"] == len(duplicates) == 1
    assert fetch["fallback_summary"] == sum(l.expect is Expectation.FALLBACK_SUMMARY for l in labels) == 2
    assert fetch["skipped"] == sum(l.expect is Expectation.SKIPPED for l in labels) == 1
    assert fetch["syndicated"] == sum(1 for l in labels if l.syndicated_of) == 3
    assert fetch["errors"] == {"http_4xx": 1, "robots": 1}
    assert again["pages"] == 0 and repeat_requests == 0, "nothing is fetched twice"


def test_every_article_has_its_title_date_and_body(fetched) -> None:
    site, _, _, _, catalog = fetched
    stored = by_path(site, catalog.articles())
    demo = {a.key: a for a in load_articles()}
    for label in load_labels():
        if label.expect is not Expectation.ARTICLE or label.duplicate_of:
            continue
        article = stored[label.path]
        source = demo[label.key]
        assert article.title == label.title, label.key
        assert article.body_source == "page"
        # Every paragraph we wrote is in the extracted body, and no reader comment is.
        for paragraph in source.body:
            assert " ".join(paragraph.split()) in " ".join(article.text.split()), (label.key, paragraph[:60])
        if source.feed_date:
            assert article.published_at == label.published, label.key
        else:  # no date in the feed: the page's day replaces the first-seen time
            assert article.published_at.date() == label.published.date(), label.key
        assert "Reply" not in article.text and "comments" not in article.text.lower()[:200]


def test_forbidden_pages_fall_back_to_the_feed_summary(fetched) -> None:
    site, _, _, _, catalog = fetched
    stored = by_path(site, catalog.articles())
    for label in load_labels():
        if label.expect is Expectation.FALLBACK_SUMMARY:
            article = stored[label.path]
            assert article.body_source == "feed" and article.text, label.key


def assert_duplicates_as_labelled(site: DemoSite, catalog) -> None:
    entries = by_path(site, catalog.entries())
    articles = by_path(site, catalog.articles())
    for label in load_labels():
        entry = entries[label.path]
        if label.expect is Expectation.SKIPPED:
            assert (entry.status, entry.error_class) == (EntryStatus.SKIPPED.value, "not_article")
        if label.duplicate_of:
            original = next(l for l in load_labels() if l.key == label.duplicate_of)
            assert (entry.status, entry.error_class) == (EntryStatus.SKIPPED.value, "duplicate")
            assert entry.alias_of == articles[original.path].id


def assert_syndication_as_labelled(site: DemoSite, catalog) -> None:
    articles = by_path(site, catalog.articles())
    labels = {l.key: l for l in load_labels()}
    expected = {
        label.path: articles[labels[label.syndicated_of].path].id
        for label in labels.values() if label.syndicated_of
    }
    actual = {path: row.syndicated_of for path, row in articles.items() if row.syndicated_of}
    assert actual == expected


def test_index_page_is_skipped_and_amp_copy_is_an_alias(fetched) -> None:
    site, _, _, _, catalog = fetched
    assert_duplicates_as_labelled(site, catalog)


def test_syndicated_copies_point_at_the_wire_original_and_nothing_else_does(fetched) -> None:
    site, _, _, _, catalog = fetched
    assert_syndication_as_labelled(site, catalog)


@pytest.mark.parametrize("one_stage", [False, True], ids=["stage-per-batch", "one-stage"])
def test_the_copy_kept_does_not_depend_on_fetch_order(tmp_path: Path, one_stage: bool) -> None:
    """Parallel fetch tasks store in any order: here every copy is stored before its original,
    in an earlier batch, and the outcome is still the one the labels ask for. The same holds
    when one stage (one extractor pool, one syndication index) serves both batches, as in
    `storyline run`."""
    from pipeline.stages import fetch_batch, fetch_batches

    with DemoSite() as site:
        registry = site.registry_path(tmp_path)
        run_json("poll", env=storyline_env(tmp_path / "home", STORYLINE_REGISTRY=str(registry)))
        settings = make_settings(tmp_path / "home", registry=registry)
        catalog = open_catalog(settings)
        entries = by_path(site, catalog.entries())
        copies = {label.path for label in load_labels() if label.duplicate_of or label.syndicated_of}
        assert copies, "the demo has copies"
        first = [entries[path].id for path in sorted(copies)]
        second = [row.id for path, row in entries.items() if path not in copies]
        if one_stage:
            summaries = list(fetch_batches(settings, [first, second], catalog=catalog))
            # Every page of each batch is stored but two: the demo's 404 and its robots-refused page.
            assert [s["pages"] for s in summaries] == [len(first), len(second) - 2]
        else:
            fetch_batch(settings, first, catalog=catalog)
            fetch_batch(settings, second, catalog=catalog)
        assert_duplicates_as_labelled(site, catalog)
        assert_syndication_as_labelled(site, catalog)


def test_a_stage_sees_originals_another_process_stored_after_its_first_read(
        tmp_path: Path, catalog_settings: Settings) -> None:
    """Two stages share the catalog, as parallel fetch tasks do. Stage A reads the stored
    signatures when it stores its first batch; stage B then stores the originals; A's copies,
    stored last, must still find them (A reads what was stored since its last read)."""
    from pipeline.fetching import PageStage
    from pipeline.stages import plan_feed_batches, poll_batch

    with DemoSite() as site:
        settings = catalog_settings.model_copy(update={"registry": site.registry_path(tmp_path)})
        catalog = open_catalog(settings)
        for feed_urls in plan_feed_batches(settings, catalog=catalog):
            poll_batch(settings, feed_urls, catalog=catalog)
        entries = by_path(site, catalog.entries())
        labels = {label.key: label for label in load_labels()}
        copies = {label.path for label in labels.values() if label.duplicate_of or label.syndicated_of}
        originals = {labels[label.syndicated_of or label.duplicate_of].path
                     for label in labels.values() if label.duplicate_of or label.syndicated_of}
        others = [row.id for path, row in entries.items() if path not in copies | originals]
        with PageStage(settings, catalog) as stage_a, PageStage(settings, open_catalog(settings)) as stage_b:
            assert stage_a.run(others).extracted > 0
            assert stage_b.run([entries[path].id for path in sorted(originals)]).extracted == len(originals)
            assert stage_a.run([entries[path].id for path in sorted(copies)]).syndicated > 0
        assert_duplicates_as_labelled(site, catalog)
        assert_syndication_as_labelled(site, catalog)


def test_a_killed_fetch_resumes_without_refetching(tmp_path: Path) -> None:
    with DemoSite() as site:
        env = storyline_env(
            tmp_path / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp_path)),
            STORYLINE_HOST_MIN_DELAY="0.1", STORYLINE_HOST_MAX_CONCURRENCY="1",
        )
        run_json("poll", env=env)
        process = subprocess.Popen([STORYLINE, "fetch", "--json"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        catalog = open_catalog(Settings(home=tmp_path / "home"))
        # Kill once a few pages are stored, not after a number of requests: pages are recorded
        # in entry order, so requests can run ahead of what is stored (a slow first page).
        stored = lambda: sum(1 for row in catalog.entries() if row.page_sha256)
        deadline = time.monotonic() + 60
        while stored() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stored_before = {row.url for row in catalog.entries() if row.page_sha256}
        assert 0 < len(stored_before) < len(load_labels()), "the kill must land mid-batch"
        counts_before = dict(site.requests)
        result = run_json("fetch", env=env)
        for url in stored_before:
            path = url.removeprefix(site.base_url).split("?", 1)[0]
            assert site.requests[path] == counts_before.get(path), f"{path} fetched again"
    statuses = {row.status for row in catalog.entries()}
    assert statuses <= {EntryStatus.EXTRACTED.value, EntryStatus.SKIPPED.value}, statuses
    assert result["extracted"] + result["fallback_summary"] > 0


def test_the_syndication_check_reads_only_the_parts_of_a_window_it_has_not_read() -> None:
    """Windows of articles published in order overlap; a re-dated article far in the past
    must cost its own window only, not everything between it and the windows read so far."""
    from datetime import UTC, datetime

    from pipeline.fetching import _Spans

    def day(number: int) -> datetime:
        return datetime(2026, 3, number, tzinfo=UTC)

    spans = _Spans()
    assert spans.missing(day(10), day(16)) == [(day(10), day(16))]
    spans.add(day(10), day(16))
    assert spans.missing(day(11), day(17)) == [(day(16), day(17))]
    assert spans.missing(day(1), day(7)) == [(day(1), day(7))]
    spans.add(day(1), day(7))
    assert spans.missing(day(5), day(12)) == [(day(7), day(10))]
    assert spans.missing(day(2), day(15)) == [(day(7), day(10))]
