"""Hostile web, part two (part one: test_http_hostile.py, test_fetch_hostile.py).

XML entity attacks, deflate bombs, Content-Length lies, broken encodings, redirect chains,
addresses outside the allow-list (DNS, link-local literals), TLS failures, non-HTML and
pathological pages, Retry-After on 503, a 100k-entry feed and injected markup in titles.
Every server is a real one on a 127.x address; every case ends in its error class, within
its caps, and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.catalog import open_catalog
from pipeline.catalog.store import utcnow
from pipeline.errors import ErrorClass, StorylineError
from pipeline.http import AddressGuard, HttpClient
from pipeline.polling import PollStatus, poll_feeds
from pipeline.records import EntryStatus, FeedSource
from pipeline.stages import fetch_batch, plan_fetch_batches, poll_batch
from tests.conftest import make_settings
from tests.support.fixture_server import FixtureServer, static

SECRET_MARKER = "storyline-xxe-secret-4f1c"


def rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Fixture desk</title><link>http://example.test/</link>{items}</channel></rss>"
    ).encode()


def item(title: str, path: str, description: str = "") -> str:
    return (
        f"<item><title>{title}</title><link>http://127.0.0.1/news/{path}</link>"
        f"<description>{description}</description>"
        "<pubDate>Mon, 12 May 2025 08:00:00 GMT</pubDate></item>"
    )


def billion_laughs() -> bytes:
    """Ten levels of ten-fold entity references: 10^10 "lol"s if a parser expanded them."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 11)
    ]
    return rss(item("&lol10;", "laughs.html", "&lol10;"), f"<!DOCTYPE rss [{''.join(levels)}]>")


def xxe_file(secret_file: Path) -> bytes:
    prolog = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'
    return rss(item("Quay &xxe; news", "xxe-file.html", "Summary &xxe;"), prolog)


def xxe_http(outside: FixtureServer) -> bytes:
    prolog = (
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{outside.url("/entity")}">'
        f'<!ENTITY % remote SYSTEM "{outside.url("/remote.dtd")}"> %remote;]>'
    )
    return rss(item("Harbour &xxe; news", "xxe-http.html", "&xxe;"), prolog)


def deflate_bomb() -> bytes:
    return zlib.compress(b"\0" * (64 * 1024 * 1024), 9)


def content_length_lie(handler) -> None:
    """Claims 5 GB, then sends a small feed slowly: the client must refuse on the header."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(5 * 1024**3))
    handler.end_headers()
    handler.wfile.write(rss(item("Harbour", "lie.html")))


def redirect_chain(prefix: str, hops: int) -> dict:
    """/{prefix}0 -> /{prefix}1 -> ... -> /{prefix}{hops}, which serves a feed."""
    routes = {
        f"/{prefix}{n}": static(b"", "text/plain", 302, {"Location": f"/{prefix}{n + 1}"})
        for n in range(hops)
    }
    routes[f"/{prefix}{hops}"] = static(rss(item(f"Chain {prefix}", f"{prefix}.html")))
    return routes


# A feed declaring UTF-8 whose items mix UTF-8, Latin-1 and invalid bytes.
MIXED_ENCODING = rss(item("Caf\u00e9 opens", "cafe-utf8.html")).replace(
    b"</channel>",
    item("Cafe second", "cafe-latin1.html").encode().replace(b"Cafe", b"Caf\xe9") +
    item("Broken third", "broken.html").encode().replace(b"Broken", b"Bro\xff\xfeken") + b"</channel>",
)
UNKNOWN_CHARSET = rss(item("Harbour charset", "charset.html")).replace(b"utf-8", b"x-no-such-charset")
UTF16_FEED = rss(item("Harbour in UTF-16", "utf16.html")).decode().replace(
    'encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")


@pytest.fixture
def outside() -> Iterator[FixtureServer]:
    """127.0.0.5 is outside every allow-list here: it must never receive a request."""
    routes = {
        "/entity": static(SECRET_MARKER.encode(), "text/plain"),
        "/remote.dtd": static(f'<!ENTITY xxe "{SECRET_MARKER}">'.encode(), "application/xml-dtd"),
        "/feed.xml": static(rss(item(SECRET_MARKER, "outside.html"))),
    }
    with FixtureServer("127.0.0.5", routes) as server:
        yield server


def feed_settings(tmp_path: Path, **overrides: object):
    values: dict[str, object] = {"max_feed_bytes": 1024 * 1024, "total_timeout": 5.0, "read_timeout": 3.0}
    return make_settings(tmp_path / "home", **(values | overrides))


FEED_EXPECTED = {
    "/laughs.xml": None,
    "/xxe-file.xml": None,
    "/xxe-http.xml": None,
    "/deflate-bomb.xml": ErrorClass.TOO_LARGE,
    "/raw-deflate-bomb.xml": ErrorClass.TOO_LARGE,
    "/length-lie.xml": ErrorClass.TOO_LARGE,
    "/mixed-encoding.xml": None,
    "/unknown-charset.xml": None,
    "/utf16.xml": None,
    "/short0": None,  # three hops, under the limit of five
    "/long0": ErrorClass.REDIRECTS,  # seven hops
    "/metadata.xml": ErrorClass.BLOCKED_ADDRESS,  # redirect to 169.254.169.254
    "/outside.xml": ErrorClass.BLOCKED_ADDRESS,  # redirect to 127.0.0.5
}
BUSY_ROUTES = {"/busy.xml": static(b"maintenance", "text/plain", 503, {"Retry-After": "600"})}


def test_hostile_feeds_end_in_their_class_within_caps_and_the_run_goes_on(
    tmp_path: Path, outside: FixtureServer
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_MARKER)
    bomb = deflate_bomb()
    routes = {
        "/laughs.xml": static(billion_laughs()),
        "/xxe-file.xml": static(xxe_file(secret_file)),
        "/xxe-http.xml": static(xxe_http(outside)),
        "/deflate-bomb.xml": static(bomb, headers={"Content-Encoding": "deflate"}),
        "/raw-deflate-bomb.xml": static(bomb[2:-4], headers={"Content-Encoding": "deflate"}),
        "/length-lie.xml": content_length_lie,
        "/mixed-encoding.xml": static(MIXED_ENCODING, "application/rss+xml; charset=utf-8"),
        "/unknown-charset.xml": static(UNKNOWN_CHARSET, "application/rss+xml; charset=x-no-such-charset"),
        "/utf16.xml": static(UTF16_FEED, "application/rss+xml"),
        "/metadata.xml": static(b"", "text/plain", 302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/outside.xml": static(b"", "text/plain", 302, {"Location": outside.url("/feed.xml")}),
        **redirect_chain("short", 3),
        **redirect_chain("long", 7),
    }
    settings = feed_settings(tmp_path)
    catalog = open_catalog(settings)
    # The 503 comes from its own host: its Retry-After holds back every request to that host.
    with FixtureServer("127.0.0.1", routes) as server, FixtureServer("127.0.0.1", BUSY_ROUTES) as busy:
        urls = [server.url(path) for path in FEED_EXPECTED] + [busy.url("/busy.xml")]
        catalog.sync_registry(FeedSource(name=url, url=url) for url in urls)
        outcomes = {}
        started = time.monotonic()
        summary = poll_feeds(
            settings, catalog, catalog.feeds(), workers=4,
            on_done=lambda o: outcomes.__setitem__(o.feed_url.split("/", 3)[3], o),
        )
        elapsed = time.monotonic() - started
        # Retry-After on 503 is respected: the feed is not due again, and a new request to
        # that host is held back locally instead of reaching the server.
        assert busy.url("/busy.xml") not in {f.url for f in catalog.feeds(due_before=utcnow())}
        with HttpClient(settings, catalog.engine) as client, pytest.raises(StorylineError) as held:
            client.fetch(busy.url("/busy.xml"), max_bytes=1024)
        assert held.value.error_class is ErrorClass.HTTP_429
        assert busy.requests["/busy.xml"] == 1
        requests = dict(server.requests)
    assert outcomes.pop("busy.xml").error_class is ErrorClass.HTTP_5XX
    outcomes = {f"/{path}": outcome for path, outcome in outcomes.items()}
    for path, expected in FEED_EXPECTED.items():
        outcome = outcomes[path]
        if expected is None:
            assert outcome.status is PollStatus.OK, (path, outcome)
        else:
            assert outcome.error_class is expected, (path, outcome)
    assert summary.feeds == len(FEED_EXPECTED) + 1
    # Every case is bounded by the caps, not by the attacker: no case took a timeout.
    assert elapsed < 4 * settings.total_timeout, elapsed
    assert requests["/laughs.xml"] == 1
    # Five redirects are followed (long0 .. long5 requested); the sixth is refused unrequested.
    assert requests["/long5"] == 1 and "/long6" not in requests, "stops at the redirect limit"
    assert outside.requests.total() == 0, "a refused address received a request"

    entries = {row.url.rsplit("/", 1)[1]: row for row in catalog.entries()}
    for row in entries.values():
        assert SECRET_MARKER not in row.title + row.summary, "an external entity was resolved"
        assert len(row.title) < 1000 and len(row.summary) < 6000, "an entity was expanded"
    assert {"laughs.html", "xxe-file.html", "xxe-http.html", "cafe-utf8.html", "charset.html",
            "utf16.html", "short.html"} <= set(entries)
    assert entries["cafe-utf8.html"].title == "Caf\u00e9 opens"
    assert entries["utf16.html"].title == "Harbour in UTF-16"
    for name in ("cafe-latin1.html", "broken.html"):  # decoded somehow, never a crash
        if name in entries:
            assert entries[name].title.strip()


# In a fresh process, so its peak memory is this fetch's and not the test runner's history.
BOMB_FETCH = """
import json, sys
from pipeline.catalog import open_catalog
from pipeline.errors import StorylineError
from pipeline.http import HttpClient
from pipeline.settings import Settings
from tests.support.memory import peak_rss_mib
settings = Settings.model_validate_json(sys.argv[1])
catalog = open_catalog(settings)
with HttpClient(settings, catalog.engine) as client:
    client.fetch(sys.argv[2], max_bytes=4 * 1024)  # warm-up: imports and pools, small body
    before = peak_rss_mib()
    try:
        client.fetch(sys.argv[3], max_bytes=1024 * 1024)
        outcome = "stored"
    except StorylineError as error:
        outcome = error.error_class.value
print(json.dumps({"outcome": outcome, "grown_mib": peak_rss_mib() - before}))
"""


def test_deflate_bomb_stops_at_the_cap_in_bounded_memory(tmp_path: Path) -> None:
    """64 MB of zeros in ~64 KB: decoding stops at the cap (1 MB), not at the end of the bomb."""
    import json
    import subprocess
    import sys

    bomb = deflate_bomb()
    routes = {"/b": static(bomb, headers={"Content-Encoding": "deflate"}), "/small": static(b"small")}
    with FixtureServer("127.0.0.1", routes) as server:
        settings = feed_settings(tmp_path)
        result = subprocess.run(
            [sys.executable, "-c", BOMB_FETCH, settings.model_dump_json(), server.url("/small"), server.url("/b")],
            capture_output=True, text=True, timeout=300, check=False, cwd=Path(__file__).resolve().parents[1],
        )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.splitlines()[-1])
    assert measured["outcome"] == ErrorClass.TOO_LARGE.value
    assert measured["grown_mib"] < 32, measured


# -- addresses outside the allow-list ---------------------------------------------------------------
def loopback_names() -> list[str]:
    """Names this machine resolves to loopback addresses (localhost, often its own hostname)."""
    names = []
    for name in ("localhost", socket.gethostname()):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except socket.gaierror:
            continue
        if addresses and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
            names.append(name)
    return names


@pytest.mark.parametrize("name", loopback_names())
def test_dns_answers_pointing_at_loopback_are_refused_unless_allowed(name: str) -> None:
    with pytest.raises(StorylineError) as caught:
        AddressGuard(["127.0.0.9"]).resolve(name, 80)  # allow-list holds only another address
    assert caught.value.error_class is ErrorClass.BLOCKED_ADDRESS
    assert AddressGuard([name]).resolve(name, 80)  # a name on the allow-list may
    assert AddressGuard(["127.0.0.0/8", "::1"]).resolve(name, 80)


def test_a_name_resolving_inside_is_refused_with_zero_requests(tmp_path: Path) -> None:
    with FixtureServer("127.0.0.1", {"/feed.xml": static(rss(""))}) as server:
        settings = make_settings(tmp_path / "home", allow_hosts=["127.0.0.9"])
        catalog = open_catalog(settings)
        with HttpClient(settings, catalog.engine) as client, pytest.raises(StorylineError) as caught:
            client.fetch(f"http://localhost:{server.port}/feed.xml", max_bytes=1024)
        assert caught.value.error_class is ErrorClass.BLOCKED_ADDRESS
        assert server.requests.total() == 0


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one decimal number
    "http://0xa9fea9fe/latest/meta-data/",  # ... and in hex
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://127.0.0.2/",  # loopback, but not the allow-listed 127.0.0.1
])
def test_internal_literal_addresses_are_refused_before_connecting(tmp_path: Path, url: str) -> None:
    settings = make_settings(tmp_path / "home", connect_timeout=1.0)
    catalog = open_catalog(settings)
    started = time.monotonic()
    with HttpClient(settings, catalog.engine) as client, pytest.raises(StorylineError) as caught:
        client.fetch(url, max_bytes=1024)
    assert caught.value.error_class is ErrorClass.BLOCKED_ADDRESS, caught.value
    assert time.monotonic() - started < settings.connect_timeout, "it tried to connect"


# -- TLS ----------------------------------------------------------------------------------------------
def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_self_signed_tls_server_is_a_tls_error_and_gets_no_request(tmp_path: Path) -> None:
    server = FixtureServer("127.0.0.1", {"/feed.xml": static(rss(item("TLS", "tls.html")))})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path))
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        settings = feed_settings(tmp_path)
        catalog = open_catalog(settings)
        url = f"https://127.0.0.1:{server.port}/feed.xml"
        catalog.sync_registry([FeedSource("tls", url)])
        summary = poll_feeds(settings, catalog, catalog.feeds())
        assert summary.errors == {"tls": 1}
        assert catalog.feed(url).error_class == "tls"
        assert server.requests.total() == 0


# -- pages ----------------------------------------------------------------------------------------------
PARAGRAPH = (
    "The harbour authority confirmed on Tuesday that the northern quay will reopen to cargo "
    "traffic next month after eighteen months of repairs to its storm-damaged wall. "
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
# 4 MB of article text in one page, just under the 5 MB page cap.
ENORMOUS = (
    "<html><head><title>Quay</title></head><body><article><h1>Quay</h1>"
    + "".join(f"<p>{PARAGRAPH} Section {n}.</p>" for n in range(20000))
    + "</article></body></html>"
).encode()
# 50,000 nested elements: deeper than lxml's default tree depth limit.
NESTED = (
    "<html><body><article><h1>Nested</h1>" + "<div>" * 50000 + PARAGRAPH * 3 + "</div>" * 50000
    + "</article></body></html>"
).encode()


def page_feed(urls: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Page {n}</title><link>{url}</link>"
        f"<pubDate>Mon, 12 May 2025 0{n}:00:00 GMT</pubDate></item>"
        for n, url in enumerate(urls)
    )
    return rss(items)


PAGE_EXPECTED = {
    "/photo.png": (EntryStatus.SKIPPED, "not_html"),
    "/blob.bin": (EntryStatus.SKIPPED, "not_html"),
    "/enormous.html": None,  # extracted, or refused by the extraction time cap: never stuck
    "/nested.html": None,
}


def test_hostile_pages_end_in_a_terminal_status_and_retry_after_is_kept(tmp_path: Path) -> None:
    routes = {
        "/photo.png": static(PNG, "image/png"),
        "/blob.bin": static(bytes(range(256)) * 1024, "application/octet-stream"),
        "/enormous.html": static(ENORMOUS, "text/html; charset=utf-8"),
        "/nested.html": static(NESTED, "text/html; charset=utf-8"),
    }
    # Its own host: a Retry-After holds back every request to the host that sent it.
    busy_routes = {"/busy.html": static(b"later", "text/plain", 429, {"Retry-After": "3000"})}
    with FixtureServer("127.0.0.1", routes) as server, FixtureServer("127.0.0.1", busy_routes) as busy_server:
        urls = [server.url(path) for path in PAGE_EXPECTED] + [busy_server.url("/busy.html")]
        server.routes["/feed.xml"] = static(page_feed(urls))
        settings = make_settings(tmp_path / "home", extract_timeout=20.0)
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("pages", server.url("/feed.xml"))])
        poll_batch(settings, [server.url("/feed.xml")], catalog=catalog)
        (batch,) = plan_fetch_batches(settings, catalog=catalog)
        fetch_batch(settings, batch, catalog=catalog)
        # A second run straight away: the page that asked for 50 minutes is not asked again.
        fetch_batch(settings, batch, catalog=catalog)
        busy_requests = busy_server.requests["/busy.html"]
    rows = {row.url.rsplit("/", 1)[1]: row for row in catalog.entries()}
    busy = rows.pop("busy.html")
    rows = {f"/{name}": row for name, row in rows.items()}
    for path, expected in PAGE_EXPECTED.items():
        row = rows[path]
        if expected is None:
            assert row.status in {EntryStatus.EXTRACTED.value, EntryStatus.SKIPPED.value,
                                  EntryStatus.FAILED.value}, (path, row.status)
            assert row.status == EntryStatus.EXTRACTED.value or row.error_class in {
                "extract_timeout", "not_article", "extract_crash"}, (path, row.error_class)
        else:
            status, error_class = expected
            assert (row.status, row.error_class) == (status.value, error_class), path
    assert (busy.status, busy.error_class) == (EntryStatus.FAILED.value, "http_429")
    assert busy_requests == 1
    assert busy.next_attempt_at.replace(tzinfo=dt.UTC) >= utcnow() + dt.timedelta(seconds=2900), (
        "the page's retry honours Retry-After (the default back-off would be 15 minutes)"
    )


# -- a huge feed and injected markup -----------------------------------------------------------------
ENTRIES_IN_HUGE_FEED = 100_000


def huge_feed() -> bytes:
    items = "".join(
        f"<item><title>Notice {n}</title><link>http://127.0.0.1/n/{n}</link></item>"
        for n in range(ENTRIES_IN_HUGE_FEED)
    )
    return rss(items)


@pytest.mark.slow  # feedparser needs ~35 s for 7.7 MB of items on this machine
def test_a_feed_with_100k_entries_records_them_all(tmp_path: Path) -> None:
    body = huge_feed()
    with FixtureServer("127.0.0.1", {"/huge.xml": static(body)}) as server:
        settings = make_settings(tmp_path / "home", max_feed_bytes=len(body) + 1, total_timeout=60.0)
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("huge", server.url("/huge.xml"))])
        summary = poll_feeds(settings, catalog, catalog.feeds())
    assert summary.feeds_ok == 1, summary.as_dict()
    assert summary.entries_new == ENTRIES_IN_HUGE_FEED
    assert catalog.count_entries(EntryStatus.NEW) == ENTRIES_IN_HUGE_FEED


INJECTION_RSS = rss(
    item("&lt;script&gt;alert(1)&lt;/script&gt;Quay reopens", "script.html",
         "&lt;img src=x onerror=alert(2)&gt;Repairs done")
    + item("<![CDATA[<b>Bold</b> <iframe src=javascript:alert(3)></iframe>claim]]>", "cdata.html")
)
INJECTION_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom desk</title><id>urn:x</id>
<updated>2025-05-12T08:00:00Z</updated>
<entry><title type="text">&lt;script&gt;alert(4)&lt;/script&gt; literal</title>
<link href="http://127.0.0.1/news/atom-text.html"/><id>urn:a</id><updated>2025-05-12T08:00:00Z</updated></entry>
<entry><title type="html">&lt;svg onload=alert(5)&gt;Harbour&lt;/svg&gt;</title>
<link href="http://127.0.0.1/news/atom-html.html"/><id>urn:b</id><updated>2025-05-12T08:00:00Z</updated></entry>
</feed>"""


def test_titles_carrying_script_and_html_are_stored_as_text(tmp_path: Path) -> None:
    routes = {"/rss.xml": static(INJECTION_RSS), "/atom.xml": static(INJECTION_ATOM, "application/atom+xml")}
    with FixtureServer("127.0.0.1", routes) as server:
        settings = make_settings(tmp_path / "home")
        catalog = open_catalog(settings)
        catalog.sync_registry([FeedSource("rss", server.url("/rss.xml")), FeedSource("atom", server.url("/atom.xml"))])
        summary = poll_feeds(settings, catalog, catalog.feeds())
    assert summary.feeds_ok == 2
    rows = {row.url.rsplit("/", 1)[1]: row for row in catalog.entries()}
    # Fields the feed marks as HTML: markup is removed, only the words remain (script bodies
    # are dropped with their tags).
    assert rows["script.html"].summary == "Repairs done"
    assert rows["atom-html.html"].title == "Harbour"
    # Fields the feed marks as text (RSS titles, Atom type="text") are literal: kept verbatim
    # as text, never parsed, and escaped wherever they are shown.
    assert rows["script.html"].title == "<script>alert(1)</script>Quay reopens"
    assert rows["cdata.html"].title == "<b>Bold</b> <iframe src=javascript:alert(3)></iframe>claim"
    assert rows["atom-text.html"].title == "<script>alert(4)</script> literal"
    assert all("<" not in row.summary for row in rows.values())
