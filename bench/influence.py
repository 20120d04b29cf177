"""Influence on the same graph: our model and centralities beside GDS's, against the truth.

    python -m bench.influence                  # 10k users
    python -m bench.influence --sizes 10000 50000

Per size: bulk-load synthetic data (planted influencers) into the bench's own Neo4j, run
``gds.pageRank``, ``gds.articleRank`` and ``gds.degree`` (followers) on the follow graph, and
the engine's influence evaluation on the same data (split at the 80% time quantile). Every
method is scored against the observed adoptions after the cut (Spearman, precision@50) and the
planted strengths (precision@50). Also reports how closely our PageRank/ArticleRank agree with
GDS's (Spearman) and their run times. Prints a table, writes ``out/bench/influence.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import bench_services, load_shop, report
from engine.dimensions.adoptions import DAY_MS, adoptions, influence_counts
from engine.evaluation.influence_evaluation import precision_at_k, spearman
from engine.evaluation.interest_prediction import time_cut
from engine.graph_as_of import GraphAsOf
from engine.interactions import social_ties, timed_actions
from engine.models.centrality import articlerank, follower_count, pagerank
from engine.models.influence import predict_influence
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from graph.queries import Query

PROJECT = Query(
    name="bench_influence_project",
    mode="read",
    text="""
    CALL gds.graph.project('influence', 'User', {FOLLOWS: {orientation: $orientation}})
    YIELD relationshipCount RETURN relationshipCount
""",
)
DROP = Query(
    name="bench_influence_drop",
    mode="read",
    text="""
    CALL gds.graph.drop('influence', false) YIELD graphName RETURN graphName
""",
)
STREAMS = {
    "gds_pagerank": "CALL gds.pageRank.stream('influence') YIELD nodeId, score",
    "gds_articlerank": "CALL gds.articleRank.stream('influence') YIELD nodeId, score",
    "gds_degree": "CALL gds.degree.stream('influence') YIELD nodeId, score",
}


def _gds_scores(
    client: GraphClient, name: str, index: dict[str, int]
) -> tuple[torch.Tensor, float]:
    query = Query(
        name=f"bench_{name}",
        mode="read",
        text=STREAMS[name] + " RETURN gds.util.asNode(nodeId).user_id AS user_id, score",
    )
    started = time.perf_counter()
    rows = client.read(query)
    seconds = time.perf_counter() - started
    scores = torch.zeros(len(index), dtype=torch.float64)
    for row in rows:
        scores[index[row["user_id"]]] = row["score"]
    return scores, seconds


def run_size(n_users: int) -> dict[str, Any]:
    settings = bench_services()
    data = generate(SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=5))
    load_shop(settings, data)
    snapshot = to_snapshot(data)
    index = snapshot.index_of("user")
    src, dst = social_ties(snapshot)
    actions = timed_actions(snapshot)
    cut = time_cut(actions.ts, 0.8)
    horizon = int(actions.ts.max()) - cut
    adopted = adoptions(actions, src, dst, n_users, window_ms=30 * DAY_MS)
    future = influence_counts(adopted, n_users, cut, cut + horizon)
    planted = torch.from_numpy(data.influence)

    methods: dict[str, torch.Tensor] = {}
    row: dict[str, Any] = {"users": n_users, "follows": int(src.numel())}
    started = time.perf_counter()
    methods["model"] = predict_influence(
        GraphAsOf(actions.before(cut), src, dst, n_users, adopted), at=cut, horizon_ms=horizon
    )
    row["model_s"] = time.perf_counter() - started
    started = time.perf_counter()
    methods["pagerank"] = pagerank(src, dst, n_users)
    row["pagerank_s"] = time.perf_counter() - started
    methods["articlerank"] = articlerank(src, dst, n_users)
    methods["degree"] = follower_count(dst, n_users).double()
    with GraphClient(settings.neo4j) as client:
        for orientation, names in (
            ("NATURAL", ["gds_pagerank", "gds_articlerank"]),
            ("REVERSE", ["gds_degree"]),
        ):
            client.read(DROP)
            client.read(PROJECT, orientation=orientation)
            for name in names:
                methods[name], row[f"{name}_s"] = _gds_scores(client, name, index)
        client.read(DROP)
    for name, score in methods.items():
        row[f"{name}_spearman"] = spearman(score.double(), future)
        row[f"{name}_p@50"] = precision_at_k(score, future, 50)
        row[f"{name}_planted_p@50"] = precision_at_k(score, planted, 50)
    row["pagerank_vs_gds"] = spearman(methods["pagerank"].double(), methods["gds_pagerank"])
    row["articlerank_vs_gds"] = spearman(
        methods["articlerank"].double(), methods["gds_articlerank"]
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--out", type=Path, default=Path("out/bench/influence.json"))
    args = parser.parse_args()
    rows = [run_size(n) for n in args.sizes]
    names = [
        "model",
        "pagerank",
        "articlerank",
        "degree",
        "gds_pagerank",
        "gds_articlerank",
        "gds_degree",
    ]
    metrics = [f"{n}_{m}" for m in ("spearman", "p@50", "planted_p@50") for n in names]
    report(
        "influence vs GDS (synthetic, planted influencers; columns = users)",
        rows,
        args.out,
        [
            "follows",
            *metrics,
            "pagerank_vs_gds",
            "articlerank_vs_gds",
            "model_s",
            "pagerank_s",
            "gds_pagerank_s",
            "gds_articlerank_s",
            "gds_degree_s",
        ],
    )


if __name__ == "__main__":
    main()
