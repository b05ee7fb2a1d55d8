"""extract_article, reconcile and ExtractorPool on pages written for these tests."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, date, datetime

import pytest

from pipeline.errors import ErrorClass, StorylineError
from pipeline.extraction import Extracted, ExtractorPool, decode_html, extract_article, reconcile

PARAGRAPHS = [
    ("The harbour commission voted on Thursday to close the old ferry terminal by the end of "
     "the year, ending more than a century of passenger service from the northern quay."),
    ("Commissioners said falling passenger numbers and the cost of repairing the pier, "
     "estimated at 14 million euros, left them with no realistic alternative."),
    ("Ferry operators will move to the new terminal in the south basin, which opened in "
     "2021 and has room for three vessels at a time, according to the commission."),
    ("Residents of the northern district criticised the plan, saying the longer walk to the "
     "south basin would hit older passengers hardest. A petition has gathered 3,000 names."),
    ("The commission promised a shuttle bus between the two quays for at least two years and "
     "said the old terminal building would be offered to the city as a cultural venue."),
]


def article_page(*, head_extra: str = "", lang: str = "en", html_attrs: str = "") -> str:
    body = "\n".join(f"<p>{text}</p>" for text in PARAGRAPHS)
    return f"""<!DOCTYPE html>
<html lang="{lang}" {html_attrs}><head><meta charset="utf-8">
<title>Old ferry terminal to close - Harbour Courier</title>
<meta property="og:title" content="Old ferry terminal to close">
<meta property="og:type" content="article">
<meta property="og:site_name" content="Harbour Courier">
<meta name="description" content="The commission votes to end service from the north quay.">
<meta name="author" content="Jana Novak">
<meta property="article:published_time" content="2024-03-05T09:30:00+01:00">
<meta property="article:modified_time" content="2024-03-07T16:00:00+01:00">
{head_extra}
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Old ferry terminal to close</h1>
<p class="byline">By Jana Novak</p>
{body}
</article>
<footer><p>Copyright Harbour Courier. All rights reserved. Imprint and privacy policy.</p></footer>
</body></html>"""


URL = "https://courier.example/news/2024/03/05/ferry-terminal"


def test_article_body_and_metadata() -> None:
    page = article_page(head_extra=f'<link rel="canonical" href="{URL}?ref=canon">')
    result = extract_article(page.encode("utf-8"), URL)
    assert result.is_article and result.skip_reason is None
    assert result.title == "Old ferry terminal to close"
    assert result.author == "Jana Novak"
    assert result.published == date(2024, 3, 5)
    assert result.updated == date(2024, 3, 7)
    assert result.sitename == "Harbour Courier"
    assert result.language == "en"
    assert result.description == "The commission votes to end service from the north quay."
    assert result.canonical_url == f"{URL}?ref=canon"
    for paragraph in PARAGRAPHS:
        assert paragraph in result.text
    assert "All rights reserved" not in result.text
    assert "Sport" not in result.text


def test_og_url_is_resolved_against_the_page_url() -> None:
    page = article_page(head_extra='<meta property="og:url" content="/news/ferry">')
    assert extract_article(page, URL).canonical_url == "https://courier.example/news/ferry"


def test_amp_page_maps_to_its_canonical_page() -> None:
    amp_url = "https://courier.example/amp/news/ferry-terminal.amp.html?amp=1&id=7"
    with_link = article_page(
        html_attrs="amp", head_extra='<link rel="canonical" href="https://courier.example/n/1">'
    )
    assert extract_article(with_link, amp_url).canonical_url == "https://courier.example/n/1"
    without_link = article_page(html_attrs="\u26a1")
    assert (
        extract_article(without_link, amp_url).canonical_url
        == "https://courier.example/news/ferry-terminal.html?id=7"
    )
    # A regular page keeps its own URL.
    assert extract_article(article_page(), URL).canonical_url == URL


def test_mislabelled_and_undeclared_encodings_are_decoded() -> None:
    german = article_page(lang="de").replace("harbour commission", "Hafenbehörde für Fähren")
    # Declared utf-8 but really windows-1252: the declaration loses to what decodes.
    mislabelled = german.encode("cp1252")
    assert "Hafenbehörde für Fähren" in extract_article(mislabelled, URL).text
    undeclared = german.replace('<meta charset="utf-8">', "").encode("cp1252")
    assert "Hafenbehörde für Fähren" in decode_html(undeclared)
    # Garbage bytes never raise.
    assert isinstance(decode_html(b"<html>\xff\xfe\x00\x81\x8d broken</html>"), str)


def test_html_is_capped_before_parsing() -> None:
    page = article_page().replace(
        "</article>", "</article><div>" + "<p>BEYONDCAP filler text.</p>" * 200_000 + "</div>"
    )
    assert len(page) > 5 * 1024 * 1024
    result = extract_article(page.encode("utf-8"), URL, max_bytes=64 * 1024)
    assert PARAGRAPHS[0] in result.text
    assert "BEYONDCAP" not in result.text


def simple_page(title: str, body_html: str) -> str:
    return f"<html lang='en'><head><title>{title}</title></head><body>{body_html}</body></html>"


def test_gates_skip_what_is_not_an_article() -> None:
    consent = simple_page(
        "Before you continue",
        "<div><p>We use cookies and similar technologies to personalise content and ads. "
        "Select Accept all to consent, or manage your privacy settings at any time. You can "
        "withdraw your consent in the privacy centre.</p><p>Accept all</p></div>",
    )
    assert extract_article(consent, URL).skip_reason == "consent_wall"

    error = simple_page(
        "Page not found",
        "<main><h1>404 - Page not found</h1><p>Sorry, the page you are looking for has moved "
        "or no longer exists. Try the search box or go back to the front page, where you will "
        "find all of today's news, sport and weather from around the region.</p></main>",
    )
    assert extract_article(error, URL).skip_reason == "error_page"

    short = simple_page("Brief", "<article><p>Ferry service ends in December.</p></article>")
    assert extract_article(short, URL).skip_reason in {"too_little_text", "no_text"}

    teasers = "".join(
        f"<li><h2><a href='/news/{n}'>Headline number {n} about the regional news today</a>"
        f"</h2></li>"
        for n in range(30)
    )
    index = simple_page("News - Harbour Courier", f"<main><ul>{teasers}</ul></main>")
    result = extract_article(index, "https://courier.example/news/")
    assert result.skip_reason == "index_page" and not result.is_article


def extracted(**fields: object) -> Extracted:
    base: dict[str, object] = {
        "url": URL, "canonical_url": URL, "title": "Page title", "text": "body", "author": None,
        "published": None, "updated": None, "sitename": "Harbour Courier", "language": "en",
        "description": None, "is_article": True, "skip_reason": None,
    }
    return Extracted(**(base | fields))  # type: ignore[arg-type]


def test_reconcile_title_and_dates() -> None:
    feed_time = datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
    # Page title wins; feed date kept when the page agrees (same or next day).
    title, published, updated = reconcile(
        "Feed title", feed_time, extracted(published=date(2024, 3, 5), updated=date(2024, 3, 7))
    )
    assert (title, published) == ("Page title", feed_time)
    assert updated == datetime(2024, 3, 7, tzinfo=UTC)
    # A page title that is only the site name loses to the feed's.
    assert reconcile("Feed title", feed_time, extracted(title="Harbour Courier"))[0] == "Feed title"
    assert reconcile("Feed title", feed_time, extracted(title=None))[0] == "Feed title"
    # The feed re-dated an old story: the page's original day wins; no fake update.
    _, published, updated = reconcile(
        "t", feed_time, extracted(published=date(2024, 2, 20), updated=date(2024, 2, 20))
    )
    assert published == datetime(2024, 2, 20, tzinfo=UTC) and updated is None


# --- worker pool: test-only extract functions, importable by the spawned workers ----------


def extract_or_misbehave_for_test(html: bytes | str, url: str | None) -> Extracted:
    """Real extraction, except that the URL can ask the worker to hang, die or raise."""
    if url == "test://hang":
        time.sleep(3600)
    if url == "test://kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if url == "test://raise":
        raise RuntimeError("extractor bug")
    return extract_article(html, url)


def report_worker_pid_for_test(html: bytes | str, url: str | None) -> Extracted:
    return extracted(text=str(os.getpid()))


def test_pool_survives_hanging_and_crashing_pages() -> None:
    page = article_page().encode("utf-8")
    items = [
        ("good-1", page, URL),
        ("hang", page, "test://hang"),
        ("kill", page, "test://kill"),
        ("raise", page, "test://raise"),
        ("good-2", page, URL),
        ("good-3", page, URL),
    ]
    with ExtractorPool(workers=2, timeout=20, extract=extract_or_misbehave_for_test) as pool:
        results = dict(pool.extract_many(items))
    assert set(results) == {key for key, _, _ in items}
    for key in ("good-1", "good-2", "good-3"):
        assert isinstance(results[key], Extracted) and results[key].is_article
    for key, error_class in [
        ("hang", ErrorClass.EXTRACT_TIMEOUT),
        ("kill", ErrorClass.EXTRACT_CRASH),
        ("raise", ErrorClass.EXTRACT_CRASH),
    ]:
        assert isinstance(results[key], StorylineError)
        assert results[key].error_class == error_class
    assert "extractor bug" in results["raise"].message


def test_pool_recycles_workers_after_n_pages() -> None:
    items = [(n, b"<html></html>", None) for n in range(6)]
    with ExtractorPool(workers=1, max_pages_per_worker=2, extract=report_worker_pid_for_test) as pool:
        pids = [result.text for _, result in pool.extract_many(items)]
        assert pool.workers_started == 3
    assert len(set(pids)) == 3
    assert [pids.count(pid) for pid in dict.fromkeys(pids)] == [2, 2, 2]


# A main script that must not run twice, as the `airflow` CLI fails to start in a task's
# environment: spawn would run it again in every worker.
RUN_ONCE_MAIN = """
import os, sys
if os.environ.setdefault("RUN_ONCE_MAIN_PID", str(os.getpid())) != str(os.getpid()):
    sys.exit("the main script ran again in an extraction worker")
from pipeline.extraction import ExtractorPool
with ExtractorPool(workers=1, timeout=60) as pool:
    ((key, result),) = pool.extract_many([("page", sys.stdin.read(), None)])
print(result.title)
"""


def test_pool_workers_do_not_run_the_parents_main_script(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "main_script.py"
    script.write_text(RUN_ONCE_MAIN)
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(script)], input=article_page(), capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(repo)}, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "Old ferry terminal to close"


def test_pool_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        ExtractorPool(workers=0)
