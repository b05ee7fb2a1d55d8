"""The one HTTP layer for feeds and pages: safe (SSRF guard, caps) and polite (per host).

- Every connection goes through `GuardedNetworkBackend`, which resolves the host itself and
  connects only to addresses that are public or allow-listed. Because the check sits at the
  socket, it applies to every redirect hop and cannot be raced by a second DNS answer.
- Bodies are streamed and capped before and after decompression (we decode gzip/deflate
  ourselves with a bounded output, so a gzip bomb stops at the cap).
- Politeness (minimum delay and concurrency per host) is coordinated through the catalog, so
  every worker process shares it; robots.txt is honoured for article pages.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Self
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from sqlalchemy import Connection, Engine, Float, bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.catalog.schema import host_politeness, host_slots
from pipeline.catalog.store import retry_disconnects
from pipeline.errors import ErrorClass, StorylineError
from pipeline.settings import Settings

_REDIRECT_CODES = {301, 302, 303, 307, 308}


# -- SSRF guard ---------------------------------------------------------------------------
class AddressGuard:
    """Decides which resolved addresses may be contacted."""

    def __init__(self, allow: list[str]):
        self.allowed_hosts: set[str] = set()
        self.allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in allow:
            try:
                self.allowed_networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.allowed_hosts.add(item.lower().rstrip("."))

    def is_allowed(self, host: str, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return True
        if host.lower().rstrip(".") in self.allowed_hosts:
            return True
        return any(ip in network for network in self.allowed_networks)

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return the addresses we may connect to (or raise)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise StorylineError(ErrorClass.DNS, f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        # Any refused address refuses the host: a name that also points inside is suspect.
        refused = [a for a in addresses if not self.is_allowed(host, a)]
        if refused:
            raise StorylineError(
                ErrorClass.BLOCKED_ADDRESS, f"{host} resolves to a refused address {refused[0]}"
            )
        return addresses


class GuardedNetworkBackend(httpcore.SyncBackend):
    def __init__(self, guard: AddressGuard):
        self.guard = guard

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error: Exception | None = None
        for address in self.guard.resolve(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


# -- politeness ---------------------------------------------------------------------------
class FairGate:
    """At most ``limit`` threads inside at once, admitted strictly in arrival order.

    The catalog's slots are claimed by polling, which lets a thread that has just released a
    slot take it again at once: with more threads than slots, one thread held a host for a
    whole run while the others waited until their deadline. Queueing here first keeps the
    wait of each request to its place in line."""

    def __init__(self, limit: int):
        self._limit = limit
        self._inside = 0
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def admitted(self, timeout: float) -> Iterator[bool]:
        """Yields whether this thread got in before ``timeout`` seconds passed."""
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            admitted = self._changed.wait_for(
                lambda: self._waiting[0] is ticket and self._inside < self._limit, max(0.0, timeout)
            )
            self._waiting.remove(ticket)
            self._inside += admitted
            self._changed.notify_all()
        try:
            yield admitted
        finally:
            if admitted:
                with self._changed:
                    self._inside -= 1
                    self._changed.notify_all()


class Politeness:
    """Per-host minimum delay and concurrency, shared by all processes through the catalog
    (and, within one process, queued first come first served)."""

    def __init__(self, engine: Engine, *, min_delay: float, max_concurrency: int, lease: float = 120.0):
        self.engine = engine
        self.min_delay = min_delay
        self.max_concurrency = max(1, max_concurrency)
        self.lease = lease
        self._hosts_with_rows: set[str] = set()  # rows are never deleted
        self._gates: defaultdict[str, FairGate] = defaultdict(lambda: FairGate(self.max_concurrency))
        self._gates_lock = threading.Lock()

    @retry_disconnects
    def _ensure_rows(self, host: str) -> None:
        if host in self._hosts_with_rows:
            return
        self._create_rows(host)
        self._hosts_with_rows.add(host)

    def _create_rows(self, host: str) -> None:
        with self.engine.begin() as connection:
            if connection.execute(
                select(host_politeness.c.host).where(host_politeness.c.host == host)
            ).first() is not None:
                return
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(host_politeness).values(host=host, next_start_at=0.0))
                for slot in range(self.max_concurrency):
                    connection.execute(insert(host_slots).values(host=host, slot=slot, lease_until=0.0))
        except IntegrityError:
            pass  # another process created them first

    @contextmanager
    def slot(self, host: str, deadline: float) -> Iterator[int]:
        """Hold one of the host's slots (its number is yielded) from its reserved start time."""
        with self._gates_lock:
            gate = self._gates[host]
        with gate.admitted(deadline - time.time()) as admitted:
            if not admitted:
                raise _no_slot_in_time(host)
            self._ensure_rows(host)
            slot, start_at = self._acquire_slot(host, deadline)
            try:
                self._wait_for_turn(host, start_at, deadline)
                yield slot
            finally:
                self._release(host, slot)

    @retry_disconnects
    def _release(self, host: str, slot: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(_RELEASE_SLOT, {"slot_host": host, "slot_number": slot})

    @retry_disconnects
    def _acquire_slot(self, host: str, deadline: float) -> tuple[int, float]:
        """Take a free slot and, in the same transaction, reserve the host's next start time:
        (slot, when this request may start)."""
        while True:
            now = time.time()
            with self.engine.begin() as connection:
                claim = {"slot_host": host, "now": now, "until": now + self.lease, "owner": _slot_owner()}
                slot = connection.execute(_CLAIM_FREE_SLOT, claim).scalar()
                if slot is None:
                    slot = self._claim_slot_of_dead_owner(connection, claim)
                if slot is not None:
                    return slot, self._reserve_start(connection, host)
            if now > deadline:
                raise _no_slot_in_time(host)
            time.sleep(0.05)

    def _claim_slot_of_dead_owner(self, connection: Connection, claim: dict[str, object]) -> int | None:
        """No slot's lease has expired: take one whose holder on this machine has died."""
        dead = _dead_owners(connection.execute(
            select(host_slots.c.owner).where(host_slots.c.host == claim["slot_host"],
                                             host_slots.c.lease_until >= claim["now"])
        ).scalars())
        for slot in range(self.max_concurrency) if dead else ():
            taken = connection.execute(
                update(host_slots)
                .where(host_slots.c.host == claim["slot_host"], host_slots.c.slot == slot,
                       host_slots.c.owner.in_(dead))
                .values(lease_until=claim["until"], owner=claim["owner"])
            ).rowcount
            if taken:
                return slot
        return None

    def _reserve_start(self, connection: Connection, host: str) -> float:
        """Atomically move the host's next start time on by the minimum delay; returns ours."""
        next_start_at = connection.execute(
            _RESERVE_START, {"start_host": host, "now": time.time(), "delay": self.min_delay}
        ).scalar_one()
        return next_start_at - self.min_delay

    @staticmethod
    def _wait_for_turn(host: str, start_at: float, deadline: float) -> None:
        wait = start_at - time.time()
        if wait > 0:
            if time.time() + wait > deadline:
                raise StorylineError(
                    ErrorClass.HTTP_429, f"{host} asked us to wait {wait:.0f}s", retry_after=wait
                )
            time.sleep(wait)

    @retry_disconnects
    def back_off(self, host: str, seconds: float) -> None:
        """Honour Retry-After: no process starts a request to ``host`` before then."""
        self._ensure_rows(host)
        until = time.time() + seconds
        with self.engine.begin() as connection:
            connection.execute(
                update(host_politeness)
                .where(host_politeness.c.host == host, host_politeness.c.next_start_at < until)
                .values(next_start_at=until)
            )


# Every request runs these, so they are built once (building a statement cost more than
# running it on SQLite). A free slot is claimed in one statement: the lowest-numbered one
# whose lease has expired. The outer condition on the lease is checked again against a row
# another transaction updated first (PostgreSQL), so two claims never share a slot.
_FREE_SLOTS = (host_slots.c.host == bindparam("slot_host")) & (host_slots.c.lease_until < bindparam("now"))
_CLAIM_FREE_SLOT = (
    update(host_slots)
    .where(_FREE_SLOTS, host_slots.c.slot == select(host_slots.c.slot).where(_FREE_SLOTS)
           .order_by(host_slots.c.slot).limit(1).scalar_subquery())
    .values(lease_until=bindparam("until"), owner=bindparam("owner"))
    .returning(host_slots.c.slot)
)
_RELEASE_SLOT = (
    update(host_slots)
    .where(host_slots.c.host == bindparam("slot_host"), host_slots.c.slot == bindparam("slot_number"))
    .values(lease_until=0.0)
)
_START_NOW = bindparam("now", type_=Float)
_RESERVE_START = (
    update(host_politeness)
    .where(host_politeness.c.host == bindparam("start_host"))
    .values(next_start_at=case(
        (host_politeness.c.next_start_at > _START_NOW, host_politeness.c.next_start_at), else_=_START_NOW,
    ) + bindparam("delay", type_=Float))
    .returning(host_politeness.c.next_start_at)
)


def _no_slot_in_time(host: str) -> StorylineError:
    return StorylineError(ErrorClass.TIMEOUT, f"no politeness slot for {host} in time")


# Who holds a slot: a lease whose holder died on this machine (kill -9) is free at once,
# instead of blocking the host until the lease expires.
def _slot_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # at call time: forked workers differ


def _dead_owners(owners: Iterable[str | None]) -> list[str]:
    dead = []
    for owner in set(owners):
        machine, _, pid = (owner or "").rpartition(":")
        if machine != socket.gethostname() or not pid.isdigit():
            continue  # another machine's process: only its lease expiry frees the slot
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass  # alive, owned by another user
    return dead


# -- responses ------------------------------------------------------------------------------
@dataclass
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int  # 200 or 304
    headers: httpx.Headers
    body: bytes = b""
    redirects: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip('"') or None
        return None


def parse_retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, cap))


class _BoundedDecoder:
    """gzip/deflate decoding whose output can never exceed ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int):
        self.limit = limit
        self.produced = 0
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._decoder = None
        elif encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise StorylineError(ErrorClass.PARSE, f"unsupported content-encoding {encoding!r}")
        # Some servers send raw deflate without the zlib header: retry the first chunk raw.
        self._raw_fallback = encoding == "deflate"
        self._first = True

    def feed(self, chunk: bytes) -> bytes:
        if self._decoder is None:
            out = chunk
        else:
            try:
                out = self._decoder.decompress(chunk, self.limit - self.produced + 1)
            except zlib.error:
                if not (self._first and self._raw_fallback):
                    raise StorylineError(ErrorClass.PARSE, "corrupt compressed body") from None
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._decoder.decompress(chunk, self.limit - self.produced + 1)
            if self._decoder.unconsumed_tail:
                raise StorylineError(ErrorClass.TOO_LARGE, "decompressed body exceeds the cap")
        self._first = False
        self.produced += len(out)
        if self.produced > self.limit:
            raise StorylineError(ErrorClass.TOO_LARGE, f"body exceeds {self.limit} bytes")
        return out


# -- the client -----------------------------------------------------------------------------
class HttpClient:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.guard = AddressGuard(settings.allow_hosts)
        self.politeness = Politeness(
            engine,
            min_delay=settings.host_min_delay,
            max_concurrency=settings.host_max_concurrency,
        )
        transport = httpx.HTTPTransport(trust_env=False, retries=0)
        # httpx has no public hook for the network backend; the guard must sit at the socket.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=10,
            network_backend=GuardedNetworkBackend(self.guard),
        )
        self._client = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.read_timeout,
            ),
            headers={
                "User-Agent": settings.user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
        )
        self._robots: dict[str, tuple[float, RobotFileParser | None]] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        headers: dict[str, str] | None = None,
        check_robots: bool = False,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET ``url`` following redirects safely; raise StorylineError on any failure."""
        deadline = time.monotonic() + self.settings.total_timeout
        wall_deadline = time.time() + self.settings.total_timeout
        current = url
        seen: list[str] = []
        request_headers = {"Accept": accept, **(headers or {})}
        while True:
            parts = urlsplit(current)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise StorylineError(ErrorClass.PARSE, f"not an http(s) URL: {current[:200]}")
            if check_robots and not self._robots_allows(current):
                raise StorylineError(ErrorClass.ROBOTS, f"robots.txt disallows {current}")
            status, response_headers, body = self._request(
                current, request_headers, max_bytes, deadline, wall_deadline
            )
            if status in _REDIRECT_CODES:
                location = response_headers.get("location")
                if not location:
                    raise StorylineError(ErrorClass.HTTP_4XX, f"redirect without Location from {current}")
                seen.append(current)
                target = urljoin(current, location)
                if target in seen:
                    raise StorylineError(ErrorClass.REDIRECTS, f"redirect loop at {target}")
                if len(seen) > self.settings.max_redirects:
                    raise StorylineError(
                        ErrorClass.REDIRECTS, f"more than {self.settings.max_redirects} redirects"
                    )
                # Validators belong to the first URL only.
                request_headers = {"Accept": accept}
                current = target
                continue
            return FetchResult(url, current, status, response_headers, body, seen)

    def _request(
        self, url: str, headers: dict[str, str], max_bytes: int, deadline: float, wall_deadline: float
    ) -> tuple[int, httpx.Headers, bytes]:
        host = (urlsplit(url).hostname or "").lower()
        port = urlsplit(url).port
        politeness_key = f"{host}:{port}" if port else host
        with self.politeness.slot(politeness_key, wall_deadline):
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in (429, 503):
                        retry_after = parse_retry_after(
                            response.headers.get("retry-after"), self.settings.retry_after_cap
                        )
                        if retry_after:
                            self.politeness.back_off(politeness_key, retry_after)
                        error_class = ErrorClass.HTTP_429 if status == 429 else ErrorClass.HTTP_5XX
                        raise StorylineError(
                            error_class, f"HTTP {status} from {url}", retry_after=retry_after,
                            status=status,
                        )
                    if status >= 400:
                        error_class = ErrorClass.HTTP_5XX if status >= 500 else ErrorClass.HTTP_4XX
                        raise StorylineError(error_class, f"HTTP {status} from {url}", status=status)
                    if status in _REDIRECT_CODES or status == 304:
                        return status, response.headers, b""
                    return status, response.headers, self._read_capped(
                        response, max_bytes, deadline, url
                    )
            except StorylineError:
                raise
            except httpx.TimeoutException as exc:
                raise StorylineError(ErrorClass.TIMEOUT, f"{type(exc).__name__} for {url}") from exc
            except (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                if _is_tls_error(exc):
                    raise StorylineError(ErrorClass.TLS, f"TLS failure for {url}: {exc}") from exc
                raise StorylineError(ErrorClass.CONNECT, f"{type(exc).__name__} for {url}: {exc}") from exc
            except httpx.HTTPError as exc:
                raise StorylineError(ErrorClass.CONNECT, f"{type(exc).__name__} for {url}: {exc}") from exc

    def _read_capped(self, response: httpx.Response, max_bytes: int, deadline: float, url: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise StorylineError(ErrorClass.TOO_LARGE, f"Content-Length {declared} over cap for {url}")
        decoder = _BoundedDecoder(response.headers.get("content-encoding", ""), max_bytes)
        received = 0
        parts: list[bytes] = []
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > max_bytes:
                raise StorylineError(ErrorClass.TOO_LARGE, f"body over {max_bytes} bytes from {url}")
            if time.monotonic() > deadline:
                raise StorylineError(
                    ErrorClass.TIMEOUT, f"total time over {self.settings.total_timeout}s for {url}"
                )
            parts.append(decoder.feed(chunk))
        return b"".join(parts)

    # -- robots.txt ------------------------------------------------------------------------
    def _robots_allows(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.monotonic()
        cached = self._robots.get(origin)
        if cached is None or cached[0] < now:
            cached = (now + self.settings.robots_cache_ttl, self._load_robots(origin))
            self._robots[origin] = cached
        parser = cached[1]
        return parser is None or parser.can_fetch(self.settings.user_agent, url)

    def _load_robots(self, origin: str) -> RobotFileParser | None:
        """None means "no rules" (RFC 9309: a 4xx robots.txt allows everything)."""
        parser = RobotFileParser()
        try:
            result = self.fetch(f"{origin}/robots.txt", max_bytes=512 * 1024)
        except StorylineError as exc:
            if exc.error_class is ErrorClass.BLOCKED_ADDRESS:
                raise  # the page itself is refused; robots.txt has nothing to say about it
            if exc.error_class is ErrorClass.HTTP_4XX:
                return None
            # Unreachable or 5xx: RFC 9309 says assume complete disallow, for now (cached TTL).
            parser.parse(["User-agent: *", "Disallow: /"])
            return parser
        parser.parse(result.body.decode("utf-8", "replace").splitlines())
        return parser


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "SSL" in text or "CERTIFICATE" in text.upper()
