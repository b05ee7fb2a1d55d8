"""Feeds, pages and robots.txt of the demo site, rendered for one base URL.

Pages come from one ``templates/<outlet>.html`` per outlet (so the markup an extractor sees
differs between outlets) plus shared templates for AMP copies, section fronts and the paywall.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import posixpath
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from string import Template
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from pipeline.demo.content import (
    Comment,
    DemoArticle,
    FeedFormat,
    Outlet,
    PageKind,
    load_comment_pools,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TRACKING_QUERY = "?utm_source=rss&utm_medium=feed"
WORDS_PER_MINUTE = 200


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _xml_attr(text: str) -> str:
    return xml_escape(text, {'"': "&quot;"})


def _digest(text: str) -> int:
    # Stable across processes (unlike hash()), so every run shows the same comments.
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _json_in_script(text: str) -> str:
    # "<" escaped so a headline holding "</script>" cannot end the JSON-LD block.
    return json.dumps(text, ensure_ascii=False)[1:-1].replace("<", "\\u003c")


def _comments_for(article: DemoArticle) -> Sequence[Comment]:
    pools = load_comment_pools()
    pool = pools.get(article.story) or pools.get(article.topic) or pools["general"]
    digest = _digest(article.key)
    count = min(len(pool), 3 + digest % 3)
    start = digest % len(pool)
    return [pool[(start + offset) % len(pool)] for offset in range(count)]


def _comments_html(comments: Sequence[Comment]) -> str:
    return "\n".join(
        f'<li class="comment"><div class="comment-author">{html.escape(c.name)}</div>'
        f'<div class="comment-meta">{html.escape(c.ago)}</div><p>{html.escape(c.text)}</p></li>'
        for c in comments
    )


def _related_html(related: Sequence[DemoArticle], base_url: str) -> str:
    return "\n".join(
        f'<li><a href="{_attr(base_url + item.path)}">{item.title_html}</a></li>'
        for item in related
    )


def _body_html(
    article: DemoArticle, outlet: Outlet, related: Sequence[DemoArticle], base_url: str
) -> str:
    promo = ""
    if related:
        first = related[0]
        promo = (
            f'<aside class="inline-promo"><strong>READ MORE:</strong> '
            f'<a href="{_attr(base_url + first.path)}">{first.title_html}</a></aside>\n'
        )
    insert = f'{promo}<div class="ad ad-inline">Advertisement</div>'
    parts: list[str] = []
    for index, paragraph in enumerate(article.body, start=1):
        parts.append(f"<p>{html.escape(paragraph, quote=False)}</p>")
        every = outlet.body_insert_every
        if every and index % every == 0 and index < len(article.body):
            parts.append(insert)
    return "\n".join(parts)


def render_article_page(
    article: DemoArticle,
    outlet: Outlet,
    *,
    base_url: str,
    related: Sequence[DemoArticle],
    amp_path: str | None = None,
) -> str:
    """The HTML of an article page (or of its AMP copy, which points canonical to the original)."""
    canonical_url = base_url + article.canonical_path
    words = sum(len(paragraph.split()) for paragraph in article.body)
    comments = _comments_for(article)
    home_url = base_url + outlet.home_path
    modified = (
        f'<meta property="article:modified_time" content="{article.updated.isoformat()}">'
        if article.updated
        else ""
    )
    source_note = (
        '<p class="source-note">This story was provided by Meridian Wire.</p>'
        if article.syndicated_of
        else ""
    )
    template = "amp.html" if article.kind is PageKind.AMP else f"{outlet.slug}.html"
    return _template(template).substitute(
        lang=outlet.language,
        head_title=html.escape(article.title),
        og_title=_attr(article.title),
        json_title=_json_in_script(article.title),
        json_author=_json_in_script(article.author),
        description=_attr(article.summary),
        canonical_url=_attr(canonical_url),
        share_url=quote(canonical_url, safe=""),
        amphtml_link=f'<link rel="amphtml" href="{_attr(base_url + amp_path)}">'
        if amp_path
        else "",
        site_name=html.escape(outlet.name),
        tagline=html.escape(outlet.tagline),
        home_url=_attr(home_url),
        feed_url=_attr(base_url + outlet.feed_path),
        published_iso=article.published.isoformat(),
        modified_meta=modified,
        time_display=article.published.strftime(outlet.date_format),
        author=html.escape(article.author),
        section=html.escape(article.section),
        section_slug=article.section.lower(),
        headline=article.title_html,
        standfirst=html.escape(article.summary),
        body_html=_body_html(article, outlet, related, base_url),
        related_html=_related_html(related, base_url),
        comments_html=_comments_html(comments),
        comment_count=len(comments),
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
        post_id=_digest(article.key) % 90000 + 10000,
        source_note=source_note,
    )


def render_paywall_page(article: DemoArticle, outlet: Outlet, *, base_url: str) -> str:
    return _template("paywall.html").substitute(
        lang=outlet.language,
        site_name=html.escape(outlet.name),
        home_url=_attr(base_url + outlet.home_path),
        headline=article.title_html,
        standfirst=html.escape(article.summary),
    )


def render_index_page(
    outlet: Outlet,
    *,
    heading: str,
    intro: str,
    page_path: str,
    articles: Sequence[DemoArticle],
    base_url: str,
) -> str:
    """A front or section page: headlines with links, no article body."""
    items = "\n".join(
        f'<li><a href="{_attr(base_url + item.path)}">{item.title_html}</a> '
        f'<span class="summary">{html.escape(item.summary)}</span> '
        f'<time datetime="{item.published.isoformat()}">'
        f"{item.published.strftime(outlet.date_format)}</time></li>"
        for item in articles
    )
    return _template("index.html").substitute(
        heading=html.escape(heading),
        intro=html.escape(intro),
        page_url=_attr(base_url + page_path),
        site_name=html.escape(outlet.name),
        home_url=_attr(base_url + outlet.home_path),
        feed_url=_attr(base_url + outlet.feed_path),
        items_html=items,
    )


def render_site_front(outlets: Sequence[Outlet], *, base_url: str) -> str:
    links = "\n".join(
        f'<li><a href="{_attr(base_url + o.home_path)}">{html.escape(o.name)}</a> '
        f'(<a href="{_attr(base_url + o.feed_path)}">feed</a>)</li>'
        for o in outlets
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Storyline demo news '
        f"site</title></head><body><h1>Storyline demo news site</h1><ul>\n{links}\n</ul></body></html>\n"
    )


def render_robots(outlets: Sequence[Outlet]) -> str:
    disallowed = "".join(f"Disallow: {o.robots_disallow}\n" for o in outlets if o.robots_disallow)
    return f"User-agent: *\n{disallowed}Allow: /\n"


def _item_link(article: DemoArticle, outlet: Outlet, base_url: str) -> str:
    if outlet.relative_links:
        link = posixpath.relpath(article.path, posixpath.dirname(outlet.feed_path))
    else:
        link = base_url + article.path
    return link + (TRACKING_QUERY if article.tracking else "")


def _atom_id(article: DemoArticle) -> str:
    if article.guid:
        return f"urn:storyline-demo:{article.guid}"
    return f"tag:{article.outlet}.demo,{article.published:%Y-%m-%d}:{article.path}"


def _rss_item(article: DemoArticle, outlet: Outlet, base_url: str) -> str:
    if article.guid:
        guid = f'<guid isPermaLink="false">{xml_escape(article.guid)}</guid>'
    else:
        guid = f'<guid isPermaLink="true">{xml_escape(base_url + article.path)}</guid>'
    date = f"<pubDate>{format_datetime(article.published)}</pubDate>" if article.feed_date else ""
    return (
        f"<item><title>{xml_escape(article.title_html)}</title>"
        f"<link>{xml_escape(_item_link(article, outlet, base_url))}</link>{guid}{date}"
        f"<dc:creator>{xml_escape(article.author)}</dc:creator>"
        f"<category>{xml_escape(article.section)}</category>"
        f"<description>{xml_escape(article.summary)}</description></item>"
    )


def _atom_entry(article: DemoArticle, outlet: Outlet, base_url: str) -> str:
    if article.has_title_markup:
        title = f'<title type="html">{xml_escape(article.title_html)}</title>'
    else:
        title = f'<title type="text">{xml_escape(article.title)}</title>'
    dates = ""
    if article.feed_date:
        updated = (article.updated or article.published).isoformat()
        dates = (
            f"<published>{article.published.isoformat()}</published><updated>{updated}</updated>"
        )
    link = _xml_attr(_item_link(article, outlet, base_url))
    return (
        f'<entry>{title}<link rel="alternate" type="text/html" href="{link}"/>'
        f"<id>{xml_escape(_atom_id(article))}</id>{dates}"
        f"<author><name>{xml_escape(article.author)}</name></author>"
        f'<category term="{_xml_attr(article.section)}"/>'
        f'<summary type="text">{xml_escape(article.summary)}</summary></entry>'
    )


def render_feed(
    outlet: Outlet, articles: Sequence[DemoArticle], *, base_url: str, updated: datetime
) -> bytes:
    """The outlet's feed document, encoded in the outlet's feed charset."""
    declaration = f'<?xml version="1.0" encoding="{outlet.feed_encoding}"?>\n'
    feed_url = _xml_attr(base_url + outlet.feed_path)
    home_url = _xml_attr(base_url + outlet.home_path)
    if outlet.feed_format is FeedFormat.RSS:
        items = "\n".join(_rss_item(article, outlet, base_url) for article in articles)
        document = (
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
            f"<title>{xml_escape(outlet.name)}</title><link>{home_url}</link>"
            f"<description>{xml_escape(outlet.tagline)}</description>"
            f"<language>{outlet.language}</language>"
            f"<lastBuildDate>{format_datetime(updated)}</lastBuildDate>"
            f'<atom:link href="{feed_url}" rel="self" type="application/rss+xml"/>\n'
            f"{items}\n</channel>\n</rss>\n"
        )
    else:
        entries = "\n".join(_atom_entry(article, outlet, base_url) for article in articles)
        document = (
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{outlet.language}">\n'
            f"<title>{xml_escape(outlet.name)}</title>"
            f"<subtitle>{xml_escape(outlet.tagline)}</subtitle>"
            f"<id>{home_url}</id><updated>{updated.isoformat()}</updated>"
            f'<link rel="self" type="application/atom+xml" href="{feed_url}"/>'
            f'<link rel="alternate" type="text/html" href="{home_url}"/>\n'
            f"{entries}\n</feed>\n"
        )
    # Characters the charset lacks become character references, as real CMSs emit them.
    return (declaration + document).encode(outlet.feed_encoding, errors="xmlcharrefreplace")
