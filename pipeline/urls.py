"""URL canonicalisation: one spelling per article, so ids (uuid5 of the URL) are stable."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

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
# Characters left unescaped in paths and queries (RFC 3986 reserved + unreserved + '%').
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/:@!$'()*+,;?-._~%"


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _requote(part: str, safe: str) -> str:
    # unquote-then-quote gives one spelling for "%7e" / "~" / "%7E"; "%25" stays escaped.
    return quote(unquote(part, errors="surrogateescape"), safe=safe.replace("%", ""), errors="surrogateescape")


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Resolve ``url`` against ``base``; drop trackers, fragment, default port; lower-case host.

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
        path = _requote(parts.path, _PATH_SAFE) or ("/" if netloc else "")
        query_pairs = [
            (name, value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
            if not _is_tracking(name)
        ]
        query = urlencode(query_pairs, doseq=True, safe=_QUERY_SAFE.replace("%", ""))
        return urlunsplit((scheme, netloc, path, query, ""))
    except ValueError:
        return url.strip()
