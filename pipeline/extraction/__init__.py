"""Page -> clean article: `extract_article` for one page, `ExtractorPool` for many in workers."""

from pipeline.extraction.article import (
    Extracted,
    canonical_url,
    decode_html,
    extract_article,
    reconcile,
)
from pipeline.extraction.pool import ExtractorPool

__all__ = ["Extracted", "ExtractorPool", "canonical_url", "decode_html", "extract_article", "reconcile"]
