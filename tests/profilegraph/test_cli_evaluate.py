"""`profilegraph evaluate RUN`: a run's files in, report (markdown, JSON, plots) out."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.settings import Settings
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, run_full, save_result
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from profilegraph.cli import app


def test_evaluate_writes_report_json_and_plots(settings: Settings, tmp_path: Path) -> None:
    # a year of a shop whose customers churn: every dimension has something to be scored on
    shop = SyntheticConfig(n_users=400, n_items=100, seed=3, horizon_days=365, churn_per_year=0.3)
    snapshot = to_snapshot(generate(shop))
    config = PipelineConfig(
        train=TrainConfig(embedding_dim=16, max_epochs=3, eval_every=1, device="cpu")
    )
    run_dir = settings.state / "runs" / "cli-eval-run"
    snapshot.save(run_dir / "snapshot.pt")
    save_result(run_full(snapshot, config, run_id="cli-eval-run"), run_dir / "result.pt")
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--run-id",
            "cli-eval-run",
            "--seed",
            "0",
            "--seed",
            "1",
            "--epochs",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "evaluation.json").read_text())
    models = {r["model"] for r in data["item_ranking"]["rows"]}
    assert models == {"popularity", "lightgcn", "lightgcn+social", "ensemble"}
    assert len(data["item_ranking"]["rows"]) == 8  # 4 models x 2 seeds
    assert set(data["interest_prediction"]["summary"]) == {
        "popularity",
        "own_history",
        "friends_average",
        "profile",
    }
    assert set(data["influence"]) == {
        "model",
        "past_adoptions",
        "pagerank",
        "articlerank",
        "degree",
    }
    markdown = (out / "evaluation.md").read_text()
    assert "| friends_average |" in markdown and "| lightgcn+social |" in markdown
    assert set(data["churn"]["summary"]) == {
        "recency",
        "bgnbd",
        "behaviour",
        "behaviour+graph",
        "behaviour+graph+embedding",
        "shipped",
        "graph_gain",
        "embedding_gain",
    }
    assert len(data["churn"]["rows"]) >= 2
    assert set(data["value"]["holdout"]) == {"naive", "bg/nbd", "pareto/nbd", "shipped"}
    assert "### Churn" in markdown and "### Repeat purchases" in markdown
    plots = (
        "training_curve.png",
        "influence_distribution.png",
        "interest_heatmap.png",
        "clv_distribution.png",
        "rfm_heatmap.png",
        "churn_reliability.png",
        "weekly_cumulative_purchases.png",
    )
    for plot in plots:
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot

    missing = CliRunner().invoke(app, ["evaluate", "--run-id", "nope", "--out", str(out)])
    assert missing.exit_code != 0
