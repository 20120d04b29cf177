"""A whole refresh at growing sizes, stage by stage: seconds, peak memory, growth exponent.

    python -m bench.scale                                   # 10k and 100k users, 1 epoch
    python -m bench.scale --sizes 10000 100000 1000000      # 1M: opt-in (over an hour on CPU)
    python -m bench.scale --sizes 1000000 --append          # add a size to the earlier ones
    python -m bench.scale --sizes 100000 --epochs 60        # the usual schedule (a GPU)

Per size, on the bench's own services (``bench.common``): generate the synthetic shop, bulk-load
it, then one full refresh (``jobs.refresh``: export, then train, influence, profile and next
behaviour inside the score step, then write-back), each step in its own process as the Celery
workers run them, ``--epochs`` training epochs (few on a CPU: the other stages do not depend on
how long the model trained). Every stage reports its wall seconds, its process's RSS as it
starts and at its peak, Neo4j's peak RSS and, on a GPU, the peak device memory; between
consecutive sizes each stage's growth exponent ``k`` (seconds ~ users^k), and over the whole
range. Prints a table and writes ``out/bench/scale.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.common import bench_services, report

STAGES = ("generate", "bulk_load", "export", "train", "influence", "profile", "next", "write")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int | str) -> int:
    """Resident bytes of a process (0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _peak_rss() -> int:
    """This process's highest resident bytes since :func:`_reset_peak_rss` (the kernel's
    VmHWM: exact, where sampling ``_rss`` misses what lives between two samples; 0 without
    it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _reset_peak_rss() -> None:
    """Start this process's high-water mark again from its current RSS (Linux 4.0+)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@dataclass
class StageMeter:
    """Wall time and memory per named stage: this process's RSS as the stage starts and its
    peak (the kernel's high-water mark, reset at each stage), Neo4j's peak RSS sampled every
    ``period_s`` in a thread, and the device's peak."""

    server_pid: int | None
    period_s: float = 0.05
    stage: str = ""
    started: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    start_rss: dict[str, int] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    peak_server_rss: dict[str, int] = field(default_factory=dict)
    peak_gpu: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def enter(self, stage: str) -> None:
        """End the current stage and start ``stage`` (called again with the same name: no-op)."""
        if stage == self.stage:
            return
        now = time.perf_counter()
        if self.stage:
            self._sample()
            self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + now - self.started
            # a line per stage as it ends: a long run that dies still tells how far it got
            peak = self.peak_rss.get(self.stage, 0) / 2**30
            print(f"  {self.stage}: {now - self.started:.1f} s, peak {peak:.2f} GiB", flush=True)
            if torch.cuda.is_available():
                self.peak_gpu[self.stage] = torch.cuda.max_memory_allocated()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        _reset_peak_rss()  # before the new name: a sample between the two goes to the old stage
        self.stage, self.started = stage, now
        if stage:
            # what the earlier stages left behind as this one begins
            self.start_rss.setdefault(stage, _rss("self"))
        self._sample()

    def _sample(self) -> None:
        if not self.stage:
            return
        s = self.stage
        self.peak_rss[s] = max(self.peak_rss.get(s, 0), _rss("self"), _peak_rss())
        if self.server_pid:
            self.peak_server_rss[s] = max(self.peak_server_rss.get(s, 0), _rss(self.server_pid))

    @contextmanager
    def running(self) -> Iterator[StageMeter]:
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.enter("")
            self._stop.set()
            thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()


class _TaggingBoard:
    """The run board, also telling the meter which stage the refresh is in."""

    def __init__(self, board: Any, meter: StageMeter) -> None:
        self._board, self._meter = board, meter

    def update(self, run_id: str, **fields: Any) -> None:
        step = str(fields.get("step", ""))
        name = step.split()[0] if step else ""
        if name in STAGES:
            self._meter.enter(name)
        self._board.update(run_id, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._board, name)


def _generate_and_load(users: int) -> tuple[int, dict[str, Any]]:
    """In a child process (its memory goes back to the system when it ends, so the refresh
    that follows is measured alone): generate the shop and bulk-load it; the interactions, and
    the two stages' seconds and peak RSS."""
    from bench.common import load_shop
    from graph.datasets.synthetic import SyntheticConfig, generate

    settings = bench_services()
    meter = StageMeter(server_pid=None)
    with meter.running():
        meter.enter("generate")
        data = generate(SyntheticConfig(n_users=users, n_items=max(100, users // 5), seed=19))
        interactions = int(data.user.size)
        meter.enter("bulk_load")
        load_shop(settings, data)  # a bulk import, but for a tiny shop (bench.common)
        meter.enter("")
    return interactions, {
        "seconds": meter.seconds,
        "rss": meter.peak_rss,
        "start_rss": meter.start_rss,
    }


def _refresh_step(name: str, step: Any) -> tuple[Any, dict[str, Any]]:
    """In a child process, as a Celery worker runs it (export and write-back on a cpu worker,
    scoring on the gpu worker, each its own process): one step of the refresh, its result and
    its stages' seconds and peak memory (this process, Neo4j, the device)."""
    from jobs import refresh
    from jobs.runs import RunBoard
    from profilegraph.services import neo4j_server

    settings = bench_services()
    meter = StageMeter(server_pid=neo4j_server.status(settings).pid)
    with meter.running():
        board = _TaggingBoard(RunBoard.connect(settings), meter)
        meter.enter({"score": "train"}.get(name, name))
        out = getattr(refresh, f"{name}_step")(settings, board, step)
    peaks = {"rss": meter.peak_rss, "server": meter.peak_server_rss, "gpu": meter.peak_gpu}
    return out, {"seconds": meter.seconds, "start_rss": meter.start_rss, **peaks}


def run_size(users: int, epochs: int) -> dict[str, Any]:
    from jobs.payloads import RefreshRequest
    from jobs.refresh import plan_refresh
    from jobs.runs import RunBoard

    settings = bench_services()
    row: dict[str, Any] = {"users": users, "epochs": epochs, "cpus": os.cpu_count()}
    seconds: dict[str, float] = {}
    peaks: dict[str, dict[str, int]] = {"start_rss": {}, "rss": {}, "server": {}, "gpu": {}}

    def child(function: Any, *args: Any) -> Any:
        # each in a fresh process: its memory goes back to the system when it ends
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            out, measured = pool.submit(function, *args).result()
        seconds.update(measured["seconds"])
        for kind in peaks:
            peaks[kind].update(measured.get(kind, {}))
        return out

    row["interactions"] = child(_generate_and_load, users)
    request = RefreshRequest(mode="full", source="api", max_epochs=epochs)
    answer, step = plan_refresh(settings, RunBoard.connect(settings), request)
    if step is None:
        raise RuntimeError(f"refresh refused: {answer}")
    for name in ("export", "score"):
        step = child(_refresh_step, name, step)
    result = child(_refresh_step, "write", step)
    row["profiles_written"] = result["written"]
    for stage in STAGES:
        row[f"{stage}_s"] = seconds.get(stage)
        row[f"{stage}_start_rss_gib"] = peaks["start_rss"].get(stage, 0) / 2**30
        row[f"{stage}_rss_gib"] = peaks["rss"].get(stage, 0) / 2**30
        row[f"{stage}_neo4j_rss_gib"] = peaks["server"].get(stage, 0) / 2**30 or None
        if peaks["gpu"]:
            row[f"{stage}_gpu_gib"] = peaks["gpu"].get(stage, 0) / 2**30
    row["total_s"] = sum(v for k, v in seconds.items() if k in STAGES)
    row["profiles_per_s"] = result["written"] / max(row["write_s"] or 0.0, 1e-9)
    return row


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stage's exponent k (seconds ~ users^k) between consecutive sizes and end to end."""
    out = []
    pairs = list(itertools.pairwise(rows))
    if len(rows) > 2:
        pairs.append((rows[0], rows[-1]))
    for a, b in pairs:
        ratio = math.log(b["users"] / a["users"])
        entry: dict[str, Any] = {"from": a["users"], "to": b["users"]}
        for stage in (*STAGES, "total"):
            ta, tb = a.get(f"{stage}_s"), b.get(f"{stage}_s")
            if ta and tb:
                entry[f"{stage}_k"] = math.log(tb / ta) / ratio
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (fixed)")
    parser.add_argument("--out", type=Path, default=Path("out/bench/scale.json"))
    parser.add_argument(
        "--append", action="store_true", help="keep the other sizes already in --out"
    )
    args = parser.parse_args()
    earlier = _earlier(args.out) if args.append else []
    rows = [r for r in earlier if r["users"] not in args.sizes]
    for users in sorted(args.sizes):
        print(f"{users:,} users", flush=True)
        rows.append(run_size(users, args.epochs))
        rows.sort(key=lambda r: r["users"])
        _report(rows, args.out)  # after every size: a later size that fails keeps these


def _earlier(out: Path) -> list[dict[str, Any]]:
    """The per-size rows of an earlier run in ``out`` (none if there is no such file)."""
    if not out.exists():
        return []
    rows = json.loads(out.read_text())["rows"]
    return [r for r in rows if isinstance(r.get("users"), int)]


def _report(sizes: list[dict[str, Any]], out: Path) -> None:
    rows = list(sizes)
    for entry in growth(sizes):
        rows.append({"users": f"k {entry['from']:,}->{entry['to']:,}", **entry})
    metrics = ["interactions", "profiles_written", "profiles_per_s", "total_s"]
    for stage in STAGES:
        metrics += [f"{stage}_s", f"{stage}_start_rss_gib", f"{stage}_rss_gib"]
        metrics.append(f"{stage}_neo4j_rss_gib")
        if any(f"{stage}_gpu_gib" in r for r in rows):
            metrics.append(f"{stage}_gpu_gib")
    metrics += [f"{stage}_k" for stage in (*STAGES, "total")]
    report("a full refresh by stage (columns = users; k: seconds ~ users^k)", rows, out, metrics)


if __name__ == "__main__":
    main()
