"""Make the benches' snapshot files from the real data sets, each in a database of its own.

    python -m bench.snapshots lastfm taobao      # -> out/lastfm-snapshot.pt, out/taobao-...

Each data set gets its own state directory and ports (apart from the demo's, the tests' and
bench.common's), is loaded through the ingest path (``profilegraph load NAME``) into an empty
database and exported whole (``profilegraph export``); the services stop afterwards. A data
set already loaded there is not loaded again (the ingest ledger would skip it anyway).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DATASETS = ("lastfm", "taobao", "cdnow")


def _env(name: str, offset: int) -> dict[str, str]:
    base = 38000 + 100 * offset
    return {
        **os.environ,
        "PROFILEGRAPH_STATE": str(Path.home() / ".local" / "state" / f"profilegraph-bench-{name}"),
        "PROFILEGRAPH_NEO4J__BOLT_PORT": str(base + 87),
        "PROFILEGRAPH_NEO4J__HTTP_PORT": str(base + 74),
        "PROFILEGRAPH_REDIS__PORT": str(base + 79),
    }


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "profilegraph", *args], env=env, check=True)


def make(name: str, out: Path) -> Path:
    env = _env(name, DATASETS.index(name))
    marker = Path(env["PROFILEGRAPH_STATE"]) / f"loaded-{name}"
    _cli(env, "services", "up")
    try:
        if not marker.exists():
            _cli(env, "load", name)
            marker.touch()
        path = out / f"{name}-snapshot.pt"
        _cli(env, "export", "--out", str(path))
        return path
    finally:
        _cli(env, "services", "down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", choices=DATASETS)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    for name in args.datasets:
        print(make(name, args.out))


if __name__ == "__main__":
    main()
