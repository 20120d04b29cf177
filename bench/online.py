"""Online profile updates: how soon a purchase shows in the profile, at a sustained event rate.

    python -m bench.online                                    # 10k users, 1k and 5k events/s
    python -m bench.online --users 10000 100000 --rates 1000 5000 --seconds 60

Per size, on the bench's own Neo4j and Redis: a synthetic shop (``graph.datasets.synthetic``)
is loaded and every user marked profiled by a run whose customer models are fitted on the shop
(``engine.dimensions.customer_profile``; with ``--every-action``, also a sequence model
trained on it for one epoch, ``engine.dimensions.next_steps``, and every action moves value,
churn and next behaviour; nothing is trained online). Then, per rate, for
``--seconds``: the main process publishes events of random users to a Redis stream at the
rate (paced every 10 ms, each stamped with its send time; ``--purchase-share`` of them
purchases, the rest views, as a shop's stream is mostly views; 1.0 is the worst case); a
consumer process
(``graph.stream.RedisStreamSource`` with the online path, as ``profilegraph consume`` runs it)
applies them, each batch in one transaction with its profile updates. Reported:

- **latency** publish -> profile visible, p50/p95/p99 over every event (the Redis message id is
  its publish time; the commit time is taken after the transaction holding it commits, and what
  commits is visible to every reader), and over a sample read back through ``read_profile``
  (a reader polls a sampled user until their ``last_active`` reaches the purchase's time);
- **sustained rate**: events applied per second over the run, and the backlog left at the end;
- **cost on the ingest path**: ``ingest_events`` with and without the online path, events/s,
  alternating on the same database after a warm-up, for purchases only (the worst case) and
  for a stream where a tenth of the events are purchases.

Target on the 2-core machine (issue 36): p99 <= 1 s at 5k events/s with 100k users, and the
ingest rate without online updates reduced by at most 20 %. Prints a table and writes
``out/bench/online.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_services, load_shop, report

BATCH = 2_000
MARK_PROFILED = """
UNWIND $ids AS id
MATCH (u:User {user_id: id})
SET u.profile_run_id = $run_id, u.profile_watermark = 0
RETURN count(*) AS written
"""


def _purchases(
    n: int,
    users: list[str],
    items: list[str],
    start: int,
    seed: int,
    share: float = 1.0,
    prefix: str = "bench",
) -> list[dict[str, Any]]:
    """``n`` events of random users, a ``share`` of them purchases (each its own order) and the
    rest views: the online path moves profiles on purchases only."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        event = {
            "type": "interaction",
            "event_id": f"{prefix}-{start + k}",
            "user_id": rng.choice(users),
            "item_id": rng.choice(items),
            "kind": "view",
            "ts": int(time.time() * 1000),
        }
        if rng.random() < share:
            event |= {
                "kind": "purchase",
                "amount": round(rng.uniform(5, 120), 2),
                "order_id": f"{prefix}-o-{start + k}",
            }
        out.append(event)
    return out


@dataclass(frozen=True)
class Models:
    """The run's models the online path reads: the customer fit and, unless left out, the
    sequence model."""

    fit: dict[str, Any]
    next_model: Any = None  # engine.dimensions.next_steps.NextModel: every action moves

    def online(self) -> Any:
        from engine.dimensions.customer_profile import CustomerConfig
        from engine.dimensions.next_steps import NextConfig
        from engine.dimensions.online import OnlineModel
        from engine.dimensions.online_next import OnlineNext
        from graph.online import OnlineUpdate

        sequences = OnlineNext(self.next_model, NextConfig()) if self.next_model else None
        return OnlineUpdate(
            OnlineModel("bench", self.fit, CustomerConfig()),
            next=sequences,
            every_action=sequences is not None,
        )


def _consumer(
    settings: Any, models: Models | None, stream: str, ready: Any, stop: Any, out: Any
) -> None:
    """The online consumer, in its own process: commit time per message id."""
    from graph.client import GraphClient
    from graph.source import apply_source
    from graph.stream import RedisStreamSource
    from profilegraph.services.redis_server import client as redis_client

    latencies: list[float] = []

    def committed(ids: list[bytes]) -> None:
        now = time.time() * 1000
        latencies.extend(now - int(i.split(b"-")[0]) for i in ids)

    online = models.online() if models is not None else None
    with GraphClient(settings.neo4j) as client, redis_client(settings.redis) as conn:
        source = RedisStreamSource(
            conn,
            stream=stream,
            consumer=f"bench-{uuid.uuid4().hex[:8]}",
            batch_size=BATCH,
            block_ms=20,
            after_commit=committed,
        )
        source.ensure_group()
        ready.set()
        report = apply_source(
            client,
            source,
            online=online,
            stop=lambda: stop.is_set() and not (source.pending() or conn.xlen(stream)),
        )
    out.put({"latencies": latencies, "applied": report.applied})


def _drive(
    settings: Any,
    models: Models,
    users: list[str],
    items: list[str],
    rate: int,
    seconds: float,
    share: float,
    online: bool = True,
) -> dict[str, Any]:
    """One rate for ``seconds``, with the online path in the consumer or (``online`` False,
    the baseline) without it; the read-back samples only where profiles move."""
    from graph.client import GraphClient
    from graph.profiles import read_profile
    from graph.stream import publish
    from profilegraph.services.redis_server import client as redis_client

    run = uuid.uuid4().hex[:8]
    stream = f"bench-online-{run}"
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    worker = ctx.Process(
        target=_consumer, args=(settings, models if online else None, stream, ready, stop, out)
    )
    worker.start()
    if not ready.wait(timeout=120):  # it imports torch before the clock starts
        raise SystemExit("the consumer process did not start")
    sampled: list[float] = []
    pending: list[tuple[str, int]] = []
    lock = threading.Lock()
    done = threading.Event()

    def reader() -> None:  # read back sampled purchases through the analyst's path
        with GraphClient(settings.neo4j) as client:
            while not done.is_set() or pending:
                with lock:
                    batch = list(pending)
                for user, ts in batch:
                    p = read_profile(client, user) or {}
                    if (p.get("last_active") or 0) >= ts:
                        sampled.append(time.time() * 1000 - ts)
                        with lock:
                            pending.remove((user, ts))
                time.sleep(0.01)
                if done.is_set() and time.time() > deadline + 30:
                    break

    deadline = time.time() + seconds
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sent, tick, start = 0, 0.01, time.time()
    with redis_client(settings.redis) as conn:
        while (now := time.time()) < start + seconds:
            due = int((now - start + tick) * rate) - sent
            if due > 0:
                events = _purchases(due, users, items, sent, seed=sent, prefix=run)
                publish(conn, events, stream=stream)
                bought = [e for e in events if e["kind"] == "purchase"]
                sample = sent // max(rate // 4, 1) != (sent + due) // max(rate // 4, 1)
                if online and bought and sample:
                    with lock:  # about four read-back samples a second, of purchases
                        pending.append((bought[-1]["user_id"], bought[-1]["ts"]))
                sent += due
            time.sleep(max(0.0, tick - (time.time() - now)))
        published_s = time.time() - start
        stop.set()
        result = out.get(timeout=600)
        backlog_s = time.time() - start - published_s
        conn.delete(stream)
    worker.join(timeout=60)
    done.set()
    thread.join(timeout=60)
    lat = np.array(result["latencies"]) / 1000
    back = np.array(sampled) / 1000
    return {
        "rate": rate,
        "sent": sent,
        "applied": result["applied"],
        "sent_per_s": sent / published_s,
        "applied_per_s": result["applied"] / (published_s + backlog_s),
        "drain_after_s": backlog_s,
        "p50_s": float(np.percentile(lat, 50)) if lat.size else None,
        "p95_s": float(np.percentile(lat, 95)) if lat.size else None,
        "p99_s": float(np.percentile(lat, 99)) if lat.size else None,
        "readback_n": int(back.size),
        "readback_p50_s": float(np.percentile(back, 50)) if back.size else None,
        "readback_p99_s": float(np.percentile(back, 99)) if back.size else None,
    }


def _ingest_cost(
    settings: Any, models: Models, users: list[str], items: list[str], n: int
) -> dict[str, float]:
    """``ingest_events`` of ``n`` events with and without the online path, after a warm-up
    batch of each (the queries' first plans), for a stream of purchases only (the worst case)
    and one where a tenth of the events are purchases (a shop's stream is mostly views)."""
    from graph.client import GraphClient
    from graph.source import ingest_events

    online = models.online()
    out: dict[str, float] = {}
    start = 10_000_000
    with GraphClient(settings.neo4j) as client:
        for share, label in ((1.0, "purchases"), (0.1, "mixed")):
            rates: dict[str, list[float]] = {"without": [], "with": []}
            for rep in range(3):  # warm-up, then alternate: the database grows as it goes
                for name, hook in (("without", None), ("with", online)):
                    start += n
                    events = _purchases(n, users, items, start, seed=start, share=share)
                    began = time.perf_counter()
                    ingest_events(client, events, source="bench", batch_size=BATCH, online=hook)
                    if rep:
                        rates[name].append(n / (time.perf_counter() - began))
            without, with_ = (float(np.mean(rates[k])) for k in ("without", "with"))
            out |= {
                f"ingest_{label}_without_per_s": without,
                f"ingest_{label}_with_per_s": with_,
                f"ingest_{label}_cost": 1 - with_ / without,
            }
    return out


def run(
    sizes: list[int],
    rates: list[int],
    seconds: float,
    ingest_n: int,
    share: float,
    baseline: bool = False,
    every_action: bool = False,
) -> list[dict[str, Any]]:
    from engine.dimensions.customer_profile import CustomerConfig, customer_columns
    from engine.interactions import timed_actions
    from graph.client import GraphClient
    from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
    from graph.queries import Query

    settings = bench_services()
    rows = []
    for n_users in sizes:
        data = generate(
            SyntheticConfig(n_users=n_users, n_items=max(200, n_users // 10), horizon_days=365)
        )
        load_shop(settings, data)
        snapshot = to_snapshot(data)
        fit = customer_columns(snapshot, timed_actions(snapshot), None, CustomerConfig()).fit
        if fit.get("basis") != "orders":
            raise SystemExit("the synthetic shop has no orders: nothing moves online")
        users, items = snapshot.node_ids["user"], snapshot.node_ids["item"]
        mark = Query(name="bench_mark_profiled", mode="write", text=MARK_PROFILED)
        with GraphClient(settings.neo4j) as client:
            for lo in range(0, len(users), 20_000):
                client.write_rows(mark, ids=users[lo : lo + 20_000], run_id="bench")
        next_model = None
        if every_action:
            from engine.dimensions.next_steps import NextConfig, fit_next
            from engine.models.next_behaviour import SequenceConfig

            # the online cost does not depend on how well the model is trained
            quick = NextConfig(sequence=SequenceConfig(max_epochs=1, time_budget_s=30.0))
            next_model = fit_next(snapshot, quick)
        models = Models(fit, next_model)
        cost = _ingest_cost(settings, models, users, items, ingest_n)
        for rate in rates:
            for online in (True, False) if baseline else (True,):
                drive = _drive(settings, models, users, items, rate, seconds, share, online)
                row = {
                    "users": n_users,
                    "online": online,
                    "every_action": every_action,
                    "purchase_share": share,
                    **drive,
                }
                rows.append({**row, **cost})
                how = "with" if online else "without"
                print(f"{n_users:,} users at {rate:,}/s {how} online: p99 {row['p99_s']}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000])
    parser.add_argument("--rates", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ingest-events", type=int, default=20_000)
    parser.add_argument(
        "--purchase-share", type=float, default=0.1, help="of the driven events (the rest views)"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="each rate also without the online path"
    )
    parser.add_argument(
        "--every-action",
        action="store_true",
        help="every action moves value, churn and next behaviour (a sequence model trained one "
        "epoch on the shop), not only orders",
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench/online.json"))
    args = parser.parse_args()
    rows = run(
        args.users,
        args.rates,
        args.seconds,
        args.ingest_events,
        args.purchase_share,
        args.baseline,
        every_action=args.every_action,
    )
    report(
        "online profile updates",
        rows,
        args.out,
        [
            "online",
            "every_action",
            "purchase_share",
            "rate",
            "sent_per_s",
            "applied_per_s",
            "drain_after_s",
            "p50_s",
            "p95_s",
            "p99_s",
            "readback_n",
            "readback_p50_s",
            "readback_p99_s",
            "ingest_purchases_without_per_s",
            "ingest_purchases_with_per_s",
            "ingest_purchases_cost",
            "ingest_mixed_without_per_s",
            "ingest_mixed_with_per_s",
            "ingest_mixed_cost",
        ],
    )
    bad = [r for r in rows if not r["applied"] or r["applied"] < r["sent"]]
    if bad:
        raise SystemExit(f"events lost: {[(r['sent'], r['applied']) for r in bad]}")


if __name__ == "__main__":
    main()
