"""Article extraction from one HTML page: body, metadata, canonical URL and the article gates.

Body: trafilatura runs twice on one parsed tree, once with ``favor_precision`` and once with
its defaults. The precision pass is kept unless it looks like it cut real text (rule below);
measured on the shared benchmarks this beats plain trafilatura on both (docs/BENCHMARKS.md).

Everything here is pure and CPU-bound; trafilatura has no timeout and can leak memory, so
the pipeline runs ``extract_article`` inside :class:`pipeline.extraction.pool.ExtractorPool`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import htmldate
import trafilatura
from charset_normalizer import from_bytes
from lxml.html import HtmlElement

# The fetch layer caps downloads at Settings.max_page_bytes (5 MiB); this cap protects the
# parser from anything handed in directly (local files, URLs given to `storyline extract`).
MAX_HTML_BYTES = 5 * 1024 * 1024

# Keep the precision pass unless it kept under 60% of the default pass's text, grew it by more
# than half, or is shorter than 1500 characters (short pages lose real paragraphs to it).
# Tuned on the ScrapingHub and trafilatura evaluation sets together.
PRECISION_MIN_SHARE = 0.6
PRECISION_MAX_GROWTH = 1.5
PRECISION_MIN_CHARS = 1500

# Gates (see `_skip_reason`). An article body is at least 250 characters (about two short
# paragraphs); consent walls and error pages are only recognised on short texts so that an
# article merely mentioning cookies or a 404 is never skipped.
MIN_ARTICLE_CHARS = 250
SHORT_PAGE_CHARS = 1500
# A page whose extracted text is mostly link texts of the page is a list of teasers.
INDEX_LINK_SHARE = 0.6
MIN_TEASER_CHARS = 20

_CONSENT_RE = re.compile(
    r"cookie|consent|privacy (settings|preferences)|accept all|einwilligung|zustimm|"
    r"datenschutzeinstellungen|we value your privacy",
    re.IGNORECASE,
)
_ERROR_RE = re.compile(
    r"\b(404|page not found|not found|error 50\d|seite nicht gefunden|"
    r"the page you (are looking for|requested))\b",
    re.IGNORECASE,
)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_AMP_QUERY_KEYS = {"amp", "outputtype", "output"}
_ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle"}


@dataclass(frozen=True)
class Extracted:
    """What one page yields. Dates are calendar days as found on the page (no time of day)."""

    url: str | None
    canonical_url: str | None
    title: str | None
    text: str
    author: str | None
    published: date | None
    updated: date | None
    sitename: str | None
    language: str | None
    description: str | None
    is_article: bool
    skip_reason: str | None


def decode_html(data: bytes) -> str:
    """Bytes to text: BOM, then valid UTF-8, then the declared charset, then a guess.

    Pages lie about their charset in both directions; valid UTF-8 almost never happens by
    accident, so it wins over a declaration, and a declaration that fails to decode loses to
    charset sniffing. Undecodable bytes end up as U+FFFD rather than an exception.
    """
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET_RE.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii", "ignore").lower()
        # WHATWG: latin-1 labels mean windows-1252 in practice.
        name = "cp1252" if name in {"iso-8859-1", "latin1", "latin-1", "us-ascii"} else name
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    guess = from_bytes(data[:200_000]).best()
    if guess is not None and guess.encoding:
        return data.decode(guess.encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def _cap(html: bytes | str, max_bytes: int) -> str:
    if isinstance(html, str):
        return html[:max_bytes]
    return decode_html(html[:max_bytes])


def _is_amp(tree: HtmlElement) -> bool:
    root = tree.getroottree().getroot()
    return "amp" in root.attrib or "\u26a1" in root.attrib


def _de_amp_url(url: str) -> str:
    """The usual AMP URL shapes mapped to the regular page: /amp/, .amp(.html), ?amp=1."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s.lower() != "amp"]
    path = "/".join(segments) or "/"
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    path = re.sub(r"\.amp(\.html?)?$", r"\1", path, flags=re.IGNORECASE)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in _AMP_QUERY_KEYS]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def canonical_url(tree: HtmlElement, url: str | None) -> str | None:
    """``rel=canonical``, else ``og:url``, resolved against the page URL; AMP pages map to
    their canonical page (the AMP spec requires ``rel=canonical``; URL rules are the fallback)."""
    candidates = tree.xpath(
        '//link[contains(concat(" ", normalize-space(translate(@rel, "CANONIL", "canonil")), " "),'
        ' " canonical ")]/@href'
        ' | //meta[@property="og:url"]/@content'
    )
    for candidate in candidates:
        absolute = urljoin(url or "", candidate.strip())
        if urlsplit(absolute).scheme in {"http", "https"} and urlsplit(absolute).netloc:
            return absolute
    if url and _is_amp(tree):
        return _de_amp_url(url)
    return url


def _language(tree: HtmlElement) -> str | None:
    root = tree.getroottree().getroot()
    values = [root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")]
    values += tree.xpath('//meta[@property="og:locale"]/@content')
    values += tree.xpath('//meta[@http-equiv="content-language" or @http-equiv="Content-Language"]'
                         "/@content")
    for value in values:
        if value and re.match(r"^[A-Za-z]{2,3}\b", value.strip()):
            return value.strip()[:2].lower() if "_" in value else value.strip().split("-")[0].lower()
    return None


def _choose_body(precise: str | None, default: str | None) -> str:
    if not precise:
        return default or ""
    if not default:
        return precise
    share = len(precise) / len(default)
    keep_precise = (PRECISION_MIN_SHARE <= share <= PRECISION_MAX_GROWTH
                    and len(precise) >= PRECISION_MIN_CHARS)
    return precise if keep_precise else default


_PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "datepublished", "date", "dc.date",
    "dcterms.created", "pubdate", "publishdate", "sailthru.date", "parsely-pub-date",
)


def _declares_publication_date(tree: HtmlElement) -> bool:
    """True when the markup states a publication date (JSON-LD or a published-time meta)."""
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        if "datePublished" in (script.text or ""):
            return True
    keys = tree.xpath("//meta/@property | //meta/@name | //meta/@itemprop")
    return any(key.strip().lower() in _PUBLISHED_META for key in keys)


def _page_dates(tree: HtmlElement, url: str | None) -> tuple[date | None, date | None]:
    """Publication day and last update day, via htmldate.

    Without a publication date in the markup, htmldate's original-date search falls back on
    the oldest date-like text of the page (archive links, old teasers, copyright lines), while
    readers see the newest one; then the newest date is the publication day. Measured on the
    trafilatura evaluation set, this beats plain trafilatura (docs/BENCHMARKS.md).
    """

    def find(original: bool) -> date | None:
        try:
            # A date in the URL is the publication day, never the update: for the update,
            # the page's own markup is searched first.
            found = htmldate.find_date(
                tree, original_date=original, extensive_search=True, url=url,
                deferred_url_extractor=not original,
            )
        except (ValueError, TypeError):
            return None
        return date.fromisoformat(found) if found else None

    published, updated = find(True), find(False)
    if published and updated and updated > published and not _declares_publication_date(tree):
        return updated, None
    if published and updated and updated <= published:
        updated = None
    return published, updated


def _link_texts(tree: HtmlElement) -> set[str]:
    texts = (" ".join(a.text_content().split()) for a in tree.iter("a"))
    return {text for text in texts if len(text) >= MIN_TEASER_CHARS}


def _is_teaser(line: str, links: set[str]) -> bool:
    """A list entry of an index page: a headline link, alone or followed by its standfirst."""
    return line in links or any(line.startswith(link) for link in links)


def _skip_reason(text: str, title: str | None, pagetype: str | None, tree: HtmlElement) -> str | None:
    """Why a page is not an article, or None. Order: no text, consent wall, error page,
    too little text, index/list page."""
    if not text.strip():
        return "no_text"
    short = len(text) < SHORT_PAGE_CHARS
    if short and (_CONSENT_RE.search(text) or _CONSENT_RE.search(title or "")):
        return "consent_wall"
    if short and _ERROR_RE.search(f"{title or ''}\n{text[:300]}"):
        return "error_page"
    if len(text) < MIN_ARTICLE_CHARS:
        return "too_little_text"
    if (pagetype or "").lower() not in _ARTICLE_TYPES:
        lines = [" ".join(line.split()).removeprefix("- ") for line in text.splitlines() if line.strip()]
        links = _link_texts(tree)
        linked = sum(len(line) for line in lines if _is_teaser(line, links))
        if linked >= INDEX_LINK_SHARE * sum(len(line) for line in lines):
            return "index_page"
    return None


def extract_article(
    html: bytes | str, url: str | None = None, *, max_bytes: int = MAX_HTML_BYTES
) -> Extracted:
    """Body text, metadata and gate decision for one page (bytes are charset-sniffed)."""
    tree = trafilatura.load_html(_cap(html, max_bytes))
    if tree is None:
        return Extracted(url, url, None, "", None, None, None, None, None, None, False, "not_html")
    common = {"url": url, "include_comments": False, "include_tables": True}
    precise = trafilatura.bare_extraction(tree, favor_precision=True, with_metadata=True, **common)
    default = trafilatura.bare_extraction(tree, **common)
    text = _choose_body(precise.text if precise else None, default.text if default else None)
    metadata = precise or default
    published, updated = _page_dates(tree, url)
    title = metadata.title if metadata else None
    skip_reason = _skip_reason(text, title, metadata.pagetype if metadata else None, tree)
    return Extracted(
        url=url,
        canonical_url=canonical_url(tree, url),
        title=title,
        text=text,
        author=metadata.author if metadata else None,
        published=published,
        updated=updated,
        sitename=metadata.sitename if metadata else None,
        language=_language(tree),
        description=metadata.description if metadata else None,
        is_article=skip_reason is None,
        skip_reason=skip_reason,
    )


# A page day more than this before the feed's timestamp means the feed re-dated an old story.
FEED_REDATE_TOLERANCE = timedelta(days=1)


def reconcile(
    feed_title: str | None, feed_published: datetime, extracted: Extracted
) -> tuple[str, datetime, datetime | None]:
    """Combine feed and page into (title, published_at, updated_at).

    Title: the page's title, unless it is empty or just the site name; then the feed's. The
    feed title wins when the page title is missing, and is the last resort (the caller always
    has one or the other).
    Published: the feed's timestamp (it has a time of day and a zone). The page's original
    day replaces it only when it is more than a day earlier (the feed re-dated an old story);
    then it becomes midnight UTC of that day.
    Updated: the page's update day when it is after the published day, else None.
    """
    page_title = (extracted.title or "").strip()
    if not page_title or page_title == (extracted.sitename or "").strip():
        page_title = ""
    title = page_title or (feed_title or "").strip()

    published_at = feed_published
    if extracted.published is not None:
        page_midnight = datetime.combine(extracted.published, datetime.min.time(), tzinfo=UTC)
        feed_utc = feed_published if feed_published.tzinfo else feed_published.replace(tzinfo=UTC)
        if page_midnight < feed_utc - FEED_REDATE_TOLERANCE:
            published_at = page_midnight

    updated_at = None
    if extracted.updated is not None and extracted.updated > published_at.date():
        updated_at = datetime.combine(extracted.updated, datetime.min.time(), tzinfo=UTC)
    return title, published_at, updated_at
