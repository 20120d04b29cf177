"""The ``profilegraph`` command: a thin shell over the library, rendered with rich.

Errors from the library (:class:`ProfilegraphError`) are caught once, in :func:`main`, and
printed as ``ErrorName: message``; the exit status is then 1.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ProfilegraphError
from core.settings import Settings
from graph.analyst import analyst_queries, run_analyst_query
from graph.client import GraphClient
from graph.datasets import DATASETS, DataSet
from graph.kafka_source import KafkaSource
from graph.schema import apply_schema
from graph.selections import ChangedSince, Neighbourhood, Selection, WholeGraph
from graph.source import EventsSource, Source, ingest_events
from graph.stream import STREAM, RedisStreamSource
from jobs import retention
from jobs.erasure import erase_copies
from jobs.ingest_lag import measure
from jobs.payloads import ConsumeKafkaRequest, EvaluateRequest, validate
from jobs.private_aggregates import private_query
from jobs.pseudonyms import pseudonymise
from jobs.runs import RunBoard
from profilegraph import jobs_cli, services
from profilegraph.ingest_progress import consume_with_progress, progress_bar
from profilegraph.services import kafka_server, redis_server
from profilegraph.services.status import ServiceStatus

app = typer.Typer(help="Social profiles from a Neo4j interaction graph.", no_args_is_help=True)
services_app = typer.Typer(
    help="Local Neo4j + GDS and Redis, without Docker.", no_args_is_help=True
)
schema_app = typer.Typer(help="The Neo4j schema in cypher/schema.cypher.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(schema_app, name="schema")
# Commands that train or export import torch inside themselves: ingest, consume, query and
# the rest stay light (tests/profilegraph/test_cli_weight.py)
console = Console()
notes = Console(stderr=True)  # what must not mix with --format json/csv on stdout


def _status_table(rows: list[ServiceStatus]) -> Table:
    table = Table(title="services")
    for column in ("service", "state", "pid", "address", "version"):
        table.add_column(column)
    for row in rows:
        state = "[green]running" if row.running else "[red]died" if row.died else "[red]stopped"
        table.add_row(row.name, state, str(row.pid or "-"), row.address, row.version or row.detail)
    return table


@services_app.command("up")
def services_up(
    ctx: typer.Context,
    with_: list[str] = typer.Option(
        [], "--with", help="optional services to start too: kafka (first run downloads it)"
    ),
) -> None:
    """Install what is missing, then start Redis and Neo4j (and Kafka with --with kafka, or
    when this instance has used it before) and wait until each answers."""
    started = time.monotonic()
    settings: Settings = ctx.obj
    unknown = sorted(set(with_) - {"kafka"})
    if unknown:
        raise typer.BadParameter(
            f"unknown optional service(s) {unknown}; known: kafka", param_hint="--with"
        )
    with console.status("starting the services (first run downloads Neo4j + GDS)..."):
        rows = services.up(settings, with_kafka="kafka" in with_)
    console.print(_status_table(rows))
    console.print(f"ready in {time.monotonic() - started:.1f} s; secrets in {settings.env_file}")
    n = settings.neo4j
    console.print(
        f"Neo4j Browser: http://{n.host}:{n.http_port}/browser/ (user {n.user}, password "
        "PROFILEGRAPH_NEO4J__PASSWORD in that file); the analyst guide opens after login"
    )


@services_app.command("down")
def services_down(ctx: typer.Context) -> None:
    """Stop Neo4j and Redis (their data stays in the state dir)."""
    settings: Settings = ctx.obj
    services.down(settings)
    console.print(_status_table(services.status(settings)))


@services_app.command("status")
def services_status(
    ctx: typer.Context,
    restart: bool = typer.Option(False, help="start again a service that died"),
) -> None:
    """Show whether each service runs and which version answers; a service that ended without
    being stopped (crashed, killed, out of memory) shows as died. Exits 1 when one died and
    was not restarted."""
    rows = services.status(ctx.obj)
    if restart and any(row.died for row in rows):
        console.print("restarting: " + ", ".join(row.name for row in rows if row.died))
        rows = services.up(ctx.obj)
    console.print(_status_table(rows))
    for row in rows:
        if row.detail:
            console.print(f"{row.name}: {row.detail}", highlight=False)
    if any(row.died for row in rows):
        raise typer.Exit(1)


@services_app.command("logs")
def services_logs(
    ctx: typer.Context, lines: int = typer.Option(40, help="lines from the end of each log")
) -> None:
    """Print the end of the Neo4j, Redis (and Kafka) logs."""
    settings: Settings = ctx.obj
    for name, service in services.SERVICES.items():
        path = service.log_path(settings)
        console.rule(f"{name}: {path}")
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        console.print("\n".join(text) or "(no log yet)", markup=False, highlight=False)


@schema_app.command("apply")
def schema_apply(ctx: typer.Context) -> None:
    """Create the constraints and indexes (idempotent)."""
    with GraphClient(ctx.obj.neo4j) as client:
        summary = apply_schema(client)
    console.print(
        f"schema applied: {summary.constraints_added} constraints, "
        f"{summary.indexes_added} indexes added"
    )


@app.command()
def ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help=".jsonl or .csv events"),
    source: str = typer.Option("", help="name kept with dead letters (default: file name)"),
) -> None:
    """Validate and ingest an event file; bad lines go to the dead-letter store. The file's
    position commits with each batch: a re-run (after a crash, or of the file with lines
    appended) resumes after the last committed line."""
    settings: Settings = ctx.obj
    events = EventsSource.file(path, name=source, currency=settings.value.currency)
    consume_with_progress(settings, events)


load_app = typer.Typer(help="Load a data set through the ingest path.", no_args_is_help=True)
app.add_typer(load_app, name="load")


def _load_command(data: DataSet) -> None:
    """``profilegraph load NAME [--path P]``, one per data set in graph.datasets.DATASETS."""

    def load(
        ctx: typer.Context,
        path: Path = typer.Option(None, help=data.path_help),
    ) -> None:
        events, total = data.read(path or ctx.obj.datasets_dir / data.default)
        consume_with_progress(ctx.obj, _events(ctx.obj, events, data.name, total))

    load.__doc__ = f"Load {data.summary} from ../shared."
    load_app.command(data.name)(load)


for _data in DATASETS.values():
    _load_command(_data)


@load_app.command("synthetic")
def load_synthetic(
    ctx: typer.Context,
    users: int = typer.Option(10_000, min=10),
    items: int = typer.Option(2_000, min=10),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("out/synthetic"), help="where data and ground truth go"),
) -> None:
    """Generate the seeded synthetic shop, save it with its ground truth, and ingest it."""
    from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events

    data = generate(SyntheticConfig(n_users=users, n_items=items, seed=seed))
    data.save(out)
    total = len(data.item_category) + len(data.follow_src) + len(data.user)
    console.print(f"generated {users:,} users, {total:,} events; ground truth in {out}")
    consume_with_progress(ctx.obj, _events(ctx.obj, synthetic_events(data), "synthetic", total))


def _events(settings: Settings, events: Iterable[Any], name: str, total: int) -> EventsSource:
    return EventsSource(events, name, total=total, currency=settings.value.currency)


@app.command()
def consume(
    ctx: typer.Context,
    source: str = typer.Option("redis", help="redis (a stream) or kafka (a topic)"),
    until_empty: bool = typer.Option(False, help="stop when drained (kafka: nothing new for 5 s)"),
    stream: str = typer.Option(STREAM, help="Redis stream key (--source redis)"),
    topic: str = typer.Option("", help="Kafka topic (--source kafka; default kafka.topic)"),
) -> None:
    """Ingest events from a Redis stream or a Kafka topic with a consumer group; each batch's
    position commits with its data, so a crash or a rebalance loses and doubles nothing."""
    settings: Settings = ctx.obj
    if source not in ("redis", "kafka"):
        raise typer.BadParameter(f"{source!r}: expected redis or kafka", param_hint="--source")
    if source == "kafka":
        req = validate(ConsumeKafkaRequest, {"topic": topic or settings.kafka.topic})
        idle_s = 5.0 if until_empty else None
        consume_with_progress(
            settings, KafkaSource.from_settings(settings, req.topic, until_idle_s=idle_s)
        )
        return
    with redis_server.client(settings.redis) as conn:
        consume_with_progress(
            settings,
            RedisStreamSource(
                conn, stream=stream, currency=settings.value.currency, until_empty=until_empty
            ),
            drain=until_empty,
        )


@app.command()
def lag(
    ctx: typer.Context,
    topic: list[str] = typer.Option([], help="Kafka topics (default: kafka.topic if Kafka runs)"),
    stream: list[str] = typer.Option([], help="Redis streams (default: the event stream)"),
    sample_s: float = typer.Option(2.0, min=0.1, max=60, help="seconds the rate is measured over"),
    output: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Consumer lag per stream and partition, and the ingest rate (events/s)."""
    settings: Settings = ctx.obj
    topics = topic or (
        [settings.kafka.topic] if kafka_server.running_pid(settings) is not None else []
    )
    with GraphClient(settings.neo4j) as client, redis_server.client(settings.redis) as conn:
        sources: list[Source] = [KafkaSource.from_settings(settings, t) for t in topics]
        sources += [RedisStreamSource(conn, stream=s) for s in stream or [STREAM]]
        rows = measure(client, sources, sample_s=sample_s)
    if output == "json":
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table = Table(title=f"consumer lag (rate over {sample_s:g} s)")
    for column in ("source", "partition/group", "end", "applied", "lag", "pending", "events/s"):
        table.add_column(
            column, justify="left" if column.startswith(("source", "part")) else "right"
        )
    for row in rows:
        table.add_row(
            row.source,
            row.partition,
            f"{row.end:,}",
            f"{row.applied:,}",
            f"{row.lag:,}",
            f"{row.pending:,}",
            f"{row.rate:,.0f}",
        )
    console.print(table)


@app.command()
def export(
    ctx: typer.Context,
    out: Path = typer.Option(Path("out/snapshot.pt"), help="snapshot file to write"),
    user: list[str] = typer.Option([], help="export this user's neighbourhood (repeatable)"),
    hops: int = typer.Option(1, min=0, max=4),
    since: int = typer.Option(None, help="only users changed after this ingest sequence"),
    with_ids: bool = typer.Option(
        False, help="keep the real user and item ids in the file (default: pseudonyms)"
    ),
) -> None:
    """Export the graph (or a neighbourhood, or what changed) into a snapshot file.

    The file holds pseudonyms, not ids; the mapping is written under the state directory
    (``exports/``, private to you), never beside the file."""
    from graph.export import export_snapshot

    selection: Selection = WholeGraph()
    if user:
        selection = Neighbourhood(user_ids=user, hops=hops)
    elif since is not None:
        selection = ChangedSince(watermark=since, hops=hops)
    started = time.monotonic()
    settings: Settings = ctx.obj
    with GraphClient(settings.neo4j) as client, progress_bar() as progress:
        total = int(client.read("count_users")[0]["users"]) if not (user or since) else None
        task = progress.add_task("export: users read", total=total)
        snapshot = export_snapshot(
            client,
            selection,
            chunk_size=settings.neo4j.export_chunk_size,
            workers=settings.neo4j.export_workers,
            progress=lambda n: progress.advance(task, n),
        )
    seconds = time.monotonic() - started
    if not with_ids:
        folder = settings.state / "exports" / f"{out.stem}-{int(time.time())}"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        mapping = pseudonymise(snapshot, None).save(folder)
        console.print(f"pseudonyms: the mapping back to ids is {mapping}")
    snapshot.save(out)
    console.print(
        f"{snapshot!r}\n{snapshot.num_edges():,} edges in {seconds:.1f} s "
        f"({snapshot.num_edges() / seconds:,.0f} edges/s) -> {out}"
    )


@app.command()
def query(
    ctx: typer.Context,
    name: str = typer.Argument("", help="analyst query name; omit to list them"),
    param: list[str] = typer.Option([], help="key=value, repeatable"),
    fmt: str = typer.Option("table", "--format", help="table, csv or json"),
    dp_epsilon: float = typer.Option(
        None,
        "--dp-epsilon",
        help="release differentially private aggregates at this epsilon (queries with a dp form)",
    ),
) -> None:
    """Run an analyst query from cypher/ in a read-only transaction; with --dp-epsilon, only
    its noisy aggregates, charged to the data set's privacy budget."""
    if not name:
        table = Table(title="analyst queries")
        for column in ("name", "purpose", "example"):
            table.add_column(column)
        for q in analyst_queries():
            table.add_row(q.name, q.header.get("purpose", ""), q.header.get("example", ""))
        console.print(table)
        return
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"--format must be table, csv or json (found {fmt!r})")
    settings: Settings = ctx.obj
    with GraphClient(settings.neo4j) as client:
        if dp_epsilon is None:
            rows = run_analyst_query(
                client, name, param, timeout_s=settings.neo4j.analyst_timeout_s
            )
        else:
            private = private_query(settings, client, name, param, dp_epsilon)
            rows = private.rows
            notes.print(
                f"differentially private: epsilon {private.epsilon:g}, {private.suppressed} "
                f"group(s) suppressed below {settings.privacy.dp_min_group}; budget of "
                f"{settings.neo4j.database!r}: {private.spent:g} of {private.total:g} spent",
                highlight=False,
            )
    if fmt == "json":
        print(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    else:
        console.print(jobs_cli.rows_table(name, rows))


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    run_id: str = typer.Option("", help="a completed run (default: the latest full one)"),
    seed: list[int] = typer.Option([], help="item-ranking split seeds (trains models; none: skip)"),
    epochs: int = typer.Option(100, min=1, help="item-ranking training epochs"),
    out: Path = typer.Option(Path("out/eval")),
) -> None:
    """Interest prediction, influence and (with --seed) item ranking of a run, beside their
    baselines: markdown, JSON and plots in --out. Runs here, as the worker's task would."""
    from jobs.evaluation import evaluate_run

    settings: Settings = ctx.obj
    if not run_id:
        with GraphClient(settings.neo4j) as client:
            latest = client.read("latest_complete_run", kinds=["full"])
        if not latest:
            raise ProfilegraphError(
                "no complete full run yet: `profilegraph submit refresh --mode full` first"
            )
        run_id = latest[0]["run_id"]
    request = validate(
        EvaluateRequest,
        {
            "run_id": run_id,
            "item_ranking_seeds": seed,
            "max_epochs": epochs,
        },
    )
    # runs here, in a daemon thread, reporting on the run's board like the worker's task, so
    # the same bar shows each stage, model, seed and epoch; Ctrl+C ends the process at once
    board = RunBoard.connect(settings)
    work = InThread(lambda: evaluate_run(settings, request, board, out=out.resolve()))
    result = jobs_cli.follow_evaluation(board, run_id, work)
    console.print((out / "evaluation.md").read_text(), markup=False, highlight=False)
    console.print(f"written {', '.join(Path(f).name for f in result['files'])} to {out}")


class InThread:
    """A call run in a daemon thread, with the ``ready()``/``get()`` of a Celery result."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._result: list[Any] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._result.append(call())
            except BaseException as error:  # handed to the caller of get()
                self._error.append(error)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self) -> Any:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


@app.command()
def forget(
    ctx: typer.Context,
    user_id: list[str] = typer.Argument(..., help="the users to erase"),
) -> None:
    """Erase users (the right to be forgotten): a user_delete event each, through the ingest,
    then every copy outside Neo4j (stream messages, dead letters, run-file mappings)."""
    settings: Settings = ctx.obj
    events = [
        {"type": "user_delete", "event_id": f"forget:{uuid.uuid4().hex}", "user_id": u}
        for u in user_id
    ]
    with GraphClient(settings.neo4j) as client:
        report = ingest_events(client, events, source="cli:forget")
    if report.rejected:
        raise ProfilegraphError(
            f"not erased: {dict(report.rejected_by_reason)} (user ids must be valid identifiers)"
        )
    copies = erase_copies(settings, user_id)
    console.print(
        f"erased {len(user_id)} user(s) from Neo4j; outside it: {copies.stream_messages} stream "
        f"message(s), {copies.dead_messages} dead message(s), {copies.mapping_files} mapping "
        "file(s)"
    )


@app.command()
def housekeeping(ctx: typer.Context) -> None:
    """Apply the retention settings now: old run folders, export mappings and dead letters."""
    report = retention.housekeeping(ctx.obj)
    console.print(
        f"deleted {report.run_folders} run folder(s), {report.export_folders} export "
        f"mapping(s), {report.dead_letters} dead letter(s)"
    )


@app.command()
def demo(
    ctx: typer.Context,
    epochs: int = typer.Option(30, min=1, help="training epochs (full refresh, item ranking)"),
    out: Path = typer.Option(Path("out"), help="report, plots and worker logs"),
) -> None:
    """LastFM end to end through real workers and beat: refresh, evaluation, summary, plots,
    then new events and an incremental refresh."""
    from profilegraph.demo import run_demo

    run_demo(ctx.obj, console, epochs=epochs, out=out)


jobs_cli.register(app)


@app.callback()
def _settings(ctx: typer.Context) -> None:
    """Social profiles from a Neo4j interaction graph."""
    # The entry point builds the settings once; every command reads them from ctx.obj. Every
    # command (worker, beat, submit, demo) uses the same generated local passwords: make them
    # exist first.
    os.umask(0o077)  # everything this process writes (runs, logs, reports) is this user's alone
    ctx.obj = services.settings_with_secrets()


def main() -> None:
    try:
        app()
    except ProfilegraphError as exc:
        console.print(f"[bold red]{type(exc).__name__}[/]: {exc}", highlight=False)
        sys.exit(1)
