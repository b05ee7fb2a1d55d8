"""The demo news site served on 127.0.0.1 with the standard library, for `make run` and tests.

    with DemoSite() as site:
        registry = site.registry_path(tmp_dir)   # TOML feed registry pointing at this server
        site.requests["/meridian-wire/feed.xml"] # how often a path was fetched

Feeds and pages answer conditional requests (ETag / Last-Modified -> 304) and are gzipped for
clients that accept it. Entries listed in ``withheld`` stay out of feeds (and their pages
answer 404) until ``publish(key)`` releases them, which changes that feed's body, ETag and
Last-Modified the way a real publication would.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pipeline.demo.content import (
    DemoArticle,
    FeedFormat,
    Outlet,
    PageKind,
    load_articles,
    load_outlets,
)
from pipeline.demo.render import (
    render_article_page,
    render_feed,
    render_index_page,
    render_paywall_page,
    render_robots,
    render_site_front,
)

RELATED_LIMIT = 4
REGISTRY_FILE = "demo-feeds.toml"
_HTML = "text/html; charset=utf-8"
_FEED_TYPES = {FeedFormat.RSS: "application/rss+xml", FeedFormat.ATOM: "application/atom+xml"}


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str
    last_modified: datetime
    etag: str
    status: int = 200


def _resource(
    body: str | bytes, content_type: str, last_modified: datetime, status: int = 200
) -> Resource:
    data = body.encode("utf-8") if isinstance(body, str) else body
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return Resource(data, content_type, last_modified, etag, status)


def _related(article: DemoArticle, visible: Sequence[DemoArticle]) -> list[DemoArticle]:
    """Same-outlet articles, the same story first, then the newest."""
    candidates = [
        other
        for other in visible
        if other.outlet == article.outlet
        and other.kind is PageKind.ARTICLE
        and other.key != article.key
        and other.canonical_path != article.canonical_path
    ]
    candidates.sort(key=lambda other: (other.story != article.story, -other.published.timestamp()))
    return candidates[:RELATED_LIMIT]


def _page_resource(
    article: DemoArticle, outlet: Outlet, visible: Sequence[DemoArticle], base_url: str
) -> Resource:
    modified = article.updated or article.published
    if article.kind is PageKind.INDEX:
        listed = [
            other
            for other in visible
            if other.outlet == outlet.slug
            and other.kind is PageKind.ARTICLE
            and other.section == article.section
        ]
        body = render_index_page(
            outlet,
            heading=article.title,
            intro=article.summary,
            page_path=article.path,
            articles=listed,
            base_url=base_url,
        )
        return _resource(body, _HTML, max([modified, *(other.published for other in listed)]))
    if article.paywalled:
        return _resource(
            render_paywall_page(article, outlet, base_url=base_url), _HTML, modified, 403
        )
    amp_path = None
    if article.kind is PageKind.ARTICLE:
        amp_path = next(
            (other.path for other in visible if other.duplicate_of == article.key), None
        )
    body = render_article_page(
        article, outlet, base_url=base_url, related=_related(article, visible), amp_path=amp_path
    )
    return _resource(body, _HTML, modified)


def build_resources(
    base_url: str,
    visible: Sequence[DemoArticle],
    feed_updated: Mapping[str, datetime],
) -> dict[str, Resource]:
    """Every path the site answers, for the entries currently published."""
    outlets = load_outlets()
    newest = max(article.published for article in visible)
    resources = {
        "/": _resource(render_site_front(outlets, base_url=base_url), _HTML, newest),
        "/robots.txt": _resource(render_robots(outlets), "text/plain; charset=utf-8", newest),
    }
    for outlet in outlets:
        entries = [article for article in visible if article.outlet == outlet.slug]
        dates = [article.published for article in entries]
        if outlet.slug in feed_updated:
            dates.append(feed_updated[outlet.slug])
        updated = max(dates, default=newest)
        feed_body = render_feed(outlet, entries, base_url=base_url, updated=updated)
        content_type = f"{_FEED_TYPES[outlet.feed_format]}; charset={outlet.feed_encoding}"
        resources[outlet.feed_path] = _resource(feed_body, content_type, updated)
        front = render_index_page(
            outlet,
            heading=outlet.name,
            intro=outlet.tagline,
            page_path=outlet.home_path,
            articles=[article for article in entries if article.kind is PageKind.ARTICLE],
            base_url=base_url,
        )
        resources[outlet.home_path] = _resource(front, _HTML, updated)
        for article in entries:
            resources[article.path] = _page_resource(article, outlet, visible, base_url)
    return resources


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag.removeprefix("W/") in candidates


def _not_modified(headers: Mapping[str, str], resource: Resource) -> bool:
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, resource.etag)
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return resource.last_modified.replace(microsecond=0) <= since
    return False


class _Handler(BaseHTTPRequestHandler):
    server: _DemoHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers: 40 ms per keep-alive response on loopback.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        # Every request of a keep-alive connection is answered in here, on this thread.
        started = time.thread_time()
        try:
            super().handle()
        finally:
            self.server.site.charge_serving_cpu(time.thread_time() - started)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests and `make run` stay quiet; counts live in DemoSite.requests

    def _respond(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        resource = self.server.site.resource_for(path)
        if resource is None:
            self._send(
                404, b"not found\n", {"Content-Type": "text/plain; charset=utf-8"}, send_body
            )
            return
        headers = {
            "Content-Type": resource.content_type,
            "Last-Modified": format_datetime(resource.last_modified.astimezone(UTC), usegmt=True),
            "Vary": "Accept-Encoding",
            "Cache-Control": "max-age=60",
        }
        if resource.status == 200:
            headers["ETag"] = resource.etag
            if _not_modified(self.headers, resource):
                self._send(304, b"", headers, send_body=False)
                return
        body = resource.body
        if _accepts_gzip(self.headers.get("Accept-Encoding")):
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
            if "ETag" in headers:
                headers["ETag"] = (
                    "W/" + resource.etag
                )  # a different byte sequence: weak, like nginx
        self._send(resource.status, body, headers, send_body)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status != 304:
            self.wfile.write(body)


class _DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: DemoSite):
        super().__init__(address, _Handler)
        self.site = site


def write_registry(directory: Path | str, feeds: Iterable[Mapping[str, object]]) -> Path:
    """A feed registry (TOML) in ``directory``: one ``[[feed]]`` table per mapping (name, url,
    language, tags; JSON strings and lists are valid TOML values). Returns its path."""
    lines: list[str] = []
    for feed in feeds:
        lines += ["[[feed]]", *(f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in feed.items()), ""]
    path = Path(directory) / REGISTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class DemoSite:
    """The six demo outlets on one local HTTP server, started on construction."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, withheld: Iterable[str] = ()):
        self._articles = load_articles()
        self._by_key = {article.key: article for article in self._articles}
        self._withheld = set(withheld)
        unknown = self._withheld - self._by_key.keys()
        if unknown:
            raise ValueError(f"unknown demo article keys: {sorted(unknown)}")
        self._feed_updated: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        # CPU seconds the server's threads spent on connections that have closed: benchmarks
        # running the site in their own process take the site's share out of the client's.
        self.serving_cpu_s = 0.0
        self._server = _DemoHTTPServer((host, port), self)
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._resources = self._build()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-site", daemon=True
        )
        self._thread.start()

    def _build(self) -> dict[str, Resource]:
        visible = [article for article in self._articles if article.key not in self._withheld]
        return build_resources(self.base_url, visible, self._feed_updated)

    def charge_serving_cpu(self, seconds: float) -> None:
        with self._lock:
            self.serving_cpu_s += seconds

    def resource_for(self, path: str) -> Resource | None:
        """The resource served at ``path`` (None: 404); counts the request."""
        with self._lock:
            self.requests[path] += 1
            return self._resources.get(path)

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def feed_urls(self) -> dict[str, str]:
        return {outlet.slug: self.url(outlet.feed_path) for outlet in load_outlets()}

    def publish(self, key: str) -> None:
        """Release a withheld entry: it appears in its feed and its page starts answering."""
        with self._lock:
            if key not in self._withheld:
                raise KeyError(f"{key!r} is not withheld")
            self._withheld.discard(key)
            outlet = self._by_key[key].outlet
            previous = self._resources[f"/{outlet}/feed.xml"].last_modified
            # Strictly later than before, at one-second HTTP-date resolution, so that a
            # client relying on If-Modified-Since alone still sees the change.
            now = datetime.now(UTC).replace(microsecond=0)
            self._feed_updated[outlet] = max(
                now, previous.replace(microsecond=0) + timedelta(seconds=1)
            )
            self._resources = self._build()

    def registry_path(self, directory: Path | str) -> Path:
        """Write a feed registry (TOML) for this server into ``directory`` and return its path."""
        return write_registry(directory, (
            {"name": outlet.name, "url": self.url(outlet.feed_path), "language": outlet.language,
             "tags": list(outlet.tags)}
            for outlet in load_outlets()
        ))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
