"""URL canonicalisation: one spelling per article, so ids (uuid5 of the URL) are stable."""

from __future__ import annotations

import re
import string
from urllib.parse import quote, unquote_plus, urljoin, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "ga_")
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "twclid", "igshid", "mc_cid",
        "mc_eid", "_ga", "_gl", "ocid", "cmpid", "ito", "ns_mchannel", "ns_source",
        "ns_campaign", "ns_linkname", "ns_fee", "at_medium", "at_campaign", "spm", "guccounter",
        "guce_referrer", "guce_referrer_sig", "smid", "sr_share", "rss", "taid", "xtor",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# Characters left unescaped (RFC 3986 pchar, plus "/" and "?" in queries). "%" is listed so
# existing escapes survive quote(); lone "%" signs are escaped before.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$&'()*+,;=-._~%"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _is_tracking(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _decode_if_unreserved(match: re.Match[str]) -> str:
    character = chr(int(match.group(1), 16))
    return character if character in _UNRESERVED else match.group(0).upper()


def _normalise_escapes(part: str, safe: str) -> str:
    """RFC 3986 section 6.2.2: decode escaped unreserved characters, upper-case other escapes,
    escape what may not appear raw. An escaped reserved character ("%2F", "%2B") keeps its
    escape: decoding it would change what the URL means."""
    part = _ESCAPE.sub(_decode_if_unreserved, _LONE_PERCENT.sub("%25", part))
    return quote(part, safe=safe)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: "/a/./b/../c" -> "/a/c"."""
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in {".", ".."}:
        kept.append("")  # "/a/b/.." names the directory "/a/"
    return "/" + "/".join(kept)


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Resolve ``url`` against ``base``; drop trackers, fragment, default port, credentials and
    dot segments; lower-case scheme and host; normalise percent-escapes.

    Idempotent: canonicalize_url(canonicalize_url(u)) == canonicalize_url(u). Never raises:
    input that is not a parseable URL is returned stripped (the caller's validation rejects it).
    """
    try:
        url = url.strip()
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        try:
            host = host.encode("idna").decode("ascii") if host else host
        except UnicodeError:
            pass
        host = host.lower()
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        port = parts.port
        netloc = host
        if port is not None and port != _DEFAULT_PORTS.get(scheme):
            netloc = f"{host}:{port}"
        path = _normalise_escapes(parts.path, _PATH_SAFE)
        if path.startswith("/"):
            path = _remove_dot_segments(path)
        elif netloc:
            path = "/" + path
        query = "&".join(
            _normalise_escapes(pair, _QUERY_SAFE)
            for pair in parts.query.split("&")
            if pair and not _is_tracking(pair.split("=", 1)[0])
        )
        return urlunsplit((scheme, netloc, path, query, ""))
    except ValueError:
        return url.strip()
