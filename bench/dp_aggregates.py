"""How much the differentially private aggregates differ from the exact ones, per epsilon.

    python -m bench.dp_aggregates                 # the demo's database (make demo first)
    python -m bench.dp_aggregates --synthetic 5000  # the bench instance: the shop, one refresh

Each DP query of ``cypher/`` is run once exactly; then its release (``jobs.private_aggregates``)
is drawn ``--draws`` times per epsilon, charged to a throwaway ledger (the real one is left
alone). Reported per query and epsilon: the mean absolute error of the released counts, their
median relative error, the mean absolute error of the released means, and the share of groups
with at least ``min_group`` users that were suppressed (plus the share of smaller ones that got
through). The JSON goes to ``out/bench/dp_aggregates.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

EPSILONS = (0.1, 1.0, 10.0)


def _cases(client: Any, top: int) -> list[tuple[str, list[str]]]:
    """Each DP query with the parameters to run it with (audiences: the largest ones)."""
    from graph.queries import Query

    categories = client.read(
        Query(
            name="bench_categories",
            mode="read",
            text="MATCH (c:Category)<-[:INTERESTED_IN]-() RETURN c.name AS name, count(*) AS n "
            "ORDER BY n DESC, name LIMIT $top",
        ),
        top=top,
    )
    items = client.read(
        Query(
            name="bench_items",
            mode="read",
            text="MATCH (i:Item)<-[:RECOMMENDED]-() RETURN i.item_id AS id, count(*) AS n "
            "ORDER BY n DESC, id LIMIT $top",
        ),
        top=top,
    )
    return [
        ("segment_summary", []),
        ("value_segments", []),
        *[("interest_audience", [f"category={c['name']}", "limit=1"]) for c in categories],
        *[("recommended_audience", [f"item_id={i['id']}", "top=1"]) for i in items],
    ]


def measure(settings: Any, draws: int, top: int) -> list[dict[str, Any]]:
    from graph.analyst import run_analyst_query
    from graph.client import GraphClient
    from graph.queries import load_query
    from jobs.private_aggregates import dp_spec, privatise

    min_group = settings.privacy.dp_min_group
    exact: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    with GraphClient(settings.neo4j) as client:
        for name, params in _cases(client, top):
            spec = dp_spec(load_query(name))
            rows = run_analyst_query(client, name, params)
            # an audience query repeats its one figure on every row: one group per run
            exact.setdefault(name, []).extend(
                (row, spec) for row in rows[: 1 if spec.single else None]
            )
    out = []
    for name, rows in exact.items():
        for epsilon in EPSILONS:
            count_err, relative, mean_err = [], [], []
            big = small = big_dropped = small_kept = 0
            for row, spec in rows:
                (column,) = spec.counts
                truth = int(row[column] or 0)
                big += truth >= min_group
                small += truth < min_group
                for _ in range(draws):
                    released, _ = privatise([row], spec, epsilon, min_group)
                    if not released:
                        big_dropped += truth >= min_group
                        continue
                    small_kept += truth < min_group
                    noisy = released[0][column]
                    count_err.append(abs(noisy - truth))
                    relative.append(abs(noisy - truth) / max(truth, 1))
                    for mean in spec.means:
                        if row.get(mean) is not None:
                            mean_err.append(abs(released[0][mean] - row[mean]))
            out.append(
                {
                    "query": name,
                    "epsilon": epsilon,
                    "groups": len(rows),
                    "median_users": statistics.median(int(r[s.counts[0]] or 0) for r, s in rows)
                    if rows
                    else 0,
                    "count_mae": statistics.fmean(count_err) if count_err else None,
                    "count_median_rel": statistics.median(relative) if relative else None,
                    "mean_mae": statistics.fmean(mean_err) if mean_err else None,
                    "suppressed_large": big_dropped / (big * draws) if big else None,
                    "released_small": small_kept / (small * draws) if small else None,
                }
            )
    return out


def _synthetic(users: int, epochs: int) -> Any:
    """The bench instance with the synthetic shop (bulk-imported) and one full refresh."""
    from bench.common import bench_services, load_shop
    from graph.datasets.synthetic import SyntheticConfig, generate
    from jobs.payloads import RefreshRequest
    from jobs.refresh import refresh_here

    settings = bench_services()
    load_shop(settings, generate(SyntheticConfig(n_users=users, n_items=max(200, users // 10))))
    refresh_here(settings, RefreshRequest(mode="full", source="cli", max_epochs=epochs))
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=0, help="users of the shop (0: demo db)")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20, help="the synthetic shop's refresh")
    parser.add_argument("--top", type=int, default=10, help="audiences per audience query")
    parser.add_argument("--out", type=Path, default=Path("out/bench/dp_aggregates.json"))
    args = parser.parse_args()
    if args.synthetic:
        settings = _synthetic(args.synthetic, args.epochs)
        source = f"synthetic shop, {args.synthetic} users"
    else:
        from profilegraph import services

        settings = services.settings_with_secrets()
        source = "the demo database"
    rows = measure(settings, args.draws, args.top)
    table = Table(title=f"DP aggregates against the exact ones ({source}, {args.draws} draws)")
    columns = [
        "query",
        "epsilon",
        "groups",
        "median_users",
        "count_mae",
        "count_median_rel",
        "mean_mae",
        "suppressed_large",
        "released_small",
    ]
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"source": source, "draws": args.draws, "rows": rows}, indent=2))
    Console().print(f"written {args.out}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
