"""The page stage against hostile pages on 127.0.0.1: each ends in its class, the batch goes on."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.catalog import open_catalog
from pipeline.fetching import FETCH_RECORD_GROUP
from pipeline.records import EntryStatus, FeedSource
from pipeline.stages import fetch_batch, plan_fetch_batches, poll_batch
from tests.conftest import make_settings
from tests.support.fixture_server import FixtureServer, send, static

PARAGRAPH = (
    "The harbour authority confirmed on Tuesday that the northern quay will reopen to cargo "
    "traffic next month after eighteen months of repairs to its storm-damaged wall. "
)


def article_page(title: str, paragraphs: int = 6, charset: str = "utf-8", extra: str = "") -> bytes:
    body = "".join(
        f"<p>{PARAGRAPH} Crews have now finished section {n} of the wall, {n * 40} metres in all. {extra}</p>"
        for n in range(1, paragraphs + 1)
    )
    html = (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )
    return html.encode(charset, errors="replace")


# Twenty thousand linked paragraphs: about 10 s of extraction here, far over a 1-second cap.
SLOW_PAGE = (
    "<html><body><article><h1>Quay</h1>"
    + "".join(f"<div><p>{PARAGRAPH}{i} <a href='/x{i}'>more {i}</a></p></div>" for i in range(20000))
    + "</article></body></html>"
).encode()

BROKEN_ENCODING = article_page("Caf\u00e9 owners welcome the quay", charset="utf-8").replace(
    "Café".encode(), b"Caf\xe9 \xff\xfe"
)


def feed(server_url: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>{server_url}{path}</link><description>Summary {i} of the quay story.</description>"
        f"<pubDate>Mon, 12 May 2025 0{i % 10}:00:00 GMT</pubDate></item>"
        for i, path in enumerate(paths)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'.encode()


def huge(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(40 * 1024 * 1024))
    handler.end_headers()
    chunk = b"<p>" + b"word " * 20000 + b"</p>"
    for _ in range(400):
        handler.wfile.write(chunk)


EXPECTED = {
    "/good.html": (EntryStatus.EXTRACTED, None),
    "/report.pdf": (EntryStatus.SKIPPED, "not_html"),
    "/huge.html": (EntryStatus.FAILED, "too_large"),
    "/slow.html": (EntryStatus.FAILED, "extract_timeout"),
    "/broken-encoding.html": (EntryStatus.EXTRACTED, None),
    "/escape.html": (EntryStatus.FAILED, "blocked_address"),
    "/gone.html": (EntryStatus.FAILED, "http_4xx"),
    "/forbidden.html": (EntryStatus.EXTRACTED, "http_4xx"),  # falls back to the summary
}


@pytest.fixture
def outside():
    with FixtureServer("127.0.0.3", {"/secret.html": static(article_page("Secret"), "text/html")}) as server:
        yield server


def test_hostile_pages_each_end_in_their_class_and_the_batch_goes_on(tmp_path, outside: FixtureServer) -> None:
    routes = {
        "/good.html": static(article_page("Northern quay to reopen next month"), "text/html"),
        "/report.pdf": static(b"%PDF-1.7 binary", "application/pdf"),
        "/huge.html": huge,
        "/slow.html": static(SLOW_PAGE, "text/html"),
        "/broken-encoding.html": static(BROKEN_ENCODING, "text/html; charset=utf-8"),
        "/escape.html": lambda h: send(h, 302, b"", "text/plain", {"Location": outside.url("/secret.html")}),
        "/gone.html": static(b"gone", "text/plain", status=404),
        "/forbidden.html": static(b"subscribe", "text/html", status=403),
    }
    with FixtureServer("127.0.0.1", routes) as server:
        server.routes["/feed.xml"] = static(feed(server.base_url, list(EXPECTED)))
        settings = make_settings(tmp_path / "home", max_page_bytes=8 * 1024 * 1024, extract_timeout=1.0)
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("hostile", server.url("/feed.xml"))])
        poll_batch(settings, [server.url("/feed.xml")], catalog=catalog)
        (batch,) = plan_fetch_batches(settings, catalog=catalog)
        summary = fetch_batch(settings, batch, catalog=catalog)
    entries = {row.url.removeprefix(server.base_url): row for row in catalog.entries()}
    for path, (status, error_class) in EXPECTED.items():
        row = entries[path]
        assert row.status == status.value, (path, row.status, row.error_class, row.error_message)
        if status is not EntryStatus.EXTRACTED:
            assert row.error_class == error_class, (path, row.error_class)
    assert outside.requests.total() == 0
    assert summary["fallback_summary"] == 1 and summary["extracted"] == 2
    assert summary["errors"] == {
        "blocked_address": 1, "extract_timeout": 1, "http_4xx": 2, "not_html": 1, "too_large": 1,
    }
    articles = {row.url.removeprefix(server.base_url): row for row in catalog.articles()}
    assert "\ufffd" in articles["/broken-encoding.html"].title + articles["/broken-encoding.html"].text or (
        "Caf" in articles["/broken-encoding.html"].title
    )
    assert articles["/forbidden.html"].body_source == "feed"
    failed = entries["/slow.html"]
    assert failed.attempts == 2 and failed.next_attempt_at is not None  # fetched, then extraction failed


def test_pages_are_recorded_as_they_arrive_while_one_page_hangs(tmp_path) -> None:
    """A killed run loses at most a group of downloads: recording waits for no single page.
    The first page requested hangs until the test has seen the others recorded."""
    paths = [f"/page-{n}.html" for n in range(12)]
    page = article_page("Northern quay to reopen next month")
    first_request = threading.Lock()
    release = threading.Event()

    def hangs_the_first_time(handler) -> None:
        if first_request.acquire(blocking=False):
            release.wait(30)
        send(handler, 200, page, "text/html")

    with FixtureServer("127.0.0.1", dict.fromkeys(paths, hangs_the_first_time)) as server:
        server.routes["/feed.xml"] = static(feed(server.base_url, paths))
        settings = make_settings(tmp_path / "home", read_timeout=60.0, total_timeout=60.0)
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("quay", server.url("/feed.xml"))])
        poll_batch(settings, [server.url("/feed.xml")], catalog=catalog)
        (batch,) = plan_fetch_batches(settings, catalog=catalog)
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(fetch_batch, settings, batch, catalog=catalog)
            try:
                deadline = time.monotonic() + 30
                while catalog.count_entries(EntryStatus.FETCHED) < FETCH_RECORD_GROUP:
                    assert time.monotonic() < deadline, "pages behind the hanging one stayed unrecorded"
                    assert not running.done(), running.result()
                    time.sleep(0.05)
            finally:
                release.set()
            summary = running.result()
    assert summary["extracted"] >= 1 and summary["pages"] == len(paths)
    assert catalog.count_entries(EntryStatus.NEW) == catalog.count_entries(EntryStatus.FETCHED) == 0


def test_the_next_batch_downloads_while_this_one_is_extracted(tmp_path) -> None:
    """Across batches the page stage downloads batch 2 while batch 1's pages are extracted and
    stored: when batch 1's first article is stored, batch 2's pages are (or soon are) all
    recorded. Each batch's summary still counts its own pages, and every page is stored once."""
    from pipeline.stages import fetch_batches

    paths = [f"/page-{n}.html" for n in range(8)]
    pages = {path: article_page(f"Quay section {n} reopens after repairs", extra=f"Section {n}.")
             for n, path in enumerate(paths)}
    with FixtureServer("127.0.0.1", {path: static(body, "text/html") for path, body in pages.items()}) as server:
        server.routes["/feed.xml"] = static(feed(server.base_url, paths))
        settings = make_settings(tmp_path / "home")
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("quay", server.url("/feed.xml"))])
        poll_batch(settings, [server.url("/feed.xml")], catalog=catalog)
        first, second = plan_fetch_batches(settings, batch_size=4, catalog=catalog)
        seen_while_first_batch_stored: list[int] = []

        def on_done(entry_id: str) -> None:
            if entry_id in first and not seen_while_first_batch_stored:
                deadline = time.monotonic() + 20
                while (done := sum(row.status != EntryStatus.NEW.value for row in catalog.entries(ids=second))) < 4:
                    assert time.monotonic() < deadline, f"batch 2 not downloaded during batch 1 ({done} of 4)"
                    time.sleep(0.05)
                seen_while_first_batch_stored.append(done)

        summaries = list(fetch_batches(settings, [first, second], catalog=catalog, on_done=on_done))
    assert seen_while_first_batch_stored == [4]
    assert [summary["pages"] for summary in summaries] == [4, 4]
    assert [summary["extracted"] for summary in summaries] == [4, 4]
    assert catalog.count_entries(EntryStatus.EXTRACTED) == 8
