"""canonicalize_url: properties over generated URLs, plus a few worked examples."""

from __future__ import annotations

import string
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pipeline.urls import canonicalize_url

TRACKERS = ["utm_source", "utm_medium", "UTM_Campaign", "utm_content", "fbclid", "gclid"]

_label = st.text(
    alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12
).filter(lambda label: not label.startswith("-") and not label.endswith("-"))
_unicode_label = st.text(alphabet="abcxyzäöüßéñçøåжфя中文日本", min_size=1, max_size=8)
hosts = st.lists(st.one_of(_label, _unicode_label), min_size=1, max_size=4).map(".".join)
ports = st.one_of(st.none(), st.sampled_from([80, 443]), st.integers(min_value=1, max_value=65535))
_path_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="?#"),
    max_size=12,
)
_tricky_segments = st.sampled_from([".", "..", "%2F", "%7e", "%41", "100%"])
paths = st.lists(st.one_of(_path_text, _tricky_segments), max_size=5).map(
    lambda segments: "/" + "/".join(segments)
)
# No tracking parameter starts with "k", so these names are always kept.
_param_name = st.text(alphabet="abcdefgh0123456789_", max_size=6).map(lambda name: f"k{name}")
_param_value = st.text(alphabet="abcXYZ0189-_.~ +%äé/?:@", max_size=8)
params = st.lists(st.tuples(_param_name, _param_value), max_size=4)
trackers = st.lists(st.tuples(st.sampled_from(TRACKERS), _param_value), max_size=3)
fragments = st.one_of(st.none(), st.text(max_size=10))


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A URL-ish string and the non-tracking query pairs it carries, in order."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(hosts)
    port = draw(ports)
    kept = draw(params)
    tracking = draw(trackers)
    pairs = list(kept)
    for tracker in tracking:  # trackers land anywhere in the query
        pairs.insert(draw(st.integers(min_value=0, max_value=len(pairs))), tracker)
    query = "&".join(f"{name}={value.replace('&', '').replace('#', '')}" for name, value in pairs)
    fragment = draw(fragments)
    url = f"{scheme}://{host}{f':{port}' if port is not None else ''}{draw(paths)}"
    if query:
        url += f"?{query}"
    if fragment is not None:
        url += f"#{fragment}"
    return url, kept


@given(st.text(), st.one_of(st.none(), st.text()))
@example("http://[::1", None)
@example("http://example.com:99999/", None)
@example("%", "http://example.com/")
def test_never_raises_on_arbitrary_text(text: str, base: str | None) -> None:
    assert isinstance(canonicalize_url(text, base=base), str)


@given(st.text())
def test_idempotent_on_arbitrary_text(text: str) -> None:
    once = canonicalize_url(text)
    assert canonicalize_url(once) == once


@settings(max_examples=300)
@given(urls())
def test_idempotent_on_generated_urls(generated: tuple[str, list[tuple[str, str]]]) -> None:
    once = canonicalize_url(generated[0])
    assert canonicalize_url(once) == once


@settings(max_examples=300)
@given(urls())
def test_structure_of_canonical_form(generated: tuple[str, list[tuple[str, str]]]) -> None:
    url, kept = generated
    canonical = canonicalize_url(url)
    parts = urlsplit(canonical)
    assert parts.scheme in {"http", "https"}
    assert parts.fragment == "" and "#" not in canonical
    assert parts.hostname == parts.hostname.lower()
    assert parts.hostname.isascii()  # IDNA (punycode) for unicode hosts
    assert parts.port != {"http": 80, "https": 443}[parts.scheme]
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    assert not any(name.lower().startswith("utm_") or name in {"fbclid", "gclid"} for name in names)
    assert names == [name for name, _ in kept]  # non-tracking params kept, in order


def _decoded_query(url: str) -> list[tuple[str, str]]:
    # surrogateescape keeps bytes that are not UTF-8 distinct instead of replacing them.
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True, errors="surrogateescape")
    return [(name, value) for name, value in pairs if name.startswith("k")]


def _decoded_segments(url: str) -> list[str]:
    return [unquote(segment, errors="surrogateescape") for segment in urlsplit(url).path.split("/")]


@settings(max_examples=300)
@given(urls())
@example(("https://example.test/a%2Fb?k=1%2B1&k2=%FF", [("k", "1+1"), ("k2", "\udcff")]))
def test_meaning_is_preserved(generated: tuple[str, list[tuple[str, str]]]) -> None:
    """Same path segments and query values, byte for byte, once escapes are decoded."""
    url = generated[0].strip()  # surrounding whitespace is not part of a URL
    assume(not {".", ".."} & set(urlsplit(url).path.split("/")))
    canonical = canonicalize_url(url)
    assert _decoded_query(canonical) == _decoded_query(url)
    assert _decoded_segments(canonical) == _decoded_segments(url)


@given(urls())
def test_default_port_is_dropped(generated: tuple[str, list[tuple[str, str]]]) -> None:
    parts = urlsplit(generated[0])
    default = 443 if parts.scheme.lower() == "https" else 80
    with_default = generated[0].replace(parts.netloc, f"{parts.hostname}:{default}", 1)
    without_port = generated[0].replace(parts.netloc, parts.hostname, 1)
    assert canonicalize_url(with_default) == canonicalize_url(without_port)


@given(
    # A leading "//" would name another host (a scheme-relative link, tested below).
    st.text(alphabet="abcxyz0189-_/.", min_size=1, max_size=20).filter(
        lambda link: not link.startswith("//")
    ),
    st.sampled_from(["https://news.example.test/world/", "http://Example.TEST:8080/a/b.xml"]),
)
def test_relative_links_resolve_against_base(relative: str, base: str) -> None:
    resolved = canonicalize_url(relative, base=base)
    base_parts, parts = urlsplit(base), urlsplit(resolved)
    assert parts.scheme == base_parts.scheme
    assert parts.netloc == base_parts.netloc.lower()
    assert canonicalize_url(resolved) == resolved


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "HTTPS://News.Example.TEST:443/world/story?utm_source=rss&id=7&fbclid=x#comments",
            "https://news.example.test/world/story?id=7",
        ),
        ("http://example.test:80", "http://example.test/"),
        ("http://example.test:8080/a", "http://example.test:8080/a"),
        ("https://example.test/a/./b/../c", "https://example.test/a/c"),
        ("https://example.test/%7euser/%e2%82%ac", "https://example.test/~user/%E2%82%AC"),
        ("https://example.test/caf\u00e9", "https://example.test/caf%C3%A9"),
        ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),
        # Escaped reserved characters mean something else than the raw ones: kept.
        ("https://example.test/a%2Fb?q=1%2B1", "https://example.test/a%2Fb?q=1%2B1"),
        ("https://example.test/?b=2&a=1&gclid=z&a=0", "https://example.test/?b=2&a=1&a=0"),
        ("https://user:secret@example.test/x", "https://example.test/x"),
    ],
)
def test_examples(raw: str, canonical: str) -> None:
    assert canonicalize_url(raw) == canonical


def test_relative_link_example() -> None:
    base = "https://feeds.example.test/news/rss.xml"
    assert canonicalize_url("../world/story-1?utm_medium=feed", base=base) == (
        "https://feeds.example.test/world/story-1"
    )
    assert canonicalize_url("//cdn.example.test/x", base=base) == "https://cdn.example.test/x"


def test_unparseable_input_comes_back_stripped() -> None:
    assert canonicalize_url("  http://[::1  ") == "http://[::1"
