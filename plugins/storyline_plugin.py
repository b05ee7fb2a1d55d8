"""Storyline in the Airflow UI: the Stories pages and their JSON API on the api-server.

Mounted at ``/storyline``; "Stories" in the navigation shows the pages in the UI's iframe.
Every route needs an Airflow login (a Bearer token, or the UI's ``_token`` cookie) with read
access to DAGs. The pipeline (model, stores) is imported inside the routes: this module loads
in every Airflow process. Settings come from the api-server's ``STORYLINE_*`` environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, TypeVar
from urllib.parse import urlencode
from uuid import UUID

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.configuration import conf
from airflow.models.dagrun import DagRun
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from pipeline.web.params import MAX_LIMIT, SearchParams, StoryState

if TYPE_CHECKING:
    from airflow.sdk.definitions.taskinstancekey import TaskInstanceKey

    from pipeline.queries import Queries

URL_PREFIX = "/storyline"
INGEST_DAG_ID = "news_ingest"
INDEX_TASK_ID = "index_articles"
# Time of the viewer's previous visit to the tracked page: "new" marks are relative to it.
LAST_VISIT_COOKIE = "storyline_last_visit"
Result = TypeVar("Result")

app = FastAPI(
    title="Storyline",
    version="1",
    description="Stories, their coverage and semantic search over the ingested news.",
    # One dependency for every route: nothing here is anonymous.
    dependencies=[Depends(requires_access_dag("GET"))],
    # FastAPI's own schema and docs routes would skip that dependency; the schema is served
    # below like any other route, and the interactive docs (scripts from a CDN) not at all.
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
)
api = "/api"
_queries_lock = threading.Lock()  # one store and catalog per process; the store lock is not re-entrant


@cache
def _queries() -> Queries:
    from pipeline.catalog import open_catalog
    from pipeline.queries import Queries
    from pipeline.settings import Settings

    settings = Settings()
    return Queries(settings, open_catalog(settings, migrate=False))


def _ask(question: Callable[[Queries], Result]) -> Result:
    """Run one query; an unknown id becomes 404, any other refusal 400."""
    from pipeline.queries import QueryError

    with _queries_lock:
        try:
            return question(_queries())
        except QueryError as exc:
            raise HTTPException(404 if str(exc).startswith("no ") else 400, str(exc)) from exc


def _tracked_lineups(queries: Queries) -> list[dict[str, object]]:
    from pipeline.queries import QueryError, load_tracked

    lineups: list[dict[str, object]] = []
    for tracked in load_tracked(queries.settings.tracked):
        try:
            lineups.append(queries.lineup(tracked.name))
        except QueryError as exc:  # one unreadable seed must not hide the other stories
            lineups.append({"name": tracked.name, "error": str(exc), "story": None})
    return lineups


def _story_state(state: str) -> str | None:
    return None if state == "all" else state


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _html(body: str) -> HTMLResponse:
    from pipeline.web.pages import CONTENT_SECURITY_POLICY

    return HTMLResponse(body, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


StateQuery = Annotated[StoryState, Query(description="Story state, or all.")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many results.")]


@app.get("/openapi.json", include_in_schema=False)
def openapi_schema() -> dict:
    return app.openapi()


# -- JSON API ---------------------------------------------------------------------------------
@app.get(f"{api}/search", tags=["api"], summary="Semantic search over indexed articles")
def api_search(params: Annotated[SearchParams, Query()]) -> list[dict]:
    return _ask(lambda q: q.search(params.q, **params.query_kwargs()))


@app.get(f"{api}/stories", tags=["api"], summary="Stories, latest update first")
def api_stories(state: StateQuery = "active", limit: LimitQuery = 50) -> list[dict]:
    return _ask(lambda q: q.stories(state=_story_state(state), limit=limit))


@app.get(f"{api}/stories/{{story_id}}", tags=["api"], summary="One story with its lineup and lineage")
def api_story(story_id: UUID) -> dict:
    return _ask(lambda q: q.story(str(story_id)))


@app.get(f"{api}/tracked", tags=["api"], summary="Tracked stories with their seed and lineup")
def api_tracked() -> list[dict]:
    return _ask(_tracked_lineups)


@app.get(f"{api}/articles/{{article_id}}/related", tags=["api"], summary="Articles nearest to one article")
def api_related(article_id: UUID, limit: LimitQuery = 10) -> list[dict]:
    return _ask(lambda q: q.related(str(article_id), limit=limit))


# -- pages ------------------------------------------------------------------------------------
def _run_start(session, run_id: str) -> datetime:
    started = session.scalar(
        select(DagRun.start_date).where(DagRun.dag_id == INGEST_DAG_ID, DagRun.run_id == run_id)
    )
    if started is None:
        raise HTTPException(404, f"no started {INGEST_DAG_ID} run {run_id!r}")
    return started


@app.get("/", response_class=HTMLResponse, tags=["pages"], summary="Tracked stories (the main page)")
def tracked_page(
    request: Request,
    session: SessionDep,
    since: Annotated[datetime | None, Query(description="Mark articles indexed since then as new.")] = None,
    run: Annotated[str | None, Query(max_length=250, description="Mark what this ingest run indexed as new.")] = None,
) -> HTMLResponse:
    from pipeline.web.pages import render_tracked
    from pipeline.web.params import as_utc

    previous_visit = request.cookies.get(LAST_VISIT_COOKIE)
    if since is not None:
        reason = "the time asked for"
    elif run is not None:
        since, reason = _run_start(session, run), f"ingest run {run} started"
    elif previous_visit:
        try:
            since, reason = datetime.fromisoformat(previous_visit), "your last visit"
        except ValueError:
            reason = ""
    else:
        reason = ""
    lineups = _ask(_tracked_lineups)
    response = _html(render_tracked(_base(request), lineups, as_utc(since), reason))
    response.set_cookie(
        LAST_VISIT_COOKIE, datetime.now(UTC).isoformat(), max_age=365 * 86400,
        path=_base(request) or "/", httponly=True, samesite="lax",
    )
    return response


@app.get("/stories", response_class=HTMLResponse, tags=["pages"], summary="Story list")
def stories_page(request: Request, state: StateQuery = "active") -> HTMLResponse:
    from pipeline.web.pages import render_stories

    stories = _ask(lambda q: q.stories(state=_story_state(state), limit=500))
    return _html(render_stories(_base(request), stories, state))


@app.get("/stories/{story_id}", response_class=HTMLResponse, tags=["pages"], summary="One story")
def story_page(
    request: Request,
    story_id: UUID,
    since: Annotated[datetime | None, Query(description="Mark articles indexed since then as new.")] = None,
) -> HTMLResponse:
    from pipeline.web.pages import render_story
    from pipeline.web.params import as_utc

    story = _ask(lambda q: q.story(str(story_id)))
    return _html(render_story(_base(request), story, as_utc(since)))


@app.get("/search", response_class=HTMLResponse, tags=["pages"], summary="Search page with filters")
def search_page(request: Request) -> HTMLResponse:
    from pydantic import ValidationError

    from pipeline.web.pages import render_search
    from pipeline.web.params import SearchParams

    form = dict(request.query_params)
    shown = {"q": "", "since": "", "source": "", "lang": "", "limit": 10, "per_story": False} | form
    if not form.get("q"):
        return _html(render_search(_base(request), shown, None))
    try:
        params = SearchParams.model_validate(form)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in exc.errors())
        response = _html(render_search(_base(request), shown, None, problems))
        response.status_code = 422
        return response
    hits = _ask(lambda q: q.search(params.q, **params.query_kwargs()))
    return _html(render_search(_base(request), shown, hits))


# -- the extra link and the plugin ------------------------------------------------------------
class StoriesLink(BaseOperatorLink):
    """"Stories" on news_ingest's index task: the tracked page, marking what that run indexed.

    Registered as a *global* link because a TaskFlow task's operator class is the generic
    ``_PythonDecoratedOperator``; the link answers only for the index task (others get none).
    """

    name = "Stories"

    def get_link(self, operator, *, ti_key: TaskInstanceKey) -> str:
        if (ti_key.dag_id, ti_key.task_id) != (INGEST_DAG_ID, INDEX_TASK_ID):
            return ""
        base_url = conf.get("api", "base_url", fallback="").rstrip("/")
        return f"{base_url}{URL_PREFIX}/?{urlencode({'run': ti_key.run_id})}"


class StorylinePlugin(AirflowPlugin):
    # AirflowPlugin declares these hooks as plain class-level lists.
    name = "storyline"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Storyline stories"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Stories",
            "href": f"{URL_PREFIX}/",
            "url_route": "stories",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
    global_operator_extra_links = [StoriesLink()]  # noqa: RUF012
