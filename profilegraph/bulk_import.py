"""First load of an empty database with ``neo4j-admin database import`` (the fastest path).

The online path (:mod:`graph.ingest`) validates and applies events transactionally at a few
thousand to tens of thousands per second; a synthetic shop of 1M users has ~25M events. For an
empty database, Neo4j's offline importer writes the store files directly from CSV. This module
writes those CSVs from the synthetic arrays (interactions aggregated per (user, item, kind)
exactly as the online path would), stops the server, imports, restarts and applies the schema.

Trade-off, documented: bulk-imported events leave no entries in the ingest ledger, so a later
online replay of the *same* events would count again; every node gets ``changed_seq = 1`` and
the ingest watermark starts at 1.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np

from core.errors import ServiceStartError
from core.settings import Settings
from core.vocabulary import REL_TYPES, InteractionKind
from graph.client import GraphClient
from graph.datasets.synthetic import KIND_NAMES, PURCHASE, SyntheticDataset
from graph.schema import apply_schema
from profilegraph.services import neo4j_server


def _write(path: Path, header: list[str], columns: list[np.ndarray]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, len(columns[0]), 500_000):
            writer.writerows(
                zip(*(c[start : start + 500_000].tolist() for c in columns), strict=True)
            )
    return path


def _prefixed(prefix: str, ids: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, ids.astype(str))


def write_import_csvs(data: SyntheticDataset, directory: Path) -> list[str]:
    """CSV files plus the neo4j-admin arguments that name them."""
    n_users, n_items = data.config.n_users, data.config.n_items
    users, items = _prefixed("u", np.arange(n_users)), _prefixed("i", np.arange(n_items))
    categories = _prefixed("cat", np.arange(data.config.n_categories))
    files = [
        (
            "--nodes=User",
            "users",
            ["user_id:ID(User)", "changed_seq:long"],
            [users, np.ones(n_users, np.int64)],
        ),
        (
            "--nodes=Item",
            "items",
            ["item_id:ID(Item)", "changed_seq:long", "price:double"],
            [items, np.ones(n_items, np.int64), data.item_price],
        ),
        ("--nodes=Category", "categories", ["name:ID(Category)"], [categories]),
        (
            "--nodes=Watermark",
            "watermark",
            ["name:ID(Watermark)", "seq:long"],
            [np.array(["ingest"]), np.array([1])],
        ),
        (
            "--relationships=IN_CATEGORY",
            "in_category",
            [":START_ID(Item)", ":END_ID(Category)", "weight:double"],
            [items, categories[data.item_category], np.ones(n_items)],
        ),
        (
            "--relationships=FOLLOWS",
            "follows",
            [":START_ID(User)", ":END_ID(User)", "ts:long"],
            [users[data.follow_src], users[data.follow_dst], data.follow_ts],
        ),
    ]
    # every purchase is an order of its own (as the online ingest records an order-less one)
    bought = np.flatnonzero(data.kind == PURCHASE)
    line_ids = _prefixed("syn:x:", bought)
    order_ids = _prefixed("event:syn:x:", bought)
    amounts = data.item_price[data.item[bought]]
    files += [
        (
            "--nodes=Order",
            "orders",
            ["order_id:ID(Order)", "ts:long", "amount:double", "user_id"],
            [order_ids, data.ts[bought], amounts, users[data.user[bought]]],
        ),
        (
            "--relationships=PLACED",
            "placed",
            [":START_ID(User)", ":END_ID(Order)"],
            [users[data.user[bought]], order_ids],
        ),
        (
            "--relationships=CONTAINS",
            "contains",
            [":START_ID(Order)", ":END_ID(Item)", "line_id", "quantity:long", "amount:double"],
            [
                order_ids,
                items[data.item[bought]],
                line_ids,
                np.ones(len(bought), np.int64),
                amounts,
            ],
        ),
    ]
    args = [
        f"{flag}={_write(directory / f'{name}.csv', header, cols)}"
        for flag, name, header, cols in files
    ]
    # Aggregate interactions per (kind, user, item) like the online MERGE does: count, the
    # latest time (ts) and the earliest (first_ts).
    key = (data.kind.astype(np.int64) * n_users + data.user) * n_items + data.item
    order = np.argsort(key, kind="stable")
    key, ts = key[order], data.ts[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count = np.diff(np.r_[starts, len(key)])
    last_ts = np.maximum.reduceat(ts, starts)
    first_ts = np.minimum.reduceat(ts, starts)
    uniq = key[starts]
    kinds, rest = uniq // (n_users * n_items), uniq % (n_users * n_items)
    who, what = rest // n_items, rest % n_items
    for code, name in enumerate(KIND_NAMES):
        rel = REL_TYPES[InteractionKind(name)]
        m = kinds == code
        path = _write(
            directory / f"{rel.lower()}.csv",
            [
                ":START_ID(User)",
                ":END_ID(Item)",
                "count:long",
                "weight:double",
                "ts:long",
                "first_ts:long",
            ],
            [
                users[who[m]],
                items[what[m]],
                count[m],
                count[m].astype(np.float64),
                last_ts[m],
                first_ts[m],
            ],
        )
        args.append(f"--relationships={rel}={path}")
    return args


def bulk_import(settings: Settings, data: SyntheticDataset) -> None:
    """Replace the database with ``data`` (stops and restarts the server)."""
    with tempfile.TemporaryDirectory(prefix="profilegraph-import-", dir=settings.state) as tmp:
        args = write_import_csvs(data, Path(tmp))
        neo4j_server.stop(settings)
        done = neo4j_server.admin(
            settings,
            "database",
            "import",
            "full",
            settings.neo4j.database,
            "--overwrite-destination=true",
            f"--report-file={settings.state / 'import.report'}",  # not the working directory
            *args,
        )
        if done.returncode != 0:
            raise ServiceStartError(
                f"neo4j-admin database import failed:\n{done.stdout}\n{done.stderr}"
            )
    neo4j_server.start(settings)
    with GraphClient(settings.neo4j) as client:
        apply_schema(client)
        client.write("await_indexes")
