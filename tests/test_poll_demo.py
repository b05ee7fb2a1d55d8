"""`storyline poll` against the demo news site over real HTTP, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.catalog import open_catalog
from pipeline.demo.labels import load_labels
from pipeline.demo.site import DemoSite
from pipeline.settings import Settings
from tests.support.cli import run_cli, run_json, storyline_env

FEEDS = 6


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_first_poll_finds_every_entry_and_second_poll_is_all_not_modified(home: Path, tmp_path: Path) -> None:
    labels = load_labels()
    with DemoSite() as site:
        env = storyline_env(home, STORYLINE_REGISTRY=str(site.registry_path(tmp_path)))
        first = run_json("poll", env=env)
        assert first["feeds"] == FEEDS and first["feeds_ok"] == FEEDS and first["feeds_failed"] == 0
        assert first["entries_new"] == len(labels)
        assert first["entries_seen"] >= len(labels)
        second = run_json("poll", "--all", env=env)
        assert second == {
            "feeds": FEEDS, "feeds_ok": 0, "feeds_not_modified": FEEDS, "feeds_failed": 0,
            "entries_seen": 0, "entries_new": 0, "errors": {},
        }
        # Nothing was due a moment after a successful poll: no request at all.
        third = run_json("poll", env=env)
        assert third["feeds"] == 0
    catalog = open_catalog(Settings(home=home))
    stored = {row.canonical_url.removeprefix(site.base_url) for row in catalog.entries()}
    assert stored == {label.path for label in labels}
    assert catalog.count_entries() == len(labels)


def test_changed_feed_yields_exactly_the_new_entries(home: Path, tmp_path: Path) -> None:
    withheld = "meridian-wire/kremlin-memorandum-no-deadline"
    with DemoSite(withheld={withheld}) as site:
        env = storyline_env(home, STORYLINE_REGISTRY=str(site.registry_path(tmp_path)))
        first = run_json("poll", env=env)
        assert first["entries_new"] == len(load_labels()) - 1
        site.publish(withheld)
        second = run_json("poll", "--all", env=env)
        assert (second["feeds_ok"], second["feeds_not_modified"], second["entries_new"]) == (1, FEEDS - 1, 1)
    catalog = open_catalog(Settings(home=home))
    newest = max(catalog.entries(), key=lambda row: row.first_seen_at)
    assert newest.url.endswith("/meridian-wire/2025/05/27/kremlin-memorandum-no-deadline.html")


def test_bad_registry_is_a_one_line_error_with_nonzero_exit(home: Path, tmp_path: Path) -> None:
    registry = tmp_path / "broken.toml"
    registry.write_text("[[feed]\nname = 'x'\n")
    result = run_cli("poll", "--registry", str(registry), "--json", env=storyline_env(home))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "not valid TOML" in result.stderr


def test_unreachable_catalog_is_a_one_line_error(home: Path) -> None:
    env = storyline_env(home, STORYLINE_CATALOG_URL="postgresql+psycopg2://postgres@127.0.0.1:1/none")
    result = run_cli("poll", "--json", env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "catalog unreachable" in result.stderr


def test_feeds_list_shows_the_registry_with_state(home: Path, tmp_path: Path) -> None:
    with DemoSite() as site:
        env = storyline_env(home, STORYLINE_REGISTRY=str(site.registry_path(tmp_path)))
        run_json("poll", env=env)
        rows = run_json("feeds", "list", env=env)
    assert len(rows) == FEEDS
    assert all(row["last_success_at"] and row["error_class"] is None for row in rows)
