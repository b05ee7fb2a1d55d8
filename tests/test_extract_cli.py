"""`storyline extract`: local files (plain and .gz) and URLs, one JSON object per input line."""

from __future__ import annotations

import gzip
import json

from pipeline.demo.site import DemoSite
from tests.support.cli import run_cli, storyline_env

KEYS = {"input", "title", "text", "author", "date", "language", "canonical_url", "sitename", "error"}
PAGE = (
    "<html lang='en'><head><title>Ferry timetable changes</title>"
    "<link rel='canonical' href='https://news.example.test/ferries'>"
    "<meta property='article:published_time' content='2025-05-14T08:00:00Z'></head><body>"
    "<article><h1>Ferry timetable changes</h1>"
    + "".join(
        f"<p>From June the island ferry will leave {n} minutes earlier on weekdays, the operator "
        f"said, after a survey of {n * 100} passengers asked for better connections to the first train.</p>"
        for n in range(1, 6)
    )
    + "</article></body></html>"
)


def test_extract_files_and_urls_line_by_line(tmp_path) -> None:
    plain = tmp_path / "ferries.html"
    plain.write_text(PAGE)
    packed = tmp_path / "ferries.html.gz"
    packed.write_bytes(gzip.compress(PAGE.encode()))
    missing = tmp_path / "nope.html"
    with DemoSite() as site:
        url = site.url("/meridian-wire/2025/05/19/trump-putin-call-two-hours.html")
        result = run_cli("extract", str(plain), str(packed), str(missing), url, "--json",
                         env=storyline_env(tmp_path / "home"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(plain), str(packed), str(missing), url]
    assert all(set(r) == KEYS for r in records)
    first, second, third, fourth = records
    assert first["title"] == "Ferry timetable changes" and first["error"] is None
    assert first["canonical_url"] == "https://news.example.test/ferries"
    assert first["date"] == "2025-05-14" and first["language"] == "en"
    assert "first train" in first["text"]
    assert {k: v for k, v in second.items() if k != "input"} == {k: v for k, v in first.items() if k != "input"}
    assert third["error"].startswith("read:") and third["text"] is None
    assert fourth["error"] is None and "Putin" in fourth["title"] and len(fourth["text"]) > 500
    assert not (tmp_path / "home" / "catalog.db").exists(), "extract must not touch the catalog"
