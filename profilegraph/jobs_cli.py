"""CLI commands for jobs and profiles: submit, status, cancel, profile, influencers, worker, beat.

Registered onto the main ``profilegraph`` app by :func:`register`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from graph.client import GraphClient
from profilegraph.errors import ProfilegraphError
from profilegraph.settings import load_settings

console = Console()
submit_app = typer.Typer(help="Submit jobs to the Celery workers.", no_args_is_help=True)


class JobError(ProfilegraphError):
    """A job could not be submitted, found or followed."""


def _board() -> Any:
    import redis

    from workers.runs import RunBoard

    settings = load_settings()
    return RunBoard(redis.Redis.from_url(settings.redis.url()), settings.refresh.lock_ttl_s)


Send = Callable[[dict[str, Any]], Any]


def _send_refresh(request: dict[str, Any]) -> Any:
    from workers.tasks import refresh

    return refresh.delay(request)


def submit_refresh_request(
    board: Any, mode: str, max_epochs: int | None = None, send: Send = _send_refresh
) -> str:
    """Validate, mark as submitted (so a follower sees it at once), send; returns the run id."""
    from workers.payloads import RefreshRequest, new_run_id, validate

    request = validate(RefreshRequest, {"mode": mode, "source": "cli", "run_id": new_run_id(mode),
                                        "max_epochs": max_epochs})  # fmt: skip
    board.update(request.run_id, state="submitted", mode=request.mode, percent=0)
    send(request.model_dump())
    console.print(f"submitted [bold]{request.run_id}[/]")
    return request.run_id


def refresh_and_follow(
    mode: str, max_epochs: int | None = None, *, wait_for_running: bool = False,
    board: Any = None, send: Send = _send_refresh, attempts: int = 5,
) -> dict[str, str]:  # fmt: skip
    """Submit a refresh and follow it to its end.

    Only one refresh runs at a time, and beat starts them on its own schedule. With
    ``wait_for_running`` a refusal is not the end: follow the refresh that holds the lock to its
    end, then submit again (``waited_for`` in the answer lists the runs waited on).
    """
    board = board or _board()
    waited: list[str] = []
    for _ in range(attempts):
        run_id = submit_refresh_request(board, mode, max_epochs, send)
        info = follow_run(run_id, board=board)
        holder = info.get("running")
        if not (wait_for_running and info.get("state") == "refused" and holder):
            return {"run_id": run_id, **info, "waited_for": ",".join(waited)}
        console.print(f"waiting for [bold]{holder}[/] to end, then submitting again")
        follow_run(holder, board=board)
        waited.append(holder)
    raise JobError(f"refresh still refused after {attempts} attempts (waited for {waited})")


@submit_app.command("refresh")
def submit_refresh(
    mode: str = typer.Option("incremental", help="incremental | full"),
    max_epochs: int | None = typer.Option(None, min=1, help="override training epochs"),
    follow: bool = typer.Option(True, help="show progress until the run ends"),
    wait: bool = typer.Option(
        False, help="if another refresh is running (beat's, say), wait for it, then start"
    ),
) -> None:
    """Start a profile refresh (refused while another refresh runs, unless --wait)."""
    if follow or wait:
        refresh_and_follow(mode, max_epochs, wait_for_running=wait)
    else:
        submit_refresh_request(_board(), mode, max_epochs)


def follow_run(run_id: str, timeout_s: float = 3600, *, board: Any = None) -> dict[str, str]:
    """A live progress bar until the run is complete, failed, cancelled or refused."""
    from workers.runs import TERMINAL

    board = board or _board()
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(run_id, total=100)
        while True:
            info = board.get(run_id)
            shown = f"{run_id} {info.get('state', '?')} {info.get('step', '')}"
            progress.update(bar, completed=float(info.get("percent", 0) or 0), description=shown)
            if info.get("state") in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise JobError(f"run {run_id} did not finish within {timeout_s:.0f}s")
            time.sleep(0.5)
    if info.get("state") != "complete":
        console.print(f"[yellow]{run_id}: {info.get('state')}[/] {info.get('message', '')}")
    return info


def status(
    run_id: str = typer.Argument(..., help="run id printed by submit"),
    follow: bool = typer.Option(False, help="keep a live progress bar"),
) -> None:
    """A run's state, step and progress."""
    info = follow_run(run_id) if follow else _board().get(run_id)
    if not info:
        raise JobError(f"no run {run_id!r} is known to Redis (expired after 7 days, or a typo)")
    table = Table(title=run_id)
    table.add_column("field")
    table.add_column("value")
    for key, value in sorted(info.items()):
        table.add_row(key, value)
    console.print(table)


def cancel(run_id: str = typer.Argument(...)) -> None:
    """Stop a running refresh at its next step."""
    if not _board().request_cancel(run_id):
        raise JobError(f"run {run_id!r} is unknown or already over")
    console.print(f"cancel requested for {run_id}; it stops at its next step")


def profile(user_id: str = typer.Argument(...)) -> None:
    """One user's profile as a panel."""
    with GraphClient(load_settings().neo4j) as client:
        rows = client.read("read_profile", user_id=user_id)
        why = client.read("explain_user", user_id=user_id)
    if not rows:
        raise JobError(f"no user {user_id!r}")
    p = rows[0]["profile"]
    if p["run_id"] is None:
        raise JobError(f"user {user_id!r} has no profile yet (run a refresh)")
    console.print(Panel(render_profile(p, why), title=f"user {user_id}", expand=False))


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    """Query rows as a table: the given columns (default: all), floats to 4 figures, lists
    joined."""
    columns = columns or (list(rows[0]) if rows else ["(no rows)"])
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_profile(p: dict[str, Any], why: list[dict[str, Any]]) -> str:
    pairs = zip(p["interests"] or [], p["interest_weights"] or [], strict=False)
    interests = ", ".join(f"{name} {w:.2f}" for name, w in pairs)
    lines = [
        f"interests    {interests}",
        f"influence    {p['influence']:.3g} (rank {p['influence_rank']}; "
        f"{p['adoptions'] or 0} follower adoptions so far)",
        f"segment      {p['segment']}: {p['segment_label']}",
        f"uncertainty  {p['uncertainty']:.2f}   cold start: {p['cold_start']}",
        f"explore      {', '.join(p['explore'] or []) or '-'}",
        "why:",
    ]
    for r in why:
        if r["items"] or r["friends"]:
            lines.append(f"  {r['interest']}: items {', '.join(r['items']) or '-'}; "
                         f"friends {', '.join(r['friends']) or '-'}")  # fmt: skip
    lines.append(f"run {p['run_id']} at watermark {p['watermark']}")
    return "\n".join(lines)


def influencers(category: str | None = typer.Option(None, help="only users with this interest"),
                top: int = typer.Option(10, min=1, max=1000)) -> None:  # fmt: skip
    """The most influential users, with the follower adoptions they triggered."""
    with GraphClient(load_settings().neo4j) as client:
        if category is None:
            rows = client.read("top_influencers", top=top)
        else:
            rows = client.read("top_influencers_in_category", category=category, top=top)
    table = Table(title="influencers" + (f" in {category}" if category else ""))
    for column in ("rank", "user", "influence", "adoptions", "evidence"):
        table.add_column(column)
    for r in rows:
        evidence = (f"{r['adoptions_in_category']} in {category}" if category
                    else ", ".join((r["interests"] or [])[:3]))  # fmt: skip
        table.add_row(str(r["influence_rank"]), r["user_id"], f"{r['influence']:.3g}",
                      str(r["adoptions"]), evidence)  # fmt: skip
    console.print(table)


def worker(queue: str = typer.Option("cpu", help="cpu | gpu"),
           concurrency: int = typer.Option(1, min=1)) -> None:  # fmt: skip
    """Run a Celery worker for one queue (gpu: one task at a time, no forking)."""
    from workers.app import QUEUES, app

    if queue not in QUEUES:
        raise JobError(f"queue must be one of {QUEUES} (got {queue!r})")
    pool = ["--pool", "solo"] if queue == "gpu" else ["--pool", "prefork", "-c", str(concurrency)]
    app.worker_main(["worker", "-Q", queue, "-n", f"{queue}@%h", "--loglevel", "INFO", *pool])


def beat() -> None:
    """Run the one beat scheduler (a second one on this machine refuses to start)."""
    from workers.app import app

    state = load_settings().state
    state.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", "INFO", "--schedule", str(state / "celerybeat-schedule"),
               "--pidfile", str(state / "beat.pid")])  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(submit_app, name="submit")
    for command in (status, cancel, profile, influencers, worker, beat):
        app.command(command.__name__)(command)
