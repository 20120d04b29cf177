"""An evaluation as files: a markdown table per question, the metrics as JSON, and PNG plots
(training curve, influence distribution, interest heat-map by segment).

Kept out of ``engine/`` because it needs matplotlib, which the GPU image does not carry.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on workers
import matplotlib.pyplot as plt

from engine.pipeline import SavedResult
from jobs.markdown import table
from jobs.value_report import (
    churn_section,
    propensity_section,
    value_section,
    write_value_plots,
)


def to_markdown(
    evaluation: dict[str, Any], k: int = 10, run_metrics: dict[str, Any] | None = None
) -> str:
    """``run_metrics``: the evaluated run's own metrics (which influence score it shipped)."""
    lines: list[str] = support_section((run_metrics or {}).get("support"))
    if warnings := evaluation.get("warnings"):
        lines += ["### About the data", "", *(f"- {w}" for w in warnings), ""]
    if interest := evaluation.get("interest_prediction"):
        lines += _interest_section(interest, k)
    if (lookalikes := evaluation.get("lookalikes")) and lookalikes.get("methods"):
        lines += _lookalike_section(lookalikes)
    if influence := evaluation.get("influence"):
        lines += ["### Influence (follower adoptions in the period after the cut)", ""]
        first = next(iter(influence.values()))
        keys = [key for key in first if key != "users_with_future"]
        lines += table(
            ["method", *keys],
            [[name, *(f"{m[key]:.3f}" for key in keys)] for name, m in influence.items()],
        )
        if "users_with_future" in first:
            lines += [
                "",
                f"- {int(first['users_with_future'])} users trigger adoptions after "
                "the cut; the scores see only the follows known at the cut",
            ]
        lines += _shipped_influence((run_metrics or {}).get("influence"))
        lines.append("")
    if (by_category := evaluation.get("influence_by_category")) and by_category["summary"]:
        lines += _influence_by_category_section(by_category)
    if churn := evaluation.get("churn"):
        lines += churn_section(churn)
    if value := evaluation.get("value"):
        lines += value_section(value)
    if propensity := evaluation.get("propensity"):
        lines += propensity_section(propensity)
    if ranking := evaluation.get("item_ranking"):
        lines += ["### Item ranking (random 80/10/10 split, full ranking)", ""]
        lines += table(
            ["model", f"Recall@{k}", f"NDCG@{k}"],
            [
                [
                    name,
                    f"{m[f'recall@{k}']:.4f} ± {m[f'recall@{k}_std']:.4f}",
                    f"{m[f'ndcg@{k}']:.4f} ± {m[f'ndcg@{k}_std']:.4f}",
                ]
                for name, m in ranking["summary"].items()
            ],
        )
        lines.append("")
    lines += fairness_section(evaluation, k)
    return "\n".join(lines)


def fairness_section(evaluation: dict[str, Any], k: int) -> list[str]:
    """Per sensitive group (only where the deployment exported them: privacy settings):
    item ranking and churn, so a gap between groups is visible."""
    ranking = (evaluation.get("item_ranking") or {}).get("by_group")
    churn = ((evaluation.get("churn") or {}).get("summary") or {}).get("by_group")
    if not ranking and not churn:
        return []
    lines = ["### Fairness (per sensitive group; mean ± spread over seeds or cuts)", ""]
    if ranking:
        lines += table(
            ["attribute", "group", "model", "users", f"Recall@{k}", f"NDCG@{k}"],
            [
                [
                    str(r["attribute"]),
                    str(r["group"]),
                    str(r["model"]),
                    f"{float(r['users']):.0f}",
                    f"{float(r[f'recall@{k}']):.4f} ± {float(r[f'recall@{k}_std']):.4f}",
                    f"{float(r[f'ndcg@{k}']):.4f} ± {float(r[f'ndcg@{k}_std']):.4f}",
                ]
                for r in ranking
            ],
        )
        lines.append("")
    if churn:
        lines += table(
            ["attribute", "group", "at risk", "churn rate", "AUC (shipped)", "AUC (recency)"],
            [
                [
                    r["attribute"],
                    r["group"],
                    f"{r['at_risk']:.0f}",
                    f"{r['churn_rate']:.3f}",
                    f"{r['auc']:.3f} ± {r['auc_std']:.3f}",
                    f"{r['recency_auc']:.3f} ± {r['recency_auc_std']:.3f}",
                ]
                for r in churn
            ],
        )
        lines.append("")
    return lines


def _shipped_influence(choice: dict[str, Any] | None) -> list[str]:
    if not choice:
        return []
    if choice.get("reason"):
        return [f"- the run writes no `profile_influence`: {choice['reason']}"]
    line = f"- the run ships **{choice['shipped']}** as `profile_influence`"
    if valid := choice.get("validation"):
        figures = ", ".join(f"{name} {m['spearman']:.3f}" for name, m in valid.items())
        line += f" (Spearman on the run's own validation periods: {figures})"
    else:
        line += " (no validation period: the data spans less than two horizons)"
    if c := choice.get("comparison"):
        line += (
            f"; the model {c['verdict']} the best baseline ({c['baseline']}): difference "
            f"{c['difference']:+.3f}, 95% interval [{c['low']:+.3f}, {c['high']:+.3f}] (users "
            "resampled); the model ships only where the interval lies above zero"
        )
    return [line]


def support_section(support: dict[str, dict[str, Any]] | None) -> list[str]:
    """What this data set supports, per dimension, and why not where it does not."""
    if not support:
        return []
    lines = ["### What this data supports", ""]
    lines += table(
        ["dimension", "supported", "why"],
        [
            [name, "yes" if row["supported"] else "no (null)", row["reason"]]
            for name, row in support.items()
        ],
    )
    return [*lines, ""]


def _days(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g} days"


def _figure(m: dict[str, float], key: str) -> str:
    """mean ± std, or n/a where no user carries the figure (no cold users, say)."""
    users = m["cold_users"] if key.startswith("cold") else m["users"]
    return f"{m[key]:.4f} ± {m[key + '_std']:.4f}" if users else "n/a"


def _influence_by_category_section(by_category: dict[str, Any]) -> list[str]:
    k, summary = by_category["k"], by_category["summary"]
    lines = [
        "### Influence within a category (in-category follower adoptions after the cut, mean "
        f"over {len(by_category['categories'])} categories)",
        "",
    ]
    keys = list(next(iter(summary.values())))
    lines += table(
        ["method", *keys],
        [[name, *(f"{m[key]:.3f}" for key in keys)] for name, m in summary.items()],
    )
    lines.append("")
    for name, scores in by_category["categories"].items():
        users = scores["_users"]
        lines.append(
            f"- {name}: {int(users['active'])} users active in it before the cut, "
            f"{int(users['with_future'])} of them triggered in-category adoptions after it"
        )
    if any(s["_users"]["with_future"] < 50 for s in by_category["categories"].values()):
        lines.append(
            f"- warning: fewer than 50 users carry some categories' signal (precision@{k})"
        )
    return [*lines, ""]


def _lookalike_section(lookalikes: dict[str, Any]) -> list[str]:
    k = lookalikes["k"]
    lines = ["### Look-alikes (share of neighbours' future categories the seed also takes up)", ""]
    lines += table(
        ["method", f"precision@{k}"],
        [[name, f"{m[f'precision@{k}']:.4f}"] for name, m in lookalikes["methods"].items()],
    )
    lines += ["", f"- {lookalikes['seeds']} seed users, {lookalikes['candidates']} candidates"]
    if c := lookalikes.get("comparison"):
        lines.append(
            f"- `{c['method']}` (what the vector index serves) {c['verdict']} `{c['baseline']}`: "
            f"{c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] "
            f"({c['level']:.0%} paired bootstrap over {int(c['units'])} seeds)"
        )
    if lookalikes.get("embedding_sees_the_future"):
        lines.append(
            "- `embedding` is the run's profile embedding (what the vector index serves), built "
            "from every interaction: it has seen the future, so its figure flatters it"
        )
    return [*lines, ""]


def _verdict(interest: dict[str, Any], summary: dict[str, Any], k: int) -> str:
    """The profile against its best baseline, said with the paired interval: a difference
    whose interval holds zero is a tie, and a tie ships the baseline."""
    c = interest.get("comparison")
    if c is None:  # a report file written before comparisons were kept
        return "No paired comparison was kept for this run: no claim is made."
    best = c["baseline"]
    profile, baseline = summary["profile"][f"recall@{k}"], summary[best][f"recall@{k}"]
    verdict = {"beats": "beats", "loses to": "loses to", "ties with": "ties with"}[c["verdict"]]
    return (
        f"The profile {verdict} its best baseline ({best}): Recall@{k} {profile:.4f} against "
        f"{baseline:.4f}, difference {c['difference']:+.4f} "
        f"[{c['low']:+.4f}, {c['high']:+.4f}] ({c['level']:.0%} paired bootstrap over "
        f"{int(c['units'])} user-cuts); "
        + (
            "the profile's interests ship."
            if c["verdict"] == "beats"
            else f"not a significant win, so the simpler method ({best}) is the one to ship."
        )
    )


def _interest_section(interest: dict[str, Any], k: int) -> list[str]:
    """The methods side by side, mean ± std over the cuts, with the users behind each figure,
    what the truth is, and the model fitted at each cut."""
    cuts, summary = interest["cuts"], interest["summary"]
    lines = [
        f"### Interest prediction (future {interest['truth']}, temporal split, {len(cuts)} cuts)",
        "",
    ]
    keys = (f"recall@{k}", f"ndcg@{k}", f"cold_recall@{k}", f"cold_ndcg@{k}")
    lines += table(
        ["method", f"Recall@{k}", f"NDCG@{k}", f"cold Recall@{k}", f"cold NDCG@{k}"],
        [[name, *(_figure(m, key) for key in keys)] for name, m in summary.items()],
    )
    lines += ["", _verdict(interest, summary, k)]
    for cut in cuts:
        some = cut["methods"]["profile"]
        model = cut["model"]
        fitted = (
            f"social {model['social']}, prior {model['prior']}, half-life "
            f"{_days(model['half_life_days'])}"
            f"{', purchase intent weighted' if model.get('intent') else ''} (validation Recall@{k} "
            f"{model[f'valid_recall@{k}']:.4f} over {int(model['valid_users'])} users)"
            if model.get("fitted")
            else f"defaults ({model.get('reason')})"
        )
        lines.append(
            f"- cut at quantile {cut['split']}: {int(some['users'])} users with future "
            f"{interest['truth']}, {int(some['cold_users'])} of them cold; model {fitted}"
        )
    users = min(int(c["methods"]["profile"]["users"]) for c in cuts)
    cold = min(int(c["methods"]["profile"]["cold_users"]) for c in cuts)
    if users < 300:
        lines.append(f"- warning: only {users} users carry the signal; the figures are noisy")
    if 0 < cold < 100:
        lines.append(f"- warning: the cold-user figures rest on as few as {cold} users")
    lines.append("")
    return lines


def _training_curve(history: list[dict[str, float]], path: Path) -> None:
    fig, loss_ax = plt.subplots(figsize=(6, 3.5))
    loss_ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], color="tab:blue")
    loss_ax.set(xlabel="epoch", ylabel="BPR loss", title="training curve")
    valid = [h for h in history if "valid_recall@10" in h]
    if valid:
        recall_ax = loss_ax.twinx()
        recall_ax.plot(
            [h["epoch"] for h in valid],
            [h["valid_recall@10"] for h in valid],
            color="tab:orange",
            marker="o",
            markersize=3,
        )
        recall_ax.set_ylabel("validation Recall@10")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _influence_distribution(result: SavedResult, path: Path) -> None:
    values = result.columns["influence"].float().log1p().numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=50, color="tab:green")
    ax.set(
        xlabel="log(1 + predicted follower adoptions)",
        ylabel="users",
        yscale="log",
        title="influence distribution",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _interest_heatmap(result: SavedResult, path: Path, top: int = 12) -> None:
    c = result.columns
    weight: Counter[str] = Counter()
    for names, weights in zip(c["interests"], c["interest_weights"], strict=True):
        weight.update(dict(zip(names, weights, strict=True)))
    categories = [name for name, _ in weight.most_common(top)]
    segments = sorted(set(c["segment"].tolist()))
    column = {name: j for j, name in enumerate(categories)}
    row = {s: i for i, s in enumerate(segments)}
    grid = [[0.0] * len(categories) for _ in segments]
    size = Counter(c["segment"].tolist())
    for s, names, weights in zip(
        c["segment"].tolist(), c["interests"], c["interest_weights"], strict=True
    ):
        for name, w in zip(names, weights, strict=True):
            if name in column:
                grid[row[s]][column[name]] += w / size[s]
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(categories), 1.5 + 0.45 * len(segments)))
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(categories)), categories, rotation=60, ha="right")
    ax.set_yticks(range(len(segments)), [f"{s} ({size[s]})" for s in segments])
    ax.set(title="mean interest weight by segment", ylabel="segment (users)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(evaluation: dict[str, Any], result: SavedResult, out: Path) -> list[Path]:
    """Write ``evaluation.md``, ``evaluation.json`` and the plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "evaluation.md", out / "evaluation.json"]
    written[0].write_text(to_markdown(evaluation, run_metrics=result.metrics) + "\n")
    written[1].write_text(json.dumps(evaluation, indent=2, default=float))
    if history := result.metrics.get("history"):
        _training_curve(history, out / "training_curve.png")
        written.append(out / "training_curve.png")
    _influence_distribution(result, out / "influence_distribution.png")
    _interest_heatmap(result, out / "interest_heatmap.png")
    written += [out / "influence_distribution.png", out / "interest_heatmap.png"]
    written += write_value_plots(evaluation, result, out)
    return written
