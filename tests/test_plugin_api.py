"""The Storyline plugin inside the real Airflow api-server app, on the indexed demo site.

Real parts: Airflow's own app factory (auth manager, plugin loading, mounting), the demo site
ingested with the `storyline run` CLI, the real model and stores. Requests go through
Starlette's TestClient into that app.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.demo.site import DemoSite
from pipeline.deploy import AirflowConfig, dev_password
from tests.support.cli import run_json, storyline_env

SEED = Path("../shared/seed/000_d4eb1fab17eab041.txt")
# The demo entry harbor-post/why-script-alert-still-breaks-websites: its title holds markup.
XSS_SLUG = "why-script-alert-still-breaks-websites"
SEARCH = "/storyline/api/search"
VIEWER = "reader"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    """A Storyline home holding the whole demo site, indexed; and when indexing began."""
    if not SEED.is_file():
        pytest.skip(f"the tracked story's seed is not at {SEED} (../shared is absent)")
    tmp = tmp_path_factory.mktemp("plugin-demo")
    started = datetime.now(UTC)
    with DemoSite() as site:
        env = storyline_env(tmp / "home", STORYLINE_REGISTRY=str(site.registry_path(tmp)))
        run_json("run", env=env)
    return tmp / "home", started


@pytest.fixture(scope="module")
def client(airflow_home: AirflowConfig, demo_home):
    """A TestClient on Airflow's api-server app with our plugin loaded, not logged in."""
    from fastapi.testclient import TestClient

    home, _ = demo_home
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORYLINE_HOME", str(home))
        # A second login with Airflow's read-only role; the auth manager makes its password.
        patch.setenv(
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
            f"{airflow_home.username}:admin,{VIEWER}:viewer",
        )
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(), base_url="http://127.0.0.1") as test_client:
            yield test_client


@pytest.fixture(scope="module")
def token(client, airflow_home: AirflowConfig) -> str:
    response = client.post(
        "/auth/token", json={"username": airflow_home.username, "password": dev_password(airflow_home)}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def stories(client, auth) -> list[dict]:
    response = client.get("/storyline/api/stories", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "path",
    ["/storyline/", "/storyline/stories", "/storyline/search?q=ceasefire", "/storyline/api/stories",
     "/storyline/api/tracked", f"{SEARCH}?q=ceasefire", "/storyline/openapi.json"],
)
def test_every_route_refuses_anonymous_requests(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401, (path, response.status_code)


def test_a_forged_token_is_refused(client) -> None:
    response = client.get("/storyline/api/stories", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code in (401, 403)


def test_bearer_token_and_ui_cookie_both_work(client, token: str, stories) -> None:
    assert stories, "the demo site gives stories"
    by_cookie = client.get("/storyline/api/stories", headers={"Cookie": f"_token={token}"})
    assert by_cookie.status_code == 200
    assert by_cookie.json() == stories


def test_story_list_shape_and_order(stories) -> None:
    keys = {"id", "label", "size", "sources", "independent_sources", "first_seen", "last_seen", "state"}
    assert all(keys <= set(story) for story in stories)
    assert {story["state"] for story in stories} == {"active"}
    assert all(1 <= s["independent_sources"] <= len(s["sources"]) <= s["size"] for s in stories)


def test_story_lineup_is_in_time_order_with_marks_and_lineage(client, auth, stories) -> None:
    biggest = max(stories, key=lambda s: s["size"])
    story = client.get(f"/storyline/api/stories/{biggest['id']}", headers=auth).json()
    articles = story["articles"]
    assert len(articles) == biggest["size"]
    times = [a["published_at"] for a in articles]
    assert times == sorted(times)
    assert all({"source", "similarity", "syndicated", "url", "indexed_at"} <= set(a) for a in articles)
    assert all(-1.0 <= a["similarity"] <= 1.0 for a in articles)
    assert isinstance(story["lineage"], list)


def test_tracked_lineup_has_the_seed_and_its_coverage(client, auth) -> None:
    (tracked,) = client.get("/storyline/api/tracked", headers=auth).json()
    assert tracked["seed"]["title"]
    assert tracked["story"]["size"] == len(tracked["coverage"]) >= 5
    times = [a["published_at"] for a in tracked["coverage"]]
    assert times == sorted(times)
    # The talks' episodes (the call, Istanbul, the prisoner exchange) may be stories of their
    # own, split off the seed's story and shown as related coverage: the copies are in one.
    shown = tracked["coverage"] + [a for related in tracked["related"] for a in related["articles"]]
    assert any(a["syndicated"] for a in shown), "the demo syndicates talks coverage"


def test_search_finds_the_talks_and_honours_filters(client, auth) -> None:
    hits = client.get(SEARCH, params={"q": "prisoner exchange talks in Istanbul", "limit": 5}, headers=auth).json()
    assert 1 <= len(hits) <= 5
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    source = hits[0]["source"]
    only = client.get(SEARCH, params={"q": "talks", "source": source, "limit": 50}, headers=auth).json()
    assert only and {h["source"] for h in only} == {source}
    story = hits[0]["story_id"]
    in_story = client.get(SEARCH, params={"q": "talks", "story": story, "limit": 50}, headers=auth).json()
    assert in_story and {h["story_id"] for h in in_story} == {story}
    grouped = client.get(SEARCH, params={"q": "talks", "per_story": "true", "limit": 50}, headers=auth).json()
    assert len({h["story_id"] for h in grouped}) == len(grouped)
    future = client.get(SEARCH, params={"q": "talks", "since": "2100-01-01"}, headers=auth).json()
    assert future == []


def test_related_articles_exclude_the_article_itself(client, auth, stories) -> None:
    story = client.get(f"/storyline/api/stories/{stories[0]['id']}", headers=auth).json()
    article = story["articles"][0]["id"]
    related = client.get(f"/storyline/api/articles/{article}/related", params={"limit": 3}, headers=auth).json()
    assert 1 <= len(related) <= 3 and article not in {r["id"] for r in related}


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (SEARCH, {}, 422),  # q is required
        (SEARCH, {"q": " "}, 422),
        (SEARCH, {"q": "x", "limit": 0}, 422),
        (SEARCH, {"q": "x", "limit": 101}, 422),
        (SEARCH, {"q": "x", "since": "yesterday"}, 422),
        (SEARCH, {"q": "x", "story": "not-a-uuid"}, 422),
        (SEARCH, {"q": "x", "lang": "english!"}, 422),
        (SEARCH, {"q": "x", "unknown": "1"}, 422),
        ("/storyline/api/stories", {"state": "exploded"}, 422),
        ("/storyline/api/stories", {"limit": 1000}, 422),
        ("/storyline/api/stories/not-a-uuid", {}, 422),
        ("/storyline/api/stories/00000000-0000-5000-8000-000000000000", {}, 404),
        ("/storyline/api/articles/00000000-0000-5000-8000-000000000000/related", {}, 404),
        ("/storyline/stories/00000000-0000-5000-8000-000000000000", {}, 404),
        ("/storyline/", {"run": "no-such-run"}, 404),
    ],
)
def test_bad_requests_get_clear_client_errors(client, auth, path: str, params: dict, status: int) -> None:
    response = client.get(path, params=params, headers=auth)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_openapi_schema_documents_the_api_with_bounds(client, auth) -> None:
    schema = client.get("/storyline/openapi.json", headers=auth).json()
    paths = schema["paths"]
    for path in ("/api/search", "/api/stories", "/api/stories/{story_id}", "/api/tracked",
                 "/api/articles/{article_id}/related"):
        assert "get" in paths[path], path
    limit = next(p for p in paths["/api/search"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


def test_limits_agree_with_the_query_layer() -> None:
    from pipeline.queries import MAX_LIMIT
    from pipeline.web.params import MAX_LIMIT as WEB_MAX_LIMIT

    assert WEB_MAX_LIMIT == MAX_LIMIT


def test_pages_render_for_the_ui_cookie(client, token: str, stories) -> None:
    cookie = {"Cookie": f"_token={token}"}
    tracked = client.get("/storyline/", headers=cookie)
    assert tracked.status_code == 200 and "<svg" in tracked.text and "syndicated" in tracked.text
    assert "script-src" not in tracked.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in tracked.headers["content-security-policy"]
    listing = client.get("/storyline/stories", headers=cookie)
    assert all(story["id"] in listing.text for story in stories)
    page = client.get(f"/storyline/stories/{stories[0]['id']}", headers=cookie)
    assert page.status_code == 200 and "Articles per hour by source" in page.text
    search = client.get("/storyline/search", params={"q": "ceasefire", "since": "", "lang": ""}, headers=cookie)
    assert search.status_code == 200 and search.text.count('class="hit"') == 10
    bad = client.get("/storyline/search", params={"q": "ceasefire", "limit": "500"}, headers=cookie)
    assert bad.status_code == 422 and 'class="error"' in bad.text


def test_new_marks_follow_the_time_asked_for(client, auth, demo_home) -> None:
    _, indexing_began = demo_home
    before = client.get("/storyline/", params={"since": indexing_began.isoformat()}, headers=auth).text
    after = client.get("/storyline/", params={"since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
                       headers=auth).text
    (tracked,) = client.get("/storyline/api/tracked", headers=auth).json()
    assert before.count('class="article is-new') >= len(tracked["coverage"])
    assert "is-new" not in after


def test_hostile_demo_title_is_shown_as_text(client, auth) -> None:
    hits = client.get(SEARCH, params={"q": "script alert onerror break websites", "limit": 3}, headers=auth).json()
    (hostile,) = [h for h in hits if XSS_SLUG in h["url"]]
    assert "<script>" in hostile["title"], "the API returns the title as published"
    pages = [
        client.get("/storyline/search", params={"q": "script alert onerror"}, headers=auth).text,
        client.get(f"/storyline/stories/{hostile['story_id']}", headers=auth).text,
    ]
    for html in pages:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert not re.search(r"<script", html, re.IGNORECASE)
        assert not re.search(r"<img\b", html, re.IGNORECASE)


def test_index_task_links_to_the_stories_of_its_run(client, airflow_home: AirflowConfig) -> None:
    from airflow import plugins_manager
    from airflow.models.taskinstancekey import TaskInstanceKey

    (link,) = [link for link in plugins_manager.get_global_operator_extra_links() if link.name == "Stories"]
    run_id = "manual__2025-05-20T10:00:00+00:00"
    url = link.get_link(None, ti_key=TaskInstanceKey("news_ingest", "index_articles", run_id, 1))
    assert url == f"{airflow_home.api_url}/storyline/?run=manual__2025-05-20T10%3A00%3A00%2B00%3A00"
    assert link.get_link(None, ti_key=TaskInstanceKey("news_ingest", "plan_feeds", run_id, 1)) == ""


def test_a_viewer_reads_stories_and_nothing_in_the_plugin_writes(client, auth, stories) -> None:
    import json

    from airflow.configuration import conf

    passwords = json.loads(Path(conf.get("core", "simple_auth_manager_passwords_file")).read_text())
    login = client.post("/auth/token", json={"username": VIEWER, "password": passwords[VIEWER]})
    assert login.status_code in (200, 201), login.text
    viewer = {"Authorization": f"Bearer {login.json()['access_token']}"}

    assert client.get("/storyline/api/stories", headers=viewer).json() == stories
    # The role is really read-only: Airflow itself refuses the viewer a write.
    pause = client.patch("/api/v2/dags/news_ingest", json={"is_paused": True}, headers=viewer)
    assert pause.status_code == 403, pause.text
    # The plugin has nothing to write with, for anyone: GET routes only; other methods 405.
    paths = client.get("/storyline/openapi.json", headers=auth).json()["paths"]
    assert paths and {method for operations in paths.values() for method in operations} == {"get"}
    for path in paths:
        if "{" not in path:
            assert client.post(f"/storyline{path}", headers=auth).status_code == 405, path

