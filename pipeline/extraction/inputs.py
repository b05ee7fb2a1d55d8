"""`storyline extract`: run the pipeline's extraction on local files or URLs, outside the catalog."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.catalog import Catalog
from pipeline.errors import StorylineError
from pipeline.extraction import ExtractorPool
from pipeline.fetching import HTML_TYPES, PAGE_ACCEPT
from pipeline.http import HttpClient
from pipeline.settings import Settings


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _read_file(path: str) -> bytes:
    data = Path(path).read_bytes()
    return gzip.decompress(data) if path.endswith(".gz") else data


def _load(settings: Settings, inputs: Sequence[str]) -> Iterator[tuple[int, bytes | None, str | None, str | None]]:
    """(position, html, url, error) for each input, in order. URLs go through the safe HTTP
    layer; its per-host politeness lives in a throwaway catalog, so the real one is untouched."""
    urls = [value for value in inputs if _is_url(value)]
    with tempfile.TemporaryDirectory() as scratch:
        client = None
        if urls:
            politeness = Catalog(f"sqlite:///{scratch}/politeness.db")
            politeness.migrate()
            client = HttpClient(settings, politeness.engine)
        try:
            for position, value in enumerate(inputs):
                try:
                    if client is not None and _is_url(value):
                        result = client.fetch(value, max_bytes=settings.max_page_bytes, check_robots=True, accept=PAGE_ACCEPT)
                        if result.content_type not in HTML_TYPES:
                            yield position, None, value, f"not_html: content type {result.content_type}"
                            continue
                        yield position, result.body, result.final_url, None
                    else:
                        yield position, _read_file(value), None, None
                except StorylineError as exc:
                    yield position, None, value, str(exc)
                except (OSError, EOFError, gzip.BadGzipFile) as exc:
                    yield position, None, None, f"read: {exc}"
        finally:
            if client is not None:
                client.close()


def extract_inputs(settings: Settings, inputs: Sequence[str]) -> Iterator[dict[str, object]]:
    """One record per input, in input order: input, title, text, author, date, language,
    canonical_url, sitename, error."""
    loaded = list(_load(settings, inputs))
    results: dict[int, object] = {}
    pages = [(position, html, url) for position, html, url, error in loaded if html is not None]
    if pages:
        with ExtractorPool(workers=settings.extract_workers, timeout=settings.extract_timeout) as pool:
            results = dict(pool.extract_many(pages))
    for position, _html, _url, error in loaded:
        record: dict[str, object] = {
            "input": inputs[position], "title": None, "text": None, "author": None, "date": None,
            "language": None, "canonical_url": None, "sitename": None, "error": error,
        }
        result = results.get(position)
        if isinstance(result, StorylineError):
            record["error"] = str(result)
        elif result is not None:
            record.update(
                title=result.title, text=result.text, author=result.author,
                date=result.published.isoformat() if result.published else None,
                language=result.language, canonical_url=result.canonical_url, sitename=result.sitename,
                error=None if result.is_article else f"not_article: {result.skip_reason}",
            )
        yield record
