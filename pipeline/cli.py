"""The `storyline` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from pipeline.catalog import Catalog, open_catalog
from pipeline.feeds import RegistryError, load_registry
from pipeline.records import EntryStatus
from pipeline.settings import Settings

app = typer.Typer(help="Storyline: streaming news ingest, stories and search.", no_args_is_help=True)
feeds_app = typer.Typer(help="The feed registry.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
airflow_app = typer.Typer(help="The embedded Airflow deployment (make run / make stop).", no_args_is_help=True)
app.add_typer(airflow_app, name="airflow")
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
    with progress_bars({label: total}, enabled) as (advance,):
        yield advance


@contextmanager
def progress_bars(totals: dict[str, int], enabled: bool) -> Iterator[list[Callable[[object], None]]]:
    """One bar per label, shown together (stages that run at the same time)."""
    if not enabled or not sys.stderr.isatty():
        yield [lambda _item: None for _ in totals]
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        tasks = [progress.add_task(label, total=total) for label, total in totals.items()]
        yield [lambda _item, task=task: progress.advance(task) for task in tasks]


def per_article(advance: Callable[[object], None]) -> Callable[[int], None]:
    """The index stage reports articles done a batch at a time; a bar moves one at a time."""

    def done(count: int) -> None:
        for _ in range(count):
            advance(None)

    return done


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
    from pipeline.stages import fetch_batches, merge_summaries, plan_fetch_batches

    planned = plan_fetch_batches(settings, batch_size=settings.fetch_batch_size, limit=limit, catalog=catalog)
    totals: dict[str, object] = {}
    with progress_bar(sum(map(len, planned)), "fetching pages", not quiet) as advance:
        for summary in fetch_batches(settings, planned, catalog=catalog, on_done=advance):
            totals = merge_summaries(totals, summary)
    return totals or fetch_summary_keys()


def fetch_summary_keys() -> dict[str, object]:
    from pipeline.fetching import FetchSummary

    return FetchSummary().as_dict()


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


def run_index(settings: Settings, catalog: Catalog, quiet: bool) -> dict[str, object]:
    from pipeline.stages import index_pending

    pending = catalog.count_entries(EntryStatus.EXTRACTED)
    with progress_bar(pending, "indexing articles", not quiet) as advance:
        return index_pending(settings, catalog=catalog, on_done=per_article(advance))


@app.command()
def index(as_json: JsonOption = False) -> None:
    """Embed, index and cluster every extracted article not yet indexed."""
    settings = Settings()
    catalog = open_checked_catalog(settings)
    result = query_or_fail(lambda: run_index(settings, catalog, as_json))
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"{result['indexed']} articles indexed: {result['stories_created']} new stories, "
        f"{result['stories_joined']} joined a story, {result['syndicated_joined']} syndicated copies, "
        f"{result['merges']} merges"
    )


@app.command()
def reindex(as_json: JsonOption = False) -> None:
    """Embed every indexed article again with the configured model (STORYLINE_MODEL,
    STORYLINE_EMBED_BACKEND) into new collections, then switch to them; stories keep their ids."""
    from pipeline.indexing import reindex as rebuild

    settings = Settings()
    catalog = open_checked_catalog(settings)
    total = catalog.count_entries(EntryStatus.INDEXED)
    with progress_bar(total, "embedding again", not as_json) as advance:
        result = rebuild(settings, catalog, on_done=lambda n: [advance(None) for _ in range(n)]).as_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"{result['articles']} articles and {result['stories']} stories re-embedded with "
        f"{result['model']} ({result['dimension']}-d); now serving "
        f"{', '.join(result['collections'].values())}", markup=False,
    )


def run_pipeline(settings: Settings, catalog: Catalog, quiet: bool, registry: Path | None = None) -> dict[str, object]:
    """poll, then fetch + index (overlapped: `pipeline.stages.fetch_and_index`): the whole
    pipeline once."""
    from pipeline.indexing import IndexStage
    from pipeline.stages import (
        fetch_and_index,
        plan_feed_batches,
        plan_fetch_batches,
        poll_batch,
    )

    (due,) = plan_feed_batches(settings, registry=registry, batch_size=10**9, catalog=catalog) or [[]]
    with progress_bar(len(due), "polling feeds", not quiet) as advance:
        polled = poll_batch(settings, due, catalog=catalog, on_done=advance)
    polled.pop("failures")
    planned = plan_fetch_batches(settings, batch_size=settings.fetch_batch_size, catalog=catalog)
    pages = sum(map(len, planned))
    # Every page may become an article: the index bar's total is an upper bound.
    waiting = catalog.count_entries(EntryStatus.EXTRACTED)
    with progress_bars({"fetching pages": pages, "indexing articles": waiting + pages}, not quiet) as bars:
        fetched_one, indexed_one = bars
        fetched, indexed = fetch_and_index(
            settings, catalog, planned, IndexStage(settings, catalog), on_fetched=fetched_one,
            on_indexed=per_article(indexed_one),
        )
    return {"poll": polled, "fetch": fetched or fetch_summary_keys(), "index": indexed}


@app.command()
def run(registry: RegistryOption = None, as_json: JsonOption = False) -> None:
    """The whole pipeline once: poll due feeds, fetch and extract, index and cluster."""
    settings = Settings()
    catalog = open_checked_catalog(settings)
    try:
        result = run_pipeline(settings, catalog, as_json, registry)
    except RegistryError as exc:
        fail(str(exc))
    print_run(result, as_json)


def print_run(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    poll_result, fetch_result, index_result = result["poll"], result["fetch"], result["index"]
    console.print(
        f"poll: {poll_result['feeds']} feeds ({poll_result['feeds_failed']} failed), {poll_result['entries_new']} new entries\n"
        f"fetch: {fetch_result['extracted']} extracted, {fetch_result['fallback_summary']} from summaries, "
        f"{fetch_result['skipped']} skipped, {fetch_result['duplicates']} duplicates, {fetch_result['syndicated']} syndicated\n"
        f"index: {index_result['indexed']} indexed, {index_result['stories_created']} new stories, "
        f"{index_result['stories_joined']} joined"
    )


def open_queries(settings: Settings):
    from pipeline.queries import Queries

    return Queries(settings, open_checked_catalog(settings))


def query_or_fail(call):
    from pipeline.queries import QueryError
    from pipeline.vectorstore import VectorStoreError

    try:
        return call()
    except (QueryError, VectorStoreError) as exc:
        fail(str(exc))


def print_hits(hits: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(hits))
        return
    table = Table("score", "published", "source", "title", "story")
    for hit in hits:
        table.add_row(f"{hit['score']:.3f}", str(hit["published_at"])[:16], str(hit["source"]),
                      str(hit["title"]), str(hit["story_id"])[:8])
    console.print(table)


@app.command()
def search(
    query: str,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 10,
    since: Annotated[datetime | None, typer.Option("--since", help="Published at or after (ISO date).")] = None,
    source: Annotated[str | None, typer.Option("--source")] = None,
    lang: Annotated[str | None, typer.Option("--lang")] = None,
    story: Annotated[str | None, typer.Option("--story", help="Only this story id.")] = None,
    per_story: Annotated[bool, typer.Option("--per-story", help="Best hit per story.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Semantic search over indexed articles."""
    queries = open_queries(Settings())
    since_utc = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    hits = query_or_fail(lambda: queries.search(query, limit=limit, since=since_utc, source=source,
                                                language=lang, story=story, per_story=per_story))
    print_hits(hits, as_json)


@app.command()
def related(id_or_url: str, limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 10,
            as_json: JsonOption = False) -> None:
    """Articles closest to one indexed article (by id or URL)."""
    queries = open_queries(Settings())
    print_hits(query_or_fail(lambda: queries.related(id_or_url, limit=limit)), as_json)


@app.command()
def lineup(name: Annotated[str | None, typer.Argument(help="Tracked story name (default: the first).")] = None,
           as_json: JsonOption = False) -> None:
    """The tracked story's seed, its coverage in time order, then related coverage."""
    queries = open_queries(Settings())
    result = query_or_fail(lambda: queries.lineup(name))
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"[bold]{result['name']}[/bold]")
    console.print(f"seed: {result['seed']['title']}", markup=False)
    if result["story"] is None:
        console.print("no indexed coverage yet")
        return
    story = result["story"]
    console.print(f"story {story['id'][:8]}: {story['size']} articles, {story['independent_sources']} independent sources")
    console.print(lineup_table(result["coverage"]))
    for related_story in result["related"]:
        console.print(f"related coverage ({related_story['relatedness']:.2f}): {related_story['story']['label']}", markup=False)
        console.print(lineup_table(related_story["articles"]))


def lineup_table(articles: list[dict[str, object]]) -> Table:
    table = Table("time", "source", "title", "similarity", "")
    for article in articles:
        similarity = article["similarity"]
        table.add_row(
            str(article["published_at"])[:16].replace("T", " "), str(article["source"]), str(article["title"]),
            "-" if similarity is None else f"{similarity:.2f}", "syndicated" if article["syndicated"] else "",
        )
    return table


@app.command()
def stories(state: Annotated[str, typer.Option("--state", help="active, dormant, merged or all")] = "active",
            as_json: JsonOption = False) -> None:
    """Stories with their size, independent sources, last update and state."""
    queries = open_queries(Settings())
    rows = queries.stories(state=None if state == "all" else state)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("story", "size", "sources", "last seen", "state", "label")
    for row in rows:
        table.add_row(row["id"][:8], str(row["size"]), str(row["independent_sources"]),
                      str(row["last_seen"])[:16], row["state"], row["label"])
    console.print(table)


@airflow_app.command("up")
def airflow_up(
    port: Annotated[int, typer.Option(help="api-server (UI) port")] = 8080,
    demo_port: Annotated[int, typer.Option(help="demo news site port")] = 8765,
    wait: Annotated[bool, typer.Option(help="wait for the first ingest run")] = True,
) -> None:
    """Start Airflow (and the demo site) in the background; trigger the first ingest run."""
    from pipeline import deploy

    settings = Settings()
    try:
        deployment, first_run = deploy.up(settings, demo=settings.feeds == "demo", api_port=port, demo_port=demo_port)
    except deploy.DeploymentError as exc:
        fail(str(exc))
    console.print(f"Airflow UI : {deployment.url}   login: {deployment.username} / {deployment.password}")
    console.print(f"Feeds      : {deployment.registry}")
    console.print(f"First run  : news_ingest {first_run}")
    if wait:
        with deploy.AirflowClient(deployment.url, deployment.username, deployment.password) as client:
            client.login()
            console.print(f"First run  : {client.wait_for_run('news_ingest', first_run, 1800)}")
    console.print("Stories    : storyline lineup      Search: storyline search QUERY      Stop: make stop")
    if wait:
        from pipeline.queries import QueryError

        try:
            lineup(None, as_json=False)
        except (QueryError, typer.Exit):
            pass  # no seed here (../shared absent) or nothing indexed: the commands above still work


@airflow_app.command("status")
def airflow_status() -> None:
    """The processes `storyline airflow up` started, and whether they are alive."""
    from pipeline import deploy

    typer.echo(json.dumps(deploy.status(Settings()), indent=2, default=str))


@airflow_app.command("down")
def airflow_down() -> None:
    """Stop exactly the processes `storyline airflow up` started (by pid)."""
    from pipeline import deploy

    console.print(f"stopped: {', '.join(deploy.down(Settings())) or 'nothing was running'}")


@app.command("eval-clustering")
def eval_clustering(
    path: Annotated[Path, typer.Argument(help="Labelled JSONL file, one document per line.")],
    label_field: Annotated[str, typer.Option("--label-field", help="The field holding the true story.")],
    text_field: Annotated[str, typer.Option("--text-field")] = "text",
    title_field: Annotated[str, typer.Option("--title-field")] = "title",
    date_field: Annotated[str, typer.Option("--date-field")] = "date",
    as_json: JsonOption = False,
) -> None:
    """Stream a labelled file through the story clusterer; score it beside a TF-IDF baseline."""
    from pipeline.evaluation.clustering import evaluate_file

    if not path.is_file():
        fail(f"no such file: {path}")
    try:
        result = evaluate_file(path, label_field, text_field, title_field, date_field)
    except (KeyError, ValueError) as exc:
        fail(f"{path}: {exc}")
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("", "stories", "pairwise P", "R", "F1", "BCubed P", "R", "F1")
    for name, scores in (("storyline", result), ("TF-IDF baseline", result["baseline"])):
        pairwise, bcubed = scores["pairwise"], scores["bcubed"]
        table.add_row(name, str(scores["n_stories"]), *(f"{pairwise[k]:.3f}" for k in "pr"), f"{pairwise['f1']:.3f}",
                      *(f"{bcubed[k]:.3f}" for k in "pr"), f"{bcubed['f1']:.3f}")
    console.print(f"{result['n_docs']} documents")
    console.print(table)
