"""``make demo``: the whole system end to end on LastFM, through real worker processes.

Services up, LastFM loaded (skipped when already there) and the Amazon Fashion reviews beside it
(406 customers writing in English: the review text dimension; a replay is a no-op), a cpu
worker, a gpu-queue worker, beat and Flower started, a full refresh followed with a progress
bar, the run evaluated against its baselines (report and plots in ``out/``), a summary printed
and written as a page (``out/report.html``) with the profile of the customer who wrote the most
reviews among its samples, a query of the analyst guide run in Neo4j Browser
(``out/browser.png``); then a small batch of new events goes in through a task, an incremental
refresh follows, and the profiles it changed are shown.
"""

from __future__ import annotations

import random
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from core.settings import Settings
from engine.pipeline import load_result
from graph.analyst import run_analyst_query
from graph.client import GraphClient
from graph.datasets import DATASETS
from graph.profiles import read_profile, review_evidence
from graph.source import EventsSource
from jobs.pseudonyms import Pseudonyms
from jobs.refresh import run_files
from jobs.report_page import Profile, ReportPage, write_page
from jobs.runs import RunBoard
from profilegraph import services
from profilegraph.browser_tour import run_guide_query
from profilegraph.ingest_progress import consume_with_progress
from profilegraph.jobs_cli import (
    follow_evaluation,
    refresh_and_follow,
    render_profile,
    rows_table,
    task_sender,
)
from profilegraph.processes import celery_processes, flower_process

LASTFM_USERS = 1892
NEW_EVENTS_USERS = 25


def _loaded(client: GraphClient) -> bool:
    rows = client.read("count_users")
    return int(rows[0]["users"]) >= LASTFM_USERS


def _refresh(settings: Settings, mode: str) -> str:
    # beat runs alongside and may start its scheduled refresh first (on a machine that ran the
    # demo before, the incremental one is overdue at once): wait for it rather than fail
    send = task_sender(settings, "workers.tasks.refresh")
    info = refresh_and_follow(RunBoard.connect(settings), send, mode, wait_for_running=True)
    if info.get("state") != "complete":
        raise RuntimeError(f"{mode} refresh {info['run_id']} ended {info.get('state')}: {info}")
    return info["run_id"]


def _new_events(client: GraphClient, seed: int) -> list[dict[str, Any]]:
    """A few users tag an artist a friend tagged, with the friend's tag, a day after the data's
    last interaction (not "now": on a historical data set that would open a years-long gap)."""
    rows = client.read("demo_event_candidates", limit=200)
    rng = random.Random(seed)
    picked = rng.sample(rows, min(NEW_EVENTS_USERS, len(rows)))
    now = int(rows[0]["last_ts"]) + 86_400_000 if rows else int(time.time() * 1000)
    return [
        {
            "type": "interaction",
            "event_id": f"demo-{now}-{n}",
            "user_id": r["user_id"],
            "item_id": r["item_id"],
            "kind": "tag",
            "category": r["category"],
            "ts": now,
        }
        for n, r in enumerate(picked)
    ]


def run_demo(settings: Settings, console: Console, *, epochs: int, out: Path) -> None:
    started = time.perf_counter()
    with console.status("starting Neo4j (with the Browser) and Redis ..."):
        services.up(settings)

    from workers.app import make_app

    sender = make_app(settings)

    lastfm = DATASETS["lastfm"]
    currency = settings.value.currency
    with GraphClient(settings.neo4j) as client:
        from graph.schema import apply_schema

        apply_schema(client)
        already = _loaded(client)
    if already:
        console.print("LastFM already loaded: skipping the load")
    else:
        events, total = lastfm.read(settings.datasets_dir / lastfm.default)
        consume_with_progress(
            settings, EventsSource(events, lastfm.name, total=total, currency=currency)
        )
    reviews = DATASETS["amazon-fashion"]  # what customers write: sentiment and keywords
    events, total = reviews.read(settings.datasets_dir / reviews.default)
    consume_with_progress(
        settings, EventsSource(events, reviews.name, total=total, currency=currency)
    )
    env = {"PROFILEGRAPH_REFRESH__MAX_EPOCHS": str(epochs)}
    with ExitStack() as running:
        with console.status("starting the cpu and gpu workers, beat and Flower ..."):
            running.enter_context(
                celery_processes(settings, beat=True, env=env, log_dir=out / "logs")
            )
            running.enter_context(flower_process(settings, log_dir=out / "logs"))
        console.print(f"workers cpu + gpu and beat are up (logs in {out / 'logs'})")
        console.print(
            f"Flower (tasks and workers): {settings.flower.url} (user {settings.flower.user}, "
            f"password FLOWER__PASSWORD in {settings.env_file})"
        )
        full = _refresh(settings, "full")
        console.print("evaluating the run against its baselines ...")
        request = {"run_id": full, "item_ranking_seeds": [0], "max_epochs": epochs}
        sent = sender.send_task("workers.tasks.evaluate_run", kwargs={"request": request})
        report = follow_evaluation(RunBoard.connect(settings), full, sent)
        # the worker wrote the report into the run's folder; the demo keeps a copy in out
        copies = [Path(shutil.copy2(f, out / Path(f).name)) for f in report["files"]]
        page = _summary(console, settings, full, out)
        page.plots = [f for f in copies if f.suffix == ".png"]
        console.print(f"the summary as a page: {write_page(page, out / 'report.html')}")
        with console.status("Neo4j Browser: logging in and running a query from the guide ..."):
            shot = run_guide_query(
                settings, "segment_summary", screenshot=out / "browser.png"
            ).screenshot
        n = settings.neo4j
        console.print(
            f"Neo4j Browser: http://{n.host}:{n.http_port}/browser/ (user {n.user}, password "
            f"NEO4J__PASSWORD in {settings.env_file}); the analyst guide opens after login. "
            f"A query from it, run there: {shot}"
        )
        with GraphClient(settings.neo4j) as client:
            events = _new_events(client, seed=int(time.time()))
        sent = sender.send_task(
            "workers.tasks.ingest_batch", args=(events,), kwargs={"source": "demo"}
        )
        applied = sent.get(timeout=300)
        console.print(f"ingested {applied['applied']} new tag events from {len(events)} users")
        incremental = _refresh(settings, "incremental")
        with GraphClient(settings.neo4j) as client:
            changed = run_analyst_query(
                client, "interest_drift", [f"from_run={full}", f"to_run={incremental}", "limit=10"]
            )
            written = client.read("read_profile_run", run_id=incremental)[0]["profiles_written"]
            moves = run_analyst_query(
                client, "lifecycle_moves", [f"from_run={full}", f"to_run={incremental}"]
            )
    console.print(
        f"incremental refresh {incremental} re-profiled {written} users "
        f"(of {LASTFM_USERS}); top interests that changed:"
    )
    console.print(rows_table("interest drift", changed, ["user_id", "before", "after", "gained"]))
    console.print(rows_table("lifecycle moves", moves, ["before", "after", "users", "examples"]))
    files = ", ".join(Path(f).name for f in report["files"])
    console.print(f"report and plots in {out}/: {files}")
    console.print(f"[bold green]demo done[/] in {time.perf_counter() - started:.0f} s")


def _summary(console: Console, settings: Settings, run_id: str, out: Path) -> ReportPage:
    """Print the summary and return it as a page (plots added by the caller)."""
    files = run_files(settings, run_id)
    result = load_result(files.result)
    pseudonyms = Pseudonyms.load(files.folder)  # the result names users by pseudonym
    assert pseudonyms is not None
    order = result.columns["influence"].argsort(descending=True).tolist()
    interests, uncertainty = result.columns["interests"], result.columns["uncertainty"]
    thinnest = max((i for i in order if interests[i]), key=lambda i: float(uncertainty[i]))
    samples = [order[0], thinnest, order[len(order) // 2]]
    labels = ["top influencer", "least history", "median influence"]
    written = [n or 0 for n in result.columns["sentiment_reviews"]]
    if any(written):  # the customer who wrote the most reviews: sentiment and keywords
        samples.append(max(range(len(written)), key=lambda i: (written[i], -i)))
        labels.append("most reviews written")
    with GraphClient(settings.neo4j) as client:
        top = run_analyst_query(client, "top_influencers", ["top=10"])
        columns = ["influence_rank", "user_id", "influence", "adoptions", "followers", "interests"]
        console.print(rows_table("top influencers", top, columns))
        page = ReportPage(
            client.read("read_profile_run", run_id=run_id)[0],
            (out / "evaluation.md").read_text(),
            influencers=[{c: r[c] for c in columns} for r in top],
        )
        segments = run_analyst_query(client, "value_segments", ["limit=10"])
        columns = ["segment", "users", "revenue", "mean_clv", "mean_probability_active"]
        console.print(rows_table("value segments (RFM)", segments, columns))
        for label, i in zip(labels, samples, strict=True):
            user = pseudonyms.resolve("user", result.user_ids[i]) or "?"
            profile = read_profile(client, user) or {}
            why = client.read("explain_user", user_id=user)
            recs = client.read("recommendations_for_user", user_id=user)
            text = render_profile(profile, why, recs, review_evidence(client, user))
            console.print(Panel(text, title=f"{label}: user {user}", expand=False))
            page.profiles.append(Profile(f"{label}: user {user}", text))
    console.print((out / "evaluation.md").read_text(), markup=False, highlight=False)
    return page
