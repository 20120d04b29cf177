"""CLI commands for jobs and profiles: submit, status, cancel, profile, influencers, worker, beat.

Registered onto the main ``profilegraph`` app by :func:`register`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from core.errors import JobError
from core.profile_contract import FIELDS
from core.settings import Settings
from graph.client import GraphClient
from graph.profiles import read_profile, review_evidence
from graph.writeback import read_run
from jobs.markdown import cell_text
from jobs.payloads import RefreshRequest, new_run_id, validate
from jobs.runs import TERMINAL, RunBoard, duration_text

console = Console()
submit_app = typer.Typer(help="Submit jobs to the Celery workers.", no_args_is_help=True)

Send = Callable[[dict[str, Any]], Any]


def task_sender(settings: Settings, task: str) -> Send:
    """Send ``task`` (by name) to the workers with one argument, ``request``."""
    from workers.app import make_app

    sender = make_app(settings)
    return lambda request: sender.send_task(task, kwargs={"request": request})


def submit_refresh_request(
    board: RunBoard, send: Send, mode: str, max_epochs: int | None = None
) -> str:
    """Validate, mark as submitted (so a follower sees it at once), send; returns the run id."""
    request = validate(
        RefreshRequest,
        {"mode": mode, "source": "cli", "run_id": new_run_id(mode), "max_epochs": max_epochs},
    )
    board.update(request.run_id, state="submitted", mode=request.mode, percent=0)
    send(request.model_dump())
    console.print(f"submitted [bold]{request.run_id}[/]")
    return request.run_id


def refresh_and_follow(
    board: RunBoard,
    send: Send,
    mode: str,
    max_epochs: int | None = None,
    *,
    wait_for_running: bool = False,
    attempts: int = 5,
) -> dict[str, str]:
    """Submit a refresh and follow it to its end.

    Only one refresh runs at a time, and beat starts them on its own schedule. With
    ``wait_for_running`` a refusal is not the end: follow the refresh that holds the lock to its
    end, then submit again (``waited_for`` in the answer lists the runs waited on).
    """
    waited: list[str] = []
    for _ in range(attempts):
        run_id = submit_refresh_request(board, send, mode, max_epochs)
        info = follow_run(board, run_id)
        holder = info.get("running")
        if not (wait_for_running and info.get("state") == "refused" and holder):
            return {"run_id": run_id, **info, "waited_for": ",".join(waited)}
        console.print(f"waiting for [bold]{holder}[/] to end, then submitting again")
        follow_run(board, holder)
        waited.append(holder)
    raise JobError(f"refresh still refused after {attempts} attempts (waited for {waited})")


@submit_app.command("refresh")
def submit_refresh(
    ctx: typer.Context,
    mode: str = typer.Option("incremental", help="incremental | full"),
    max_epochs: int | None = typer.Option(None, min=1, help="override training epochs"),
    follow: bool = typer.Option(True, help="show progress until the run ends"),
    wait: bool = typer.Option(
        False, help="if another refresh is running (beat's, say), wait for it, then start"
    ),
) -> None:
    """Start a profile refresh (refused while another refresh runs, unless --wait). Exits
    non-zero when the followed run does not complete."""
    settings: Settings = ctx.obj
    board, send = RunBoard.connect(settings), task_sender(settings, "workers.tasks.refresh")
    if not (follow or wait):
        submit_refresh_request(board, send, mode, max_epochs)
        return
    info = refresh_and_follow(board, send, mode, max_epochs, wait_for_running=wait)
    if info.get("state") != "complete":
        raise JobError(
            f"refresh {info['run_id']} ended {info.get('state')}: {info.get('message', '')}"
        )


def _percent_bar() -> Progress:
    """What, how far (percent), since when, and how long yet."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def follow_run(board: RunBoard, run_id: str) -> dict[str, str]:
    """A live progress bar (with elapsed time and an estimate) until the run is complete,
    failed, cancelled or refused. A run is followed as long as it is alive: a running step
    stamps it at least every quarter of the lock TTL, so only a run silent for a whole TTL (its
    process died with no worker to take it over) is given up on."""
    with _percent_bar() as progress:
        bar = progress.add_task(run_id, total=100)
        while True:
            info = board.get(run_id)
            shown = f"{run_id} {info.get('state', '?')} {info.get('step', '')}"
            if info.get("step", "").startswith("train epoch") and info.get("eta_s"):
                shown += f" (training: at most {duration_text(float(info['eta_s']))} left)"
            progress.update(bar, completed=float(info.get("percent", 0) or 0), description=shown)
            if info.get("state") in TERMINAL:
                break
            silent = time.time() - float(info.get("updated", time.time()))
            if silent > board.lock_ttl_s:
                raise JobError(
                    f"run {run_id} has reported nothing for {silent:.0f} s (more than "
                    f"the lock TTL): are the workers running?"
                )
            time.sleep(0.5)
    if info.get("state") != "complete":
        console.print(f"[yellow]{run_id}: {info.get('state')}[/] {info.get('message', '')}")
    return info


def follow_evaluation(board: RunBoard, run_id: str, sent: Any, timeout_s: float = 7200) -> Any:
    """A progress bar over the evaluation's stages (reported on the run's board by the worker)
    until its task ends; returns the task's result (raises its error)."""
    deadline = time.monotonic() + timeout_s
    with _percent_bar() as progress:
        bar = progress.add_task(f"evaluating {run_id}", total=100)
        while not sent.ready():
            if time.monotonic() > deadline:
                raise JobError(f"evaluation of {run_id} did not end within {timeout_s:.0f} s")
            info = board.get(run_id)
            detail = info.get("evaluation_detail", "")
            stage = info.get("evaluation", "queued") + (f" ({detail})" if detail else "")
            progress.update(
                bar,
                completed=float(info.get("evaluation_percent", 0) or 0),
                description=f"evaluating {run_id}: {stage}",
            )
            time.sleep(0.5)
        progress.update(bar, completed=100, description=f"evaluated {run_id}")
    return sent.get()


def status(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="run id printed by submit"),
    follow: bool = typer.Option(False, help="keep a live progress bar"),
) -> None:
    """A run's state, step and progress."""
    board = RunBoard.connect(ctx.obj)
    info = follow_run(board, run_id) if follow else board.get(run_id)
    if not info:
        raise JobError(f"no run {run_id!r} is known to Redis (expired after 7 days, or a typo)")
    table = Table(title=run_id)
    table.add_column("field")
    table.add_column("value")
    for key, value in sorted(info.items()):
        table.add_row(key, value)
    console.print(table)


def cancel(ctx: typer.Context, run_id: str = typer.Argument(...)) -> None:
    """Stop a running refresh at its next step."""
    if not RunBoard.connect(ctx.obj).request_cancel(run_id):
        raise JobError(f"run {run_id!r} is unknown or already over")
    console.print(f"cancel requested for {run_id}; it stops at its next step")


def profile(ctx: typer.Context, user_id: str = typer.Argument(...)) -> None:
    """One user's profile as a panel."""
    with GraphClient(ctx.obj.neo4j) as client:
        p = read_profile(client, user_id)
        why = client.read("explain_user", user_id=user_id)
        recs = client.read("recommendations_for_user", user_id=user_id)
        evidence = review_evidence(client, user_id)
        run = read_run(client, p["run_id"]) if p and p.get("run_id") else None
    if p is None:
        raise JobError(f"no user {user_id!r}")
    if p.get("run_id") is None:
        raise JobError(f"user {user_id!r} has no profile yet (run a refresh)")
    text = render_profile(p, why, recs, evidence)
    support = ((run or {}).get("metrics") or {}).get("support") or {}
    missing = [
        f"  {name}: {row['reason']}" for name, row in support.items() if not row["supported"]
    ]
    if missing:  # why some fields are empty: the data cannot support them
        text += "\nnot supported by this data (null):\n" + "\n".join(missing)
    console.print(Panel(text, title=f"user {user_id}", expand=False))


def watch(
    ctx: typer.Context,
    user_id: str = typer.Argument(...),
    every: float = typer.Option(1.0, min=0.1, max=60.0, help="seconds between reads"),
    times: int = typer.Option(0, min=0, help="reads before stopping (0: until Ctrl-C)"),
) -> None:
    """Follow one profile as events arrive: print each field that changes, with its source
    (``online`` for the online path, else the run)."""
    seen: dict[str, Any] = {}
    reads = 0
    with GraphClient(ctx.obj.neo4j) as client:
        while times == 0 or reads < times:
            p = read_profile(client, user_id)
            if p is None:
                raise JobError(f"no user {user_id!r}")
            online = set(p.get("online_fields") or [])
            newer = (p.get("online_epoch") or -1) > (p.get("watermark") or -1)
            for field in FIELDS:
                value = p.get(field.name)
                if reads and seen.get(field.name) == value:
                    continue
                by = "online" if newer and field.name in online else f"run {p.get('run_id')}"
                console.print(f"{field.label:<22}{field.render(value):<40} ({by})", highlight=False)
                seen[field.name] = value
            reads += 1
            if times == 0 or reads < times:
                time.sleep(every)
            if reads == 1:
                console.print("-- watching for changes (Ctrl-C stops) --")


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    """Query rows as a table: the given columns (default: all), floats to 4 figures, lists
    joined."""
    columns = columns or (list(rows[0]) if rows else ["(no rows)"])
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell_text(row[c]) for c in columns))
    return table


def render_profile(
    p: dict[str, Any],
    why: list[dict[str, Any]],
    recs: list[dict[str, Any]] = (),  # type: ignore[assignment]
    evidence: str | None = None,
) -> str:
    """A profile (``graph.profiles.read_profile``) as text: the interests, then every field of
    the contract with its label, then the evidence, the recommendations (rows of
    ``cypher/recommendations_for_user.cypher``) with their reasons, and the run; ``evidence``:
    the latest negative review quoted (``graph.profiles.review_evidence``)."""
    pairs = zip(p.get("interests") or [], p.get("interest_weights") or [], strict=False)
    width = max(len(field.label) for field in FIELDS) + 2
    lines = [f"{'interests':<{width}}{', '.join(f'{n} {w:.2f}' for n, w in pairs) or '-'}"]
    # each field's freshness: the online path's where it moved the user after the run's snapshot
    online = (
        set(p.get("online_fields") or [])
        if (p.get("online_epoch") or -1) > (p.get("watermark") or -1)
        else set()
    )
    lines += [
        f"{field.label:<{width}}{field.render(p.get(field.name))}"
        + ("  (online)" if field.name in online else "")
        for field in FIELDS
    ]
    lines.append("why:")
    if evidence:
        lines.append(f"  latest negative review, {evidence}")
    for r in why:
        if r["items"] or r["friends"]:
            lines.append(
                f"  {r['interest']}: items {', '.join(r['items']) or '-'}; "
                f"friends {', '.join(r['friends']) or '-'}"
            )
    if recs:
        lines.append("recommended:")
        lines += [f"  {r['rank']:>2}. {r['item_id']} ({r['kind']}): {r['reason']}" for r in recs]
    lines.append(f"run {p.get('run_id')} at watermark {p.get('watermark')}")
    if online:
        when = datetime.fromtimestamp(p["online_at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"(online): fields moved by events since the run, last at {when}")
    return "\n".join(lines)


def influencers(
    ctx: typer.Context,
    category: str | None = typer.Option(None, help="only users with this interest"),
    top: int = typer.Option(10, min=1, max=1000),
) -> None:
    """The most influential users, with the follower adoptions they triggered."""
    with GraphClient(ctx.obj.neo4j) as client:
        if category is None:
            rows = client.read("top_influencers", top=top)
        else:
            rows = client.read("top_influencers_in_category", category=category, top=top)
    table = Table(title="influencers" + (f" in {category}" if category else ""))
    for column in ("rank", "user", "influence", "adoptions", "evidence"):
        table.add_column(column)
    for r in rows:
        evidence = (
            f"{r['adoptions_in_category']} in {category}"
            if category
            else ", ".join((r["interests"] or [])[:3])
        )
        table.add_row(
            str(r["influence_rank"]),
            r["user_id"],
            f"{r['influence']:.3g}",
            str(r["adoptions"]),
            evidence,
        )
    console.print(table)


def worker(
    ctx: typer.Context,
    queue: str = typer.Option("cpu", help="cpu | gpu"),
    concurrency: int = typer.Option(1, min=1),
    name: str = typer.Option(
        "", help="node name before @host (default: the queue); unique per worker on one host"
    ),
) -> None:
    """Run a Celery worker for one queue (gpu: one task at a time). Any number of workers may
    serve a queue, on one machine or many: each task goes to one of them."""
    from workers.app import QUEUES, configure

    app = configure(ctx.obj)
    if queue not in QUEUES:
        raise JobError(f"queue must be one of {QUEUES} (got {queue!r})")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,64}", name):
        raise JobError(f"--name must be letters, digits, '_', '.' or '-' (got {name!r})")
    # gpu: one task at a time in one child (see workers.app), said so in the banner too
    pool = ["--pool", "prefork", "-c", "1" if queue == "gpu" else str(concurrency)]
    # No gossip or mingle: workers do not coordinate with each other (the queues do), and a
    # worker busy training answered no gossip, which was taken for hours of clock drift.
    quiet = ["--without-gossip", "--without-mingle"]
    node = f"{name or queue}@%h"
    app.worker_main(["worker", "-Q", queue, "-n", node, "--loglevel", "INFO", *pool, *quiet])


def flower(ctx: typer.Context) -> None:
    """Run Celery's Flower on loopback with basic auth (the generated FLOWER__PASSWORD)."""
    from workers.app import configure

    settings = ctx.obj
    f = settings.flower
    if f.password is None:
        raise JobError("no Flower password: profilegraph services up generates one")
    app = configure(settings)
    # through the environment, never the command line (/proc/*/cmdline is world-readable)
    os.environ["FLOWER_BASIC_AUTH"] = f"{f.user}:{f.password.get_secret_value()}"
    os.environ["FLOWER_UNIX_SOCKET"] = ""
    _metrics_behind_the_password()
    console.print(f"Flower at {f.url} (user {f.user}; password in {settings.env_file})")
    app.start(["flower", f"--address={f.host}", f"--port={f.port}", "--persistent=False"])


def _metrics_behind_the_password() -> None:
    """Flower answers ``/metrics`` (task names, worker names, counts) to anyone: its basic
    auth guards the pages and the API only. Here it asks for the password too."""
    from flower.views import monitor

    answer = monitor.Metrics.get

    async def get(self: Any) -> None:
        self.get_current_user()  # raises HTTP 401 without the right basic-auth header
        await answer(self)

    monitor.Metrics.get = get


def beat(ctx: typer.Context) -> None:
    """Run the one beat scheduler (a second one on this machine refuses to start)."""
    from workers.app import configure

    app = configure(ctx.obj)
    state = ctx.obj.state
    state.mkdir(parents=True, exist_ok=True)
    app.start(
        [
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(state / "celerybeat-schedule"),
            "--pidfile",
            str(state / "beat.pid"),
        ]
    )


def register(app: typer.Typer) -> None:
    app.add_typer(submit_app, name="submit")
    for command in (status, cancel, profile, watch, influencers, worker, beat, flower):
        app.command(command.__name__)(command)
