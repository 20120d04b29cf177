"""How well the next action is predicted, on a time split, beside strong baselines.

For a cut ``t`` (a quantile of the action times): everything before ``t`` is known, and each
user's **first action at or after t** is the target. A user with actions before the cut is
*warm*; one without (but with friends who have) is *cold* and is reported apart. Rankings are
scored by HR@k and NDCG@k (one target: NDCG = 1 / log2(rank + 2) inside the top k); ties break
by index, the same for every method. The methods, for the next category and the next item:

- ``popularity``: counts before the cut;
- ``repeat_last``: the user's latest category (items: their items, latest first), then
  popularity;
- ``own_frequent``: the user's own counts, then popularity;
- ``lightgcn`` (optional): the item ranking (LightGCN with friendships) trained on the pairs
  before the cut; a category scores its best item;
- ``sequence``: the GRU without the social mix; ``sequence_social``: with it (what ships).

The social gain is ``sequence_social - sequence`` on next-category HR@k, per (cut, seed), with
its mean and spread. Also: next-kind accuracy (against the user's most frequent kind) and the
error of the hours to the next action (log1p hours, against the user's median gap).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from core.vocabulary import PURCHASED
from engine.dimensions.recommendations import EvidenceSource, RecommendConfig
from engine.evaluation.as_of import predicts_at_cut
from engine.evaluation.churn_evaluation import mean_std
from engine.evaluation.interest_prediction import past_snapshot
from engine.evaluation.recommendation_evaluation import Future, evaluate_lists
from engine.evaluation.split import split_per_user
from engine.interactions import primary_category, social_ties, unique_pairs
from engine.models.distributed import fit_lightgcn
from engine.models.next_behaviour import (
    SequenceConfig,
    friend_category_mix,
    item_scores,
    predict_next,
    train_next_behaviour,
)
from engine.models.train import TrainConfig
from engine.sequences import Sequences, action_categories, build_sequences
from engine.snapshot import ActionLog, Snapshot

if TYPE_CHECKING:
    from engine.evaluation.snapshot_evaluation import EvaluationConfig

BASELINES = ("popularity", "repeat_last", "own_frequent")
MODELS = ("sequence", "sequence_social")


@dataclass
class NextBehaviourReport:
    """``runs``: one row per (cut, seed); ``summary``: per target and method, mean and std."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    lists: list[dict[str, float]] = field(default_factory=list)  # recommendation_evaluation

    def summary(self) -> dict[str, dict[str, float]]:
        methods = sorted({key for run in self.runs for key in run["scores"]})
        out: dict[str, dict[str, float]] = {}
        for method in methods:
            row: dict[str, float] = {}
            for metric in sorted({m for run in self.runs for m in run["scores"].get(method, {})}):
                row.update(
                    mean_std(
                        metric,
                        [run["scores"][method].get(metric, float("nan")) for run in self.runs],
                    )
                )
            out[method] = row
        gains = [run["social_gain"] for run in self.runs]
        out["social_gain"] = mean_std("category_hr", gains)
        return out


def _rank_metrics(scores: Tensor, target: Tensor, k: int) -> tuple[float, float]:
    """HR@k and NDCG@k of one target per row (ties: lower index first)."""
    if target.numel() == 0:
        return float("nan"), float("nan")
    s_t = scores.gather(1, target.unsqueeze(1))
    index = torch.arange(scores.size(1)).unsqueeze(0)
    ahead = (scores > s_t) | ((scores == s_t) & (index < target.unsqueeze(1)))
    rank = ahead.sum(1)
    hit = rank < k
    ndcg = torch.where(
        hit, 1.0 / torch.log2(rank.double() + 2), torch.zeros((), dtype=torch.float64)
    )
    return float(hit.double().mean()), float(ndcg.mean())


def _scores_by_rows(rows: Tensor, cols: Tensor, values: Tensor, n_rows: int, n_cols: int) -> Tensor:
    out = torch.zeros(n_rows, n_cols, dtype=torch.float64)
    out.index_put_((rows, cols), values.double(), accumulate=True)
    return out


@dataclass(frozen=True)
class _Cut:
    """The known past, the targets and the users they belong to."""

    sequences: Sequences
    past: ActionLog
    past_categories: Tensor
    users: Tensor  # evaluated users
    warm: Tensor  # [len(users)] bool: actions before the cut
    category: Tensor  # [len(users)] target category
    item: Tensor
    kind: Tensor
    hours: Tensor  # hours from the user's last action before the cut to the target (NaN: cold)
    cut_ms: int


@dataclass(frozen=True)
class _Past:
    """What every method at a cut reads: the graph as known just before it (follows, item
    categories), the actions before it with their categories as known then, and the
    sequences built from them."""

    then: Snapshot
    log: ActionLog
    categories: Tensor
    sequences: Sequences


def _past_at(snapshot: Snapshot, log: ActionLog, t: int, length: int) -> _Past:
    then = past_snapshot(snapshot, t - 1)
    before = log.ts < t
    past = log.select(before)
    known = action_categories(log, then)[before]
    return _Past(
        then, past, known, build_sequences(past, known, snapshot.num_nodes("user"), length)
    )


def _cut(snapshot: Snapshot, log: ActionLog, p: _Past, categories: Tensor, t: int) -> _Cut:
    """The past at ``t`` and each user's first action after it (its category by
    ``categories``, all that is known: the truth may read the future, the inputs may not)."""
    n_users = snapshot.num_nodes("user")
    before = log.ts < t
    sequences = p.sequences
    after = torch.nonzero(~before & (categories >= 0)).flatten()
    # the first action after the cut per user (the log is sorted by user, then time)
    first = torch.full((n_users,), -1, dtype=torch.long)
    first.scatter_(0, log.user[after].flip(0), after.flip(0))
    users = torch.nonzero(first >= 0).flatten()
    rows = first[users]
    warm = sequences.length[users] > 0
    last_ts = sequences.last(sequences.ts)[users].double()
    hours = torch.where(warm, (log.ts[rows].double() - last_ts) / 3_600_000.0, float("nan"))
    return _Cut(
        sequences,
        p.log,
        p.categories,
        users,
        warm,
        categories[rows],
        log.item[rows],
        log.kind[rows],
        hours,
        t,
    )


@predicts_at_cut("next_behaviour")
def _next_behaviour_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    """Every input the baselines, LightGCN and the sequence models train and predict from."""
    log = snapshot.actions
    if log is None or not len(log):
        return {}
    sequence = SequenceConfig()
    p = _past_at(snapshot, log, cut + 1, sequence.length)
    src, dst = social_ties(p.then)
    mix = friend_category_mix(
        p.sequences, (src, dst), snapshot.num_nodes("category"), sequence.social_topk
    )
    return {
        **{f"sequences/{f.name}": getattr(p.sequences, f.name) for f in fields(p.sequences)},
        "past/user": p.log.user, "past/item": p.log.item, "past/kind": p.log.kind,
        "past/ts": p.log.ts, "past/category": p.categories, "friends_mix/category": mix.category,
        "friends_mix/share": mix.share,
        "follows/src": src, "follows/dst": dst, "primary_category": primary_category(p.then),
    }  # fmt: skip


def _evidence_at(p: _Past) -> EvidenceSource:
    """The lists' evidence at the cut: the past's items, purchases, category counts and the
    follows and item categories as known then."""
    log, then = p.log, p.then
    known = p.categories >= 0
    bought = log.kind == log.kinds.index(PURCHASED) if PURCHASED in log.kinds else None
    return EvidenceSource.build(
        pairs=unique_pairs(log.user, log.item),
        bought=torch.stack([log.user[bought], log.item[bought]])
        if bought is not None
        else torch.zeros(2, 0, dtype=torch.long),
        category_counts=(log.user[known], p.categories[known], torch.ones(int(known.sum()))),
        follows=social_ties(then),
        shown=(torch.zeros(0, dtype=torch.long),) * 2 + (torch.zeros(0),),
        item_category=primary_category(then),
        num_users=then.num_nodes("user"),
        num_categories=then.num_nodes("category"),
    )


@predicts_at_cut("lists")
def _lists_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    """The lists' evidence (their exploit scores are the next-behaviour models')."""
    log = snapshot.actions
    if log is None or not len(log):
        return {}
    source = _evidence_at(_past_at(snapshot, log, cut + 1, SequenceConfig().length))
    out: dict[str, Tensor] = {}
    for f in fields(source):
        value = getattr(source, f.name)
        if isinstance(value, Tensor):
            out[f.name] = value
        elif hasattr(value, "ptr"):
            out.update(
                {f"{f.name}/{part}": getattr(value, part) for part in ("ptr", "value", "weight")}
            )
    return out


def _baselines(
    c: _Cut, n_users: int, n_items: int, n_categories: int
) -> dict[str, dict[str, Tensor]]:
    """Category and item scores [len(users), *] of the three baselines."""
    known = c.past_categories >= 0
    cat_pop = torch.bincount(c.past_categories[known], minlength=n_categories).double()
    item_pop = torch.bincount(c.past.item, minlength=n_items).double()
    backoff_c = (cat_pop / (cat_pop.max() + 1)).unsqueeze(0)
    backoff_i = (item_pop / (item_pop.max() + 1)).unsqueeze(0)
    at = torch.full((n_users,), -1, dtype=torch.long)
    at[c.users] = torch.arange(c.users.numel())
    own_rows = at[c.past.user]
    mine = own_rows >= 0
    m = c.users.numel()
    own_cat = _scores_by_rows(
        own_rows[mine & known],
        c.past_categories[mine & known],
        torch.ones(int((mine & known).sum())),
        m,
        n_categories,
    )
    own_item = _scores_by_rows(
        own_rows[mine], c.past.item[mine], torch.ones(int(mine.sum())), m, n_items
    )
    # recency: an item's latest position in the user's past (later = larger)
    position = torch.arange(len(c.past), dtype=torch.float64)
    recent_item = torch.zeros(m, n_items, dtype=torch.float64)
    recent_item[own_rows[mine], c.past.item[mine]] = position[mine] + 1  # sorted: last wins
    last_cat = c.sequences.last(c.sequences.category)[c.users] - 1
    repeat_cat = torch.zeros(m, n_categories, dtype=torch.float64)
    has = last_cat >= 0
    repeat_cat[torch.nonzero(has).flatten(), last_cat[has]] = 1.0
    normalised = recent_item / (recent_item.max(dim=1, keepdim=True).values.clamp_min(1))
    return {
        "popularity": {"category": backoff_c.expand(m, -1), "item": backoff_i.expand(m, -1)},
        "repeat_last": {
            "category": repeat_cat * 2 + backoff_c,
            "item": (normalised > 0).double() * (1 + normalised) + backoff_i,
        },
        "own_frequent": {"category": own_cat + backoff_c, "item": own_item + backoff_i},
    }


def _lightgcn_scores(
    snapshot: Snapshot, c: _Cut, category_of_item: Tensor, config: TrainConfig
) -> dict[str, Tensor]:
    n_users, n_items = snapshot.num_nodes("user"), snapshot.num_nodes("item")
    n_categories = snapshot.num_nodes("category")
    pairs = unique_pairs(c.past.user, c.past.item)
    split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=config.seed)
    trained = fit_lightgcn(
        split.train, split.valid, n_users, n_items, social=social_ties(snapshot), config=config
    )
    with torch.no_grad():
        emb = trained.model.cpu().get_embedding(trained.adjacency.cpu())
    users, items = emb[:n_users], emb[n_users:]
    item_scores = (users[c.users] @ items.T).double()
    cat_scores = torch.full((c.users.numel(), n_categories), -1e9, dtype=torch.float64)
    has = category_of_item >= 0
    cat_scores.scatter_reduce_(
        1,
        category_of_item[has].unsqueeze(0).expand(c.users.numel(), -1),
        item_scores[:, has],
        "amax",
    )
    return {"category": cat_scores, "item": item_scores}


def evaluate_next_behaviour(
    snapshot: Snapshot,
    *,
    cuts: tuple[float, ...] = (0.7, 0.8, 0.9),
    seeds: tuple[int, ...] = (0, 1, 2),
    config: SequenceConfig = SequenceConfig(),
    lightgcn: TrainConfig | None = None,
    k: int = 10,
    recommendations: RecommendConfig | None = None,
    shares: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3),
) -> NextBehaviourReport:
    """The table described in the module docstring, over ``cuts`` x ``seeds``; with
    ``recommendations``, each cut's lists (exploit: the first seed's social sequence model and
    the item ranking, when run) over exploration ``shares`` too
    (:mod:`engine.evaluation.recommendation_evaluation`)."""
    log = snapshot.actions
    if log is None or not len(log):
        raise ValueError("the snapshot has no action log (export it with properties)")
    n_users, n_items = snapshot.num_nodes("user"), snapshot.num_nodes("item")
    n_categories = snapshot.num_nodes("category")
    categories = action_categories(log, snapshot)
    follows = social_ties(snapshot)
    report = NextBehaviourReport(
        data={
            "actions": len(log),
            "users_with_actions": int(torch.unique(log.user).numel()),
            "users": n_users,
            "items": n_items,
            "categories": n_categories,
            "kinds": list(log.kinds),
            "follows": int(follows[0].numel()),
            "cuts": list(cuts),
            "seeds": list(seeds),
        }
    )
    known_ts = log.ts[log.ts >= 0].double()
    for q in cuts:
        t = int(torch.quantile(known_ts, q))
        # what the inputs may read: the follows and item categories as known at the cut
        p = _past_at(snapshot, log, t, config.length)
        then = p.then
        c = _cut(snapshot, log, p, categories, t)
        if c.users.numel() == 0:
            continue
        warm = c.warm
        scores = _baselines(c, n_users, n_items, n_categories)
        if lightgcn is not None:
            scores["lightgcn"] = _lightgcn_scores(then, c, primary_category(then), lightgcn)
        mix = friend_category_mix(c.sequences, social_ties(then), n_categories, config.social_topk)
        fixed = {name: _evaluate(s, c, k) for name, s in scores.items()}
        kind_counts = _scores_by_rows(
            c.past.user, c.past.kind, torch.ones(len(c.past)), n_users, len(log.kinds)
        )[c.users]
        median_gap = _median_gaps(c.sequences)[c.users]
        for seed in seeds:
            run: dict[str, Any] = {"cut": q, "cut_ms": t, "seed": seed, "scores": dict(fixed)}
            run["targets"] = {"warm": int(warm.sum()), "cold": int((~warm).sum())}
            for name, social in (("sequence", False), ("sequence_social", True)):
                cfg = replace(config, seed=seed, social=social)
                trained = train_next_behaviour(
                    c.sequences,
                    mix if social else None,
                    num_items=n_items,
                    num_categories=n_categories,
                    num_kinds=len(log.kinds),
                    config=cfg,
                )
                pred = predict_next(trained, c.sequences, mix if social else None)
                model_scores = {
                    "category": pred.category_probs[c.users].double(),
                    "item": item_scores(
                        trained, c.sequences, mix if social else None, c.users
                    ).double(),
                }
                result = _evaluate(model_scores, c, k)
                kind_pred = pred.kind_probs[c.users].argmax(1)
                result["next_kind_accuracy"] = float(
                    (kind_pred[warm] == c.kind[warm]).double().mean()
                )
                result["hours_log_mae"] = _log_mae(pred.hours_to_next[c.users], c.hours)
                result["sequences_per_s"] = trained.sequences_per_s
                run["scores"][name] = result
                if social and seed == seeds[0] and recommendations is not None:
                    exploit = [model_scores["item"]]
                    if "lightgcn" in scores:
                        exploit.append(scores["lightgcn"]["item"])
                    for row in _list_rows(p, log, categories, c, exploit, recommendations, shares):
                        report.lists.append({**row, "cut": q})
            own_kind = kind_counts.argmax(1)
            run["scores"]["own_frequent"] = {
                **run["scores"]["own_frequent"],
                "next_kind_accuracy": float((own_kind[warm] == c.kind[warm]).double().mean()),
                "hours_log_mae": _log_mae(median_gap, c.hours),
            }
            run["social_gain"] = (
                run["scores"]["sequence_social"]["category_hr"]
                - run["scores"]["sequence"]["category_hr"]
            )
            report.runs.append(run)
    return report


def _list_rows(
    p: _Past,
    log: ActionLog,
    categories: Tensor,
    c: _Cut,
    exploit: list[Tensor],
    config: RecommendConfig,
    shares: tuple[float, ...],
) -> list[dict[str, float]]:
    n_users = p.then.num_nodes("user")
    past = c.past
    known = c.past_categories >= 0
    source = _evidence_at(p)
    row_of = torch.full((n_users,), -1, dtype=torch.long)
    row_of[c.users] = torch.arange(c.users.numel())
    after = (log.ts >= int(c.cut_ms)) & (row_of[log.user] >= 0)
    rows_after = row_of[log.user[after]]
    cat_after = categories[after]
    has_cat = cat_after >= 0
    mine = row_of[past.user] >= 0
    future = Future(
        item_pairs=unique_pairs(rows_after, log.item[after]),
        category_pairs=unique_pairs(rows_after[has_cat], cat_after[has_cat]),
        past_categories=unique_pairs(
            row_of[past.user[mine & known]], c.past_categories[mine & known]
        ),
        past_actions=c.sequences.length[c.users],
    )
    return evaluate_lists(source, c.users, exploit, future, shares=shares, config=config)


def _evaluate(scores: dict[str, Tensor], c: _Cut, k: int) -> dict[str, float]:
    out: dict[str, float] = {}
    known = c.category >= 0
    for group, rows in (("", torch.ones_like(c.warm)), ("cold_", ~c.warm)):
        pick = rows & known
        hr, ndcg = _rank_metrics(scores["category"][pick], c.category[pick], k)
        out[f"{group}category_hr"], out[f"{group}category_ndcg"] = hr, ndcg
        hr, ndcg = _rank_metrics(scores["item"][rows], c.item[rows], k)
        out[f"{group}item_hr"], out[f"{group}item_ndcg"] = hr, ndcg
    return out


def _median_gaps(sequences: Sequences) -> Tensor:
    """[U] each user's median hours between actions (NaN with fewer than two)."""
    gaps = sequences.gaps_hours()
    real = torch.zeros_like(gaps, dtype=torch.bool)
    real[:, 1:] = (sequences.ts[:, 1:] >= 0) & (sequences.ts[:, :-1] >= 0)
    masked = torch.where(real, gaps, torch.full_like(gaps, float("nan")))
    return masked.nanmedian(dim=1).values


def _log_mae(predicted: Tensor, actual: Tensor) -> float:
    ok = (predicted == predicted) & (actual == actual)
    if not bool(ok.any()):
        return float("nan")
    return float(
        (torch.log1p(predicted[ok].double()) - torch.log1p(actual[ok].double())).abs().mean()
    )


def to_markdown(report: NextBehaviourReport) -> str:
    """The table: one row per method, mean ± std over cuts and seeds."""
    summary = report.summary()
    columns = (
        "category_hr",
        "category_ndcg",
        "item_hr",
        "item_ndcg",
        "cold_category_hr",
        "next_kind_accuracy",
        "hours_log_mae",
    )
    lines = [
        "| method | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for method, row in summary.items():
        if method == "social_gain":
            continue
        cells = []
        for col in columns:
            if col in row and row[col] == row[col]:
                cells.append(f"{row[col]:.3f} ± {row.get(col + '_std', 0.0):.3f}")
            else:
                cells.append("-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    gain = summary["social_gain"]
    lines.append("")
    lines.append(
        "Social gain (next-category HR@10, with minus without the friends' mix): "
        f"{gain['category_hr']:+.4f} ± {gain['category_hr_std']:.4f} "
        f"over {len(report.runs)} runs."
    )
    return "\n".join(lines)
