"""Classified failures: every problem with a feed or page ends in exactly one error class."""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    BLOCKED_ADDRESS = "blocked_address"
    ROBOTS = "robots"
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TOO_LARGE = "too_large"
    REDIRECTS = "redirects"
    NOT_A_FEED = "not_a_feed"
    PARSE = "parse"
    # Page stage (extraction):
    NOT_HTML = "not_html"
    EXTRACT_TIMEOUT = "extract_timeout"
    EXTRACT_CRASH = "extract_crash"
    NOT_ARTICLE = "not_article"
    DUPLICATE = "duplicate"


class StorylineError(Exception):
    """A classified failure. `error_class` is stored in the catalog and counted in summaries."""

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ):
        super().__init__(f"{error_class.value}: {message}")
        self.error_class = error_class
        self.message = message
        self.retry_after = retry_after
        self.status = status  # the HTTP status, for http_* classes
