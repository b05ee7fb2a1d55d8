"""The HTTP layer and the poller against a hostile fixture server on 127.0.0.1.

Every case must end in its error class, within its caps, and the run must go on.
"""

from __future__ import annotations

import gzip
import itertools
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from pipeline.catalog import open_catalog
from pipeline.catalog.store import utcnow
from pipeline.errors import ErrorClass, StorylineError
from pipeline.http import HttpClient
from pipeline.polling import PollStatus, poll_feeds
from pipeline.records import FeedSource
from tests.conftest import make_settings
from tests.support.fixture_server import FixtureServer, send, static

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Fixture desk</title><link>http://example.test/</link>
<item><title>Harbour cranes return to work</title><link>/news/cranes.html</link>
<guid>cranes-1</guid><pubDate>Mon, 12 May 2025 08:00:00 GMT</pubDate></item>
<item><title>Library opens late on Fridays</title><link>/news/library.html</link>
<guid>library-1</guid><pubDate>Tue, 13 May 2025 09:30:00 GMT</pubDate></item>
</channel></rss>"""


def slow_drip(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    for _ in range(200):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.1)


def endless(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    chunk = b"<item>" + b"x" * 65536 + b"</item>"
    for _ in range(100_000):
        handler.wfile.write(chunk)


BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


def gzip_bomb(handler) -> None:
    send(handler, 200, BOMB, "application/rss+xml", {"Content-Encoding": "gzip"})


def redirect(target: str):
    return lambda handler: send(handler, 302, b"", "text/plain", {"Location": target})


def retry_after(handler) -> None:
    send(handler, 429, b"slow down", "text/plain", {"Retry-After": "120"})


WINDOWS_1252_AS_UTF8 = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Caf\xe9 desk</title>'
    "<item><title>\u201cQuoted\u201d caf\xe9 news</title><link>http://127.0.0.1/cafe.html</link>"
    "</item></channel></rss>"
).encode("cp1252")

TRUNCATED = GOOD_RSS[: GOOD_RSS.index(b"<item><title>Library")] + b"<item><title>Libr"


@pytest.fixture
def outside_server():
    """A server on 127.0.0.2, which the allow-list does not cover: it must never be reached."""
    with FixtureServer("127.0.0.2", {"/feed.xml": static(GOOD_RSS)}) as server:
        yield server


@pytest.fixture
def hostile(outside_server: FixtureServer):
    routes = {
        "/good.xml": static(GOOD_RSS, "application/rss+xml"),
        "/drip.xml": slow_drip,
        "/endless.xml": endless,
        "/bomb.xml": gzip_bomb,
        "/loop-a.xml": redirect("/loop-b.xml"),
        "/loop-b.xml": redirect("/loop-a.xml"),
        "/escape.xml": redirect(outside_server.url("/feed.xml")),
        "/error.xml": static(b"internal error", "text/plain", status=500),
        "/html.xml": static(b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", "text/html"),
        "/charset.xml": static(WINDOWS_1252_AS_UTF8, "application/rss+xml; charset=utf-8"),
        "/truncated.xml": static(TRUNCATED, "application/rss+xml"),
        "/empty.xml": static(b"", "application/rss+xml"),
    }
    with FixtureServer("127.0.0.1", routes) as server:
        yield server


EXPECTED = {
    "/good.xml": None,
    "/drip.xml": ErrorClass.TIMEOUT,
    "/endless.xml": ErrorClass.TOO_LARGE,
    "/bomb.xml": ErrorClass.TOO_LARGE,
    "/loop-a.xml": ErrorClass.REDIRECTS,
    "/escape.xml": ErrorClass.BLOCKED_ADDRESS,
    "/error.xml": ErrorClass.HTTP_5XX,
    "/html.xml": ErrorClass.NOT_A_FEED,
    "/charset.xml": None,
    "/empty.xml": ErrorClass.NOT_A_FEED,
}


def hostile_settings(tmp_path):
    return make_settings(
        tmp_path / "home", max_feed_bytes=1024 * 1024, total_timeout=3.0, read_timeout=2.0
    )


def test_each_hostile_feed_ends_in_its_error_class_and_the_run_goes_on(
    tmp_path, hostile: FixtureServer, outside_server: FixtureServer
) -> None:
    settings = hostile_settings(tmp_path)
    catalog = open_catalog(settings)
    catalog.sync_registry(
        FeedSource(name=path, url=hostile.url(path)) for path in [*EXPECTED, "/truncated.xml"]
    )
    outcomes = {}
    summary = poll_feeds(
        settings, catalog, catalog.feeds(), workers=4,
        on_done=lambda outcome: outcomes.__setitem__(outcome.feed_url.split(str(hostile.port))[1], outcome),
    )
    for path, expected in EXPECTED.items():
        outcome = outcomes[path]
        if expected is None:
            assert outcome.status is PollStatus.OK, (path, outcome)
        else:
            assert outcome.error_class is expected, (path, outcome)
            feed = catalog.feed(hostile.url(path))
            assert feed.error_class == expected.value and feed.error_count == 1
            assert feed.next_due_at > utcnow(), "a failed feed backs off, it is never disabled"
    # Truncated XML: feedparser's loose parser recovers the complete first item; nothing more.
    assert outcomes["/truncated.xml"].status is PollStatus.OK
    assert outcomes["/truncated.xml"].entries_seen == 1
    assert summary.feeds == len(EXPECTED) + 1
    # good.xml and charset.xml; the truncated feed's one item is good.xml's first (same URL).
    assert summary.entries_new == 2 + 1
    assert outside_server.requests.total() == 0, "the refused address received a request"


def test_wrong_charset_is_decoded_not_crashed(tmp_path, hostile: FixtureServer) -> None:
    settings = hostile_settings(tmp_path)
    catalog = open_catalog(settings)
    catalog.sync_registry([FeedSource(name="charset", url=hostile.url("/charset.xml"))])
    poll_feeds(settings, catalog, catalog.feeds())
    (entry,) = catalog.entries()
    assert "caf" in entry.title and "news" in entry.title


def test_retry_after_sets_the_next_poll_and_host_back_off(tmp_path) -> None:
    routes = {"/busy.xml": retry_after, "/good.xml": static(GOOD_RSS)}
    with FixtureServer("127.0.0.1", routes) as busy:
        settings = hostile_settings(tmp_path)
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource(name="busy", url=busy.url("/busy.xml"))])
        before = utcnow()
        summary = poll_feeds(settings, catalog, catalog.feeds())
        assert summary.errors == {"http_429": 1}
        feed = catalog.feed(busy.url("/busy.xml"))
        assert feed.next_due_at >= before + timedelta(seconds=119)
        # Any process asking the same host now is told to wait instead of hammering it.
        with HttpClient(settings, catalog.engine) as client, pytest.raises(StorylineError) as caught:
            client.fetch(busy.url("/good.xml"), max_bytes=1024)
        assert caught.value.error_class is ErrorClass.HTTP_429
        assert busy.requests["/good.xml"] == 0 and busy.requests["/busy.xml"] == 1


def test_private_address_refused_without_allow_list(tmp_path, hostile: FixtureServer) -> None:
    settings = make_settings(tmp_path / "home", allow_hosts=[])
    catalog = open_catalog(settings)
    with HttpClient(settings, catalog.engine) as client, pytest.raises(StorylineError) as caught:
        client.fetch(hostile.url("/good.xml"), max_bytes=1024)
    assert caught.value.error_class is ErrorClass.BLOCKED_ADDRESS
    assert hostile.requests.total() == 0


@pytest.mark.parametrize("address", ["169.254.169.254", "10.1.2.3", "192.168.0.1", "::1", "224.0.0.1", "0.0.0.0"])
def test_guard_refuses_internal_addresses(address: str) -> None:
    from pipeline.http import AddressGuard

    assert not AddressGuard([]).is_allowed("metadata.internal", address)
    assert AddressGuard([]).is_allowed("example.org", "93.184.215.14")
    assert AddressGuard(["10.0.0.0/8"]).is_allowed("x", "10.1.2.3")


def test_robots_txt_is_honoured_for_pages(tmp_path) -> None:
    routes = {
        "/robots.txt": static(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/private/page.html": static(b"<html>secret</html>", "text/html"),
        "/public/page.html": static(b"<html>hello</html>", "text/html"),
    }
    with FixtureServer("127.0.0.1", routes) as server:
        settings = make_settings(tmp_path / "home")
        catalog = open_catalog(settings)
        with HttpClient(settings, catalog.engine) as client:
            assert client.fetch(server.url("/public/page.html"), max_bytes=1024, check_robots=True).body
            with pytest.raises(StorylineError) as caught:
                client.fetch(server.url("/private/page.html"), max_bytes=1024, check_robots=True)
            assert caught.value.error_class is ErrorClass.ROBOTS
            client.fetch(server.url("/public/page.html"), max_bytes=1024, check_robots=True)
        assert server.requests["/private/page.html"] == 0
        assert server.requests["/robots.txt"] == 1, "robots.txt is cached"


def test_politeness_spaces_requests_to_one_host_across_clients(tmp_path) -> None:
    """Two clients (as two workers would) share the per-host delay through the catalog."""
    with FixtureServer("127.0.0.1", {"/a": static(b"ok", "text/plain")}) as server:
        settings = make_settings(tmp_path / "home", host_min_delay=0.3, host_max_concurrency=1)
        catalog = open_catalog(settings)
        starts: list[float] = []
        with HttpClient(settings, catalog.engine) as first, HttpClient(settings, catalog.engine) as second:
            for client in (first, second, first, second):
                client.fetch(server.url("/a"), max_bytes=100)
                starts.append(time.monotonic())
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= 0.25, gaps


def test_threads_sharing_one_host_are_served_in_turn(tmp_path) -> None:
    """Four threads, one slot: each waits its place in line. Claiming the catalog slot by
    polling alone let the thread that had just released it take it again, so one thread
    was served throughout and the others reached their deadline."""
    with FixtureServer("127.0.0.1", {"/a": static(b"ok", "text/plain")}) as server:
        settings = make_settings(tmp_path / "home", host_min_delay=0.05, host_max_concurrency=1)
        catalog = open_catalog(settings)
        served: list[int] = []

        def fetch_five(thread: int) -> None:
            for _ in range(5):
                client.fetch(server.url("/a"), max_bytes=100)
                served.append(thread)

        with HttpClient(settings, catalog.engine) as client, ThreadPoolExecutor(4) as pool:
            list(pool.map(fetch_five, range(4)))
    nth_of_its_thread = [served[: i + 1].count(thread) for i, thread in enumerate(served)]
    # In turn: no thread gets its (k+2)-th request before every thread has had its k-th.
    for i, rank in enumerate(nth_of_its_thread):
        for other in range(4):
            assert served[:i].count(other) >= rank - 2, served


def test_a_request_that_cannot_get_a_slot_before_its_deadline_is_a_timeout(tmp_path) -> None:
    settings = make_settings(tmp_path / "home", host_max_concurrency=1)

    def claim(client: HttpClient) -> None:
        with client.politeness.slot("example.test", time.time() + 0.2):
            pass

    with HttpClient(settings, open_catalog(settings).engine) as client:
        with (client.politeness.slot("example.test", time.time() + 5), ThreadPoolExecutor(1) as pool,
              pytest.raises(StorylineError) as caught):
            pool.submit(claim, client).result()
        claim(client)  # the slot, released, is free again
    assert caught.value.error_class is ErrorClass.TIMEOUT


def test_slot_claims_from_separate_processes_never_share_a_slot(catalog_settings) -> None:
    """Six politeness coordinators (as six worker processes would have: each its own in-process
    queue), two slots: the catalog alone keeps them apart. A free slot is claimed in one
    statement; on PostgreSQL a claim racing another for the same row must not take it too."""
    from pipeline.http import Politeness

    catalog = open_catalog(catalog_settings)
    holders: dict[int, str] = {}
    overlaps: list[tuple[int, str, str]] = []
    claims: list[int] = []
    guard = threading.Lock()

    def work(worker: int) -> None:
        politeness = Politeness(catalog.engine, min_delay=0.0, max_concurrency=2)
        for _ in range(15):
            with politeness.slot("example.test", time.time() + 30) as slot:
                with guard:
                    if slot in holders:
                        overlaps.append((slot, holders[slot], f"worker {worker}"))
                    holders[slot] = f"worker {worker}"
                    claims.append(slot)
                time.sleep(0.002)
                with guard:
                    holders.pop(slot, None)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))
    catalog.dispose()
    assert not overlaps
    assert len(claims) == 90 and set(claims) == {0, 1}


def test_a_slot_whose_holder_died_is_taken_at_once(tmp_path) -> None:
    """Both slots leased for minutes: one by a process of this machine that no longer exists,
    one by this (live) process. A claim takes the dead holder's slot without waiting."""
    import socket

    from sqlalchemy import update

    from pipeline.catalog.schema import host_slots
    from pipeline.http import Politeness

    catalog = open_catalog(make_settings(tmp_path / "home"))
    politeness = Politeness(catalog.engine, min_delay=0.0, max_concurrency=2)
    with politeness.slot("example.test", time.time() + 5):
        pass  # creates the host's rows
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leased = time.time() + 600
    with catalog.engine.begin() as connection:
        for slot, pid in ((0, os.getpid()), (1, dead.pid)):
            connection.execute(update(host_slots).where(host_slots.c.slot == slot)
                               .values(lease_until=leased, owner=f"{socket.gethostname()}:{pid}"))
    started = time.monotonic()
    with politeness.slot("example.test", time.time() + 5) as slot:
        assert slot == 1
    assert time.monotonic() - started < 1.0
    with catalog.engine.begin() as connection:  # now both held by this live process
        connection.execute(update(host_slots).values(lease_until=leased, owner=f"{socket.gethostname()}:{os.getpid()}"))
    with pytest.raises(StorylineError) as caught, politeness.slot("example.test", time.time() + 0.3):
        pass
    assert caught.value.error_class is ErrorClass.TIMEOUT
