"""The `storyline` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from pipeline.catalog import Catalog, open_catalog
from pipeline.feeds import RegistryError, load_registry
from pipeline.settings import Settings

app = typer.Typer(help="Storyline: streaming news ingest, stories and search.", no_args_is_help=True)
feeds_app = typer.Typer(help="The feed registry.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
console = Console()
err_console = Console(stderr=True)

RegistryOption = Annotated[
    Path | None, typer.Option("--registry", help="Feed registry TOML (default: STORYLINE_REGISTRY).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def fail(message: str, code: int = 2) -> None:
    """A run that cannot proceed: one line on stderr, non-zero exit."""
    typer.echo("error: " + " ".join(message.split()), err=True)
    raise typer.Exit(code)


def open_checked_catalog(settings: Settings) -> Catalog:
    try:
        return open_catalog(settings)
    except SQLAlchemyError as exc:
        fail(f"catalog unreachable ({settings.resolved_catalog_url.split('@')[-1]}): {exc.__class__.__name__}")
        raise  # unreachable


@contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Callable[[object], None]]:
    """A rich progress bar on a terminal; a no-op otherwise (and with --json)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _item: None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda _item: progress.advance(task)


@feeds_app.command("list")
def feeds_list(registry: RegistryOption = None, as_json: JsonOption = False) -> None:
    """List the feeds of the registry with their polling state."""
    settings = Settings()
    try:
        sources = load_registry(registry or settings.registry)
    except RegistryError as exc:
        fail(str(exc))
    catalog = open_checked_catalog(settings)
    states = {feed.url: feed for feed in catalog.feeds()}
    rows = []
    for source in sources:
        state = states.get(source.url)
        rows.append(
            {
                "name": source.name,
                "url": source.url,
                "language": source.language,
                "tags": list(source.tags),
                "next_due_at": state.next_due_at.isoformat() if state else None,
                "last_success_at": state.last_success_at.isoformat() if state and state.last_success_at else None,
                "error_class": state.error_class if state else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("name", "language", "tags", "url", "last success", "error")
    for row in rows:
        table.add_row(
            row["name"], row["language"], ",".join(row["tags"]), row["url"],
            row["last_success_at"] or "-", row["error_class"] or "",
        )
    console.print(table)


@app.command()
def poll(
    registry: RegistryOption = None,
    as_json: JsonOption = False,
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every feed, due or not.")] = False,
    then_fetch: Annotated[bool, typer.Option("--fetch", help="Then fetch and extract the new entries.")] = False,
) -> None:
    """Poll every due feed once and record new entries in the catalog."""
    from pipeline.stages import plan_feed_batches, poll_batch

    settings = Settings()
    catalog = open_checked_catalog(settings)
    try:
        (due,) = plan_feed_batches(
            settings, registry=registry, batch_size=10**9, all_feeds=all_feeds, catalog=catalog
        ) or [[]]
        with progress_bar(len(due), "polling feeds", not as_json) as advance:
            result = poll_batch(settings, due, catalog=catalog, on_done=advance)
    except RegistryError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"catalog error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    result.pop("failures")
    if then_fetch:
        result["fetch"] = run_fetch(settings, catalog, None, as_json)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"polled {result['feeds']} feeds: {result['feeds_ok']} ok, "
        f"{result['feeds_not_modified']} not modified, {result['feeds_failed']} failed; "
        f"{result['entries_seen']} entries seen, {result['entries_new']} new"
    )
    for error_class, count in result["errors"].items():
        console.print(f"  {error_class}: {count}")


def run_fetch(settings: Settings, catalog: Catalog, limit: int | None, quiet: bool) -> dict[str, object]:
    from pipeline.stages import fetch_batch, plan_fetch_batches

    planned = plan_fetch_batches(settings, batch_size=50, limit=limit, catalog=catalog)
    totals: dict[str, object] = {}
    with progress_bar(sum(map(len, planned)), "fetching pages", not quiet) as advance:
        for batch in planned:
            totals = merge_summaries(totals, fetch_batch(settings, batch, catalog=catalog, on_done=advance))
    return totals or fetch_summary_keys()


def fetch_summary_keys() -> dict[str, object]:
    from pipeline.fetching import FetchSummary

    return FetchSummary().as_dict()


def merge_summaries(total: dict[str, object], part: dict[str, object]) -> dict[str, object]:
    """Add two stage summaries key by key (numbers add, error-class counts add per class)."""
    merged = dict(total)
    for key, value in part.items():
        if isinstance(value, dict):
            counts = dict(merged.get(key, {}))
            for name, count in value.items():
                counts[name] = counts.get(name, 0) + count
            merged[key] = dict(sorted(counts.items()))
        elif isinstance(value, int | float):
            merged[key] = merged.get(key, 0) + value
    return merged


@app.command()
def fetch(
    limit: Annotated[int | None, typer.Option("--limit", help="At most N entries.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch and extract pending entries (pages are stored; nothing is fetched twice)."""
    settings = Settings()
    catalog = open_checked_catalog(settings)
    try:
        result = run_fetch(settings, catalog, limit, as_json)
    except SQLAlchemyError as exc:
        fail(f"catalog error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"{result['pages']} pages fetched: {result['extracted']} extracted, {result['skipped']} skipped, "
        f"{result['fallback_summary']} from the feed summary, {result['duplicates']} duplicates, "
        f"{result['syndicated']} syndicated copies"
    )
    for error_class, count in result["errors"].items():
        console.print(f"  {error_class}: {count}")


@app.command()
def extract(
    inputs: Annotated[list[str], typer.Argument(help="Local HTML files (plain or .gz) or http(s) URLs.")],
    as_json: JsonOption = False,
) -> None:
    """Extract articles from files or URLs without touching the catalog (the pipeline's code)."""
    from pipeline.extraction.inputs import extract_inputs

    for record in extract_inputs(Settings(), inputs):
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        console.rule(record["input"])
        if record["error"]:
            console.print(f"error: {record['error']}", markup=False)
            continue
        console.print(f"{record['title']}  ({record['date'] or 'no date'}, {record['language'] or '?'})", markup=False)
        console.print(record["text"], markup=False)
