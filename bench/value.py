"""Value and churn beside their baselines: CDNOW's published table and holdout, and churn with
and without the graph on LastFM (a snapshot file) and on the synthetic shop with planted,
contagious churn (several seeds); purchase propensity on Taobao (who buys on each of the last
three days, and in which categories). Prints tables, writes JSON and plots.

    python -m bench.value                                   # CDNOW sample + synthetic, 3 seeds
    python -m bench.value --master --snapshot out/lastfm-snapshot.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from core.settings import default_datasets_dir
from core.vocabulary import FOLLOWS
from engine.dimensions.adoptions import DAY_MS, Actions
from engine.dimensions.purchase_propensity import (
    behaviours_from_events,
    evaluate_propensity,
    last_days,
)
from engine.dimensions.repeat_purchases import occasions
from engine.evaluation.churn_evaluation import METHODS, churn_cuts, evaluate_churn, mean_std
from engine.evaluation.repeat_purchase_evaluation import evaluate_repeat_purchases
from engine.graph_as_of import GraphAsOf
from engine.interactions import timed_actions
from engine.snapshot import Snapshot
from graph.datasets import DATASETS
from graph.datasets.cdnow import MASTER, START, read_purchases
from graph.datasets.synthetic import SyntheticConfig, generate
from graph.datasets.taobao import taobao_events

SAMPLE = DATASETS["cdnow"].default  # the sample; the master file lies beside it

PUBLISHED = {
    "bg/nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4},
    "pareto/nbd": {
        "r": 0.553,
        "alpha": 10.578,
        "s": 0.606,
        "beta": 11.669,
        "log_likelihood": -9595.0,
    },
    "gamma-gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44, "log_likelihood": -4055.92},
}
HORIZON_MS = 91 * DAY_MS  # churn: silent for the next 13 weeks
CHURN_SHOP = dict(horizon_days=540, mean_interactions=80, churn_per_year=0.25, churn_contagion=8.0)
console = Console()


def cdnow(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    p = read_purchases(path)
    o = occasions(p.user, p.ts_ms, p.amount)
    start = int(START.timestamp() * 1000) // DAY_MS
    result = evaluate_repeat_purchases(
        o, len(p.customer_ids), start_day=start, calibration_end_day=start + 272, holdout_days=273
    )
    result["seconds"] = time.perf_counter() - started
    result["data"] = path.name
    return result


def show_cdnow(result: dict[str, Any]) -> None:
    table = Table(title=f"{result['data']}: fitted parameters (published on CDNOW_sample)")
    for column in ("model", "parameter", "fitted", "published"):
        table.add_column(column, justify="right")
    for model, params in result["params"].items():
        for name, value in params.items():
            published = PUBLISHED[model].get(name) if result["data"] == SAMPLE.name else None
            table.add_row(model, name, f"{value:.4f}", "-" if published is None else str(published))
    console.print(table)
    table = Table(
        title=f"{result['data']}: holdout (39 weeks), {result['customers']} customers, "
        f"{result['holdout_actual_total']:.0f} repeat occasions; fits in {result['seconds']:.1f} s"
    )
    for column in ("method", "MAE per customer", "predicted total"):
        table.add_column(column, justify="right")
    for name, row in result["holdout"].items():
        label = f"shipped ({result['shipped']['shipped']})" if name == "shipped" else name
        table.add_row(label, f"{row['mae']:.4f}", f"{row['predicted_total']:.0f}")
    console.print(table)


def churn_lastfm(path: Path) -> dict[str, Any]:
    snapshot = Snapshot.load(path)
    actions = timed_actions(snapshot)
    follows = snapshot.edges[FOLLOWS]
    result = evaluate_churn(
        GraphAsOf(actions, follows.src, follows.dst, snapshot.num_nodes("user")),
        cuts=churn_cuts(actions, (0.6, 0.7, 0.8, 0.9), HORIZON_MS),
        horizon_ms=HORIZON_MS,
        window_ms=30 * DAY_MS,
        follow_ts=follows.ts,
    )
    result["data"] = path.stem
    return result


def churn_synthetic(users: int, seed: int) -> dict[str, Any]:
    d = generate(
        SyntheticConfig(n_users=users, n_items=max(100, users // 5), seed=seed, **CHURN_SHOP)
    )
    actions = Actions(*(torch.from_numpy(v) for v in (d.user, d.item, d.ts)))
    lo, hi = int(actions.ts.min()), int(actions.ts.max())
    result = evaluate_churn(
        GraphAsOf(actions, torch.from_numpy(d.follow_src), torch.from_numpy(d.follow_dst), users),
        cuts=[lo + int((hi - lo) * q) for q in (0.5, 0.6, 0.7, 0.8)],
        horizon_ms=HORIZON_MS,
        window_ms=14 * DAY_MS,
        follow_ts=torch.from_numpy(d.follow_ts),
        planted=torch.from_numpy(d.churn_ts),
    )
    result["data"] = f"synthetic-{users} seed {seed}"
    return result


def propensity_taobao(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    b, _ = behaviours_from_events(list(taobao_events(path)))
    result = evaluate_propensity(b, last_days(b, 3))
    result["seconds"] = time.perf_counter() - started
    return result


def show_propensity(result: dict[str, Any]) -> None:
    rows = result["rows"]
    for key in result["summary"]:
        table = Table(
            title=f"Taobao {key}: {len(rows)} target days, {rows[0]['users']} users, "
            f"{min(r['buyers'] for r in rows)}-{max(r['buyers'] for r in rows)} buyers a day"
        )
        table.add_column("method")
        table.add_column(key, justify="right")
        figures = result["summary"][key]
        for name in rows[0][key]:
            table.add_row(name, f"{figures[name]:.3f} ± {figures[name + '_std']:.3f}")
        console.print(table)


def show_churn(title: str, results: list[dict[str, Any]]) -> None:
    """Mean ± std over every cut of every run given (seeds pooled)."""
    rows = [row for result in results for row in result["rows"]]
    keys = [k for k in rows[0]["behaviour"]] if rows else []
    table = Table(
        title=f"{title}: churn over {HORIZON_MS // DAY_MS} days, {len(rows)} cuts, "
        f"{statistics.fmean(r['at_risk'] for r in rows):.0f} users at risk per cut, "
        f"churn rate {statistics.fmean(r['churn_rate'] for r in rows):.2f}"
    )
    table.add_column("method")
    for key in keys:
        table.add_column(key, justify="right")
    gains = {
        "graph gain": ("behaviour+graph", "behaviour"),
        "embedding gain": ("behaviour+graph+embedding", "behaviour+graph"),
    }
    for name in (*METHODS, *gains):
        cells = []
        for key in keys:
            if name in gains:
                plus, base = gains[name]
                values = [r[plus][key] - r[base][key] for r in rows]
            else:
                values = [r[name][key] for r in rows]
            figures = mean_std(key, values)
            sign = "+" if name in gains else ""
            cells.append(f"{figures[key]:{sign}.3f} ± {figures[key + '_std']:.3f}")
        table.add_row(name, *cells)
    console.print(table)
    errors = [r["calibration_error"] for r in results]
    console.print(
        f"expected calibration error of `shipped`: {', '.join(f'{e:.3f}' for e in errors)}"
    )


def plots(
    cdnow_result: dict[str, Any], churn: dict[str, list[dict[str, Any]]], out: Path
) -> list[Path]:
    from jobs.value_report import plot_reliability, plot_weekly_cumulative

    written = [out / "cdnow_weekly_cumulative.png", out / "churn_reliability.png"]
    plot_weekly_cumulative(cdnow_result, written[0])
    pooled = {
        name: [b for r in results for b in r["reliability"]] for name, results in churn.items()
    }
    plot_reliability(pooled, written[1])
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    parser.add_argument("--master", action="store_true", help="also fit the full CDNOW file")
    parser.add_argument("--snapshot", type=Path, action="append", default=[])
    parser.add_argument("--synthetic", type=int, default=3000, help="users (0: skip)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--no-taobao", dest="taobao", action="store_false")
    parser.add_argument("--out", type=Path, default=Path("out/bench/value"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sample = args.datasets / SAMPLE
    files = [sample, sample.with_name(MASTER)] if args.master else [sample]
    value = [cdnow(path) for path in files]
    for result in value:
        show_cdnow(result)
    churn: dict[str, list[dict[str, Any]]] = {}
    for path in args.snapshot:
        churn[path.stem] = [churn_lastfm(path)]
    if args.synthetic:
        churn[f"synthetic-{args.synthetic}"] = [
            churn_synthetic(args.synthetic, s) for s in args.seeds
        ]
    for name, results in churn.items():
        show_churn(name, results)
    propensity = None
    if args.taobao:
        propensity = propensity_taobao(args.datasets / DATASETS["taobao"].default)
        show_propensity(propensity)
    written = plots(value[0], churn, args.out)
    report = {"cdnow": value, "churn": churn, "propensity": propensity}
    (args.out / "value.json").write_text(json.dumps(report, indent=1))
    console.print(f"written {args.out / 'value.json'}, " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
