"""The Stories pages in a real browser: Debian's Chromium driven by Playwright, against the live
Airflow processes (api-server with our plugin) on the indexed demo site.

Screenshots go to the test's tmp dir and, when STORYLINE_SCREENSHOTS_DIR is set, there too
(`make screenshots` style: that is how docs/img/*.png are made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.demo.site import DemoSite
from pipeline.deploy import dev_password
from tests.airflow_support import live_airflow
from tests.airflow_support import storyline_env as airflow_storyline_env
from tests.support.cli import run_json, storyline_env

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SEED = Path("../shared/seed/000_d4eb1fab17eab041.txt")
OWN_SEED_PATH = "/meridian-wire/2025/05/19/trump-putin-call-two-hours.html"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_TITLE_PART = "<script>alert(1)</script>"
TIMEOUT_MS = 120_000  # the first page view loads the embedding model in the api-server


@pytest.fixture(scope="module")
def live_stories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """Airflow running with the plugin over an indexed demo home: (url, username, password)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not SEED.is_file():
        pytest.skip(f"the tracked story's seed is not at {SEED} (../shared is absent)")
    tmp = tmp_path_factory.mktemp("plugin-browser")
    with DemoSite() as site:
        registry = site.registry_path(tmp)
        run_json("run", env=storyline_env(tmp / "home", STORYLINE_REGISTRY=str(registry)))
        own_seed = tmp / "seed.html"
        own_seed.write_bytes(httpx.get(site.url(OWN_SEED_PATH)).content)
    env = airflow_storyline_env(tmp / "home", registry)
    if os.environ.get("STORYLINE_SCREENSHOTS_DIR"):
        # Screenshots that get committed must not show the shared seed's text (it is not
        # ours): track the same story from one of our own demo articles instead.
        tracked = tmp / "tracked.toml"
        tracked.write_text(f'[[story]]\nname = "Ukraine peace talks"\nseed = "{own_seed}"\n')
        env["STORYLINE_TRACKED"] = str(tracked)
    with live_airflow(tmp / "airflow", f"sqlite:///{tmp / 'airflow.db'}", env) as (config, client):
        client.close()
        yield config.api_url, config.username, dev_password(config)


@pytest.fixture
def browser_page(live_stories):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        yield page, dialogs
        browser.close()


def save(page, name: str, shots: Path, *, full_page: bool = False) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    wanted = os.environ.get("STORYLINE_SCREENSHOTS_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda current: "/auth/login" not in current)


def search(frame, query: str) -> None:
    """Search from the header's box and wait for that query's results (not the previous ones)."""
    frame.locator("form.quick input[name=q]").fill(query)
    frame.locator("form.quick button").click()
    frame.get_by_text(f"for \u201c{query}\u201d").wait_for()


def test_stories_in_the_airflow_ui(browser_page, live_stories, tmp_path: Path) -> None:
    page, dialogs = browser_page
    log_in(page, *live_stories)

    # Stories from the navigation: our page in the UI's iframe, the seed story first.
    page.get_by_role("link", name="Stories").first.click()
    page.wait_for_url("**/plugin/stories")
    frame = page.frame_locator("iframe")
    seed_title = frame.locator(".seed-title").first
    seed_title.wait_for()
    assert seed_title.inner_text().strip()
    lineup = frame.locator("section.tracked ol.lineup").first.locator("li.article")
    published = [item.get_attribute("data-published") for item in lineup.all()]
    assert len(published) >= 5 and published == sorted(published), "the lineup is in time order"
    assert frame.locator("section.tracked .tag.syndicated").count() >= 1
    assert frame.locator("figure.chart svg circle").count() >= len(published) // 3
    save(page, "airflow-stories", tmp_path)

    # A search from the page's search box shows hits.
    search(frame, "prisoner exchange in Istanbul")
    hits = frame.locator("li.hit")
    assert hits.count() >= 3
    save(page, "airflow-search", tmp_path)

    # The hostile demo title is text, and nothing ran.
    search(frame, "script alert onerror break websites")
    assert HOSTILE_TITLE_PART in frame.locator("li.hit").first.inner_text()
    assert frame.locator("li.hit img").count() == 0

    # A story page from the story list.
    frame.get_by_role("link", name="All stories").click()
    frame.locator("table.stories a").first.click()
    frame.locator("figure.chart").wait_for()
    story_times = [i.get_attribute("data-published") for i in frame.locator("li.article").all()]
    assert story_times and story_times == sorted(story_times)
    assert dialogs == [], f"a script ran: {dialogs}"


def test_pages_at_their_own_url_on_laptop_and_phone(browser_page, live_stories, tmp_path: Path) -> None:
    page, dialogs = browser_page
    log_in(page, *live_stories)
    url = live_stories[0]
    page.goto(f"{url}/storyline/")
    page.locator(".seed-title").wait_for()
    save(page, "stories-tracked", tmp_path, full_page=True)
    page.goto(f"{url}/storyline/stories")
    save(page, "stories-list", tmp_path)
    page.set_viewport_size(PHONE)
    page.goto(f"{url}/storyline/")
    page.locator(".seed-title").wait_for()
    # Readable on a phone: the page does not scroll sideways (only the chart may, inside itself).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save(page, "stories-phone", tmp_path)
    assert dialogs == []
