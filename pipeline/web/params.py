"""Validated request parameters shared by the JSON API and the HTML pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# pipeline.queries.MAX_LIMIT (a test holds them equal): importing queries here would load the
# catalog and alembic into every Airflow process that loads the plugin.
MAX_LIMIT = 100
StoryState = Literal["active", "dormant", "merged", "all"]


def as_utc(moment: datetime | None) -> datetime | None:
    """Naive times are taken as UTC (the catalog stores UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, Field(min_length=1, max_length=500, description="Free-text query, embedded as is.")]
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Hits to return.")] = 10
    since: Annotated[datetime | None, Field(description="ISO date or date-time: published at or after.")] = None
    source: Annotated[str | None, Field(max_length=200, description="Exact source name.")] = None
    lang: Annotated[str | None, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", description="Language code.")] = None
    story: Annotated[UUID | None, Field(description="Only articles of this story.")] = None
    per_story: Annotated[bool, Field(description="Keep only the best hit of each story.")] = False

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: object) -> object:
        # An HTML form sends empty fields as "": they mean "no filter", not an invalid value.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value not in ("", None)}
        return data

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank")
        return value.strip()

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    def query_kwargs(self) -> dict[str, object]:
        """The keyword arguments of :meth:`pipeline.queries.Queries.search`."""
        return {
            "limit": self.limit, "since": self.since, "source": self.source, "language": self.lang,
            "story": str(self.story) if self.story else None, "per_story": self.per_story,
        }
