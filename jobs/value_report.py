"""The value, lifecycle and churn parts of an evaluation report: tables and plots (CLV
distribution, RFM heat map, churn reliability curve, weekly cumulative repeat purchases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from engine.pipeline import SavedResult
from jobs.markdown import table


def churn_section(churn: dict[str, Any]) -> list[str]:
    rows, summary = churn["rows"], churn["summary"]
    if not rows:
        return []
    keys = [k for k in summary["behaviour"] if not k.endswith("_std")]
    lines = [
        f"### Churn (no activity in the {churn['horizon_days']:.0f} days after the cut), mean ± "
        f"std over {len(rows)} cuts",
        "",
    ]
    lines += table(
        ["method", *keys],
        [
            [
                name,
                *(
                    f"{m[k]:+.3f} ± {m[k + '_std']:.3f}"
                    if name.endswith("_gain")
                    else f"{m[k]:.3f} ± {m[k + '_std']:.3f}"
                    for k in keys
                ),
            ]
            for name, m in summary.items()
        ],
    )
    at_risk = [r["at_risk"] for r in rows]
    rate = [r["churn_rate"] for r in rows]
    lines += [
        "",
        f"- {min(at_risk)}-{max(at_risk)} users at risk per cut (active in the horizon before "
        f"it), churn rate {min(rate):.2f}-{max(rate):.2f}; every learnt method is trained on the "
        "horizon before the cut and sees only follows known at it",
        "- `graph_gain` is behaviour+graph minus behaviour, cut by cut: a positive AUC and a "
        "negative Brier gain mean the follow graph helps; `shipped` is what profiles use (the "
        "graph only where it validated better one horizon earlier)",
        "- `embedding_gain` is what the interaction embedding (LightGCN's propagation of fixed "
        "item vectors over the user-item graph known at the cut) adds to behaviour+graph",
        f"- expected calibration error of `shipped` over all cuts: "
        f"{churn['calibration_error']:.3f} (reliability curve in `churn_reliability.png`)",
    ]
    if min(at_risk) < 300:
        lines.append("- warning: fewer than 300 users at risk in some cut; the spread is wide")
    return [*lines, ""]


def value_section(value: dict[str, Any]) -> list[str]:
    lines = [
        f"### Repeat purchases: fitted on {value['calibration_weeks']:.0f} weeks of orders, "
        "predicted over the rest",
        "",
    ]
    lines += table(
        ["method", "MAE per customer", "predicted total"],
        [
            [name, f"{m['mae']:.4f}", f"{m['predicted_total']:.0f}"]
            for name, m in value["holdout"].items()
        ],
    )
    lines += [
        "",
        f"- {value['customers']} customers ({value['repeat_buyers']} repeat buyers), "
        f"{value['holdout_actual_total']:.0f} repeat orders in the holdout; the profile ships "
        f"{value['shipped']['shipped']} (lowest MAE on a validation split of the calibration "
        "period)",
        "",
    ]
    return lines


def propensity_section(propensity: dict[str, Any]) -> list[str]:
    """Who buys on each of the last days, and in which categories, beside the baselines."""
    rows, summary = propensity["rows"], propensity["summary"]
    lines = [
        f"### Purchase propensity: who buys on each of the last {len(rows)} days, and what "
        "(from the days before), mean ± std over the days",
        "",
    ]
    for key, title in (
        ("who_buys_auc", "who buys: AUC"),
        ("categories_recall@10", "what: Recall@10"),
    ):
        figures = summary[key]
        names = [n for n in figures if not n.endswith("_std")]
        lines += table(
            ["method", title],
            [[n, f"{figures[n]:.3f} ± {figures[n + '_std']:.3f}"] for n in names],
        )
        lines.append("")
    buyers = [r["buyers"] for r in rows]
    lines += [
        f"- {rows[0]['users']} users, {min(buyers)}-{max(buyers)} buyers a day; the models are "
        "fitted on the day before each target day",
        "",
    ]
    return lines


def write_value_plots(evaluation: dict[str, Any], result: SavedResult, out: Path) -> list[Path]:
    written = []
    c = result.columns
    clv = [v for v in c.get("clv", []) if v is not None]
    if clv:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(clv, bins=50, color="tab:purple")
        ax.set(xlabel="predicted CLV", ylabel="customers", yscale="log", title="CLV distribution")
        fig.tight_layout()
        written.append(out / "clv_distribution.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    scores = [s for s in c.get("rfm_score", []) if s]
    if scores:
        grid = [[0] * 5 for _ in range(5)]
        for s in scores:
            grid[5 - int(s[0])][int(s[1]) - 1] += 1
        fig, ax = plt.subplots(figsize=(5, 4))
        image = ax.imshow(grid, cmap="viridis")
        ax.set_xticks(range(5), [str(f) for f in range(1, 6)])
        ax.set_yticks(range(5), [str(r) for r in range(5, 0, -1)])
        ax.set(xlabel="frequency score", ylabel="recency score", title="customers by R and F")
        fig.colorbar(image, ax=ax)
        fig.tight_layout()
        written.append(out / "rfm_heatmap.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    if (churn := evaluation.get("churn")) and churn["reliability"]:
        written.append(out / "churn_reliability.png")
        plot_reliability({"all cuts": churn["reliability"]}, written[-1])
    if value := evaluation.get("value"):
        written.append(out / "weekly_cumulative_purchases.png")
        plot_weekly_cumulative(value, written[-1])
    return written


def plot_reliability(curves: dict[str, list[dict[str, float]]], path: Path) -> None:
    """Observed against predicted churn per probability bin, one series per name."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    for name, bins in curves.items():
        ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], "o-", label=name)
    ax.set(
        xlabel="predicted churn probability",
        ylabel="observed churn rate",
        title="churn reliability",
    )
    if curves:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_weekly_cumulative(value: dict[str, Any], path: Path) -> None:
    """Cumulative repeat purchases per week, actual and each model's, calibration marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in value["weekly_cumulative"].items():
        ax.plot(range(1, len(values) + 1), values, label=name, lw=2 if name == "actual" else 1)
    ax.axvline(value["calibration_weeks"], color="grey", ls="--", lw=1)
    ax.set(xlabel="week", ylabel="cumulative repeat purchases", title="actual vs predicted")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
