"""The demo's summary as one self-contained HTML page (``out/report.html``): the run's
provenance, the evaluation's tables beside their baselines, the plots (embedded, so the page can
be sent on its own), the top influencers and sample profiles with their explanations.

The evaluation arrives as the markdown ``jobs.report`` writes; only its subset is converted here
(``###`` headings, ``-`` bullets, ``|`` tables, paragraphs), with every text escaped.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.markdown import cell_text

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } img { max-width: 100%; border: 1px solid #eee; margin: .5rem 0; }
pre { background: #f7f7f7; padding: .8rem; overflow-x: auto; font-size: 12.5px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); }
"""


@dataclass
class Profile:
    title: str
    text: str  # the profile as the CLI renders it


@dataclass
class ReportPage:
    run: dict[str, Any]  # cypher/read_profile_run.cypher
    evaluation_markdown: str
    plots: Sequence[Path] = ()
    influencers: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)  # (heading, markdown)


def rows_html(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0] if rows else []))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if r.get(c) is None else cell_text(r[c]))}</td>" for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def markdown_html(markdown: str) -> str:
    """The report's markdown subset as HTML."""
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 4)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            header, rows = block[0], [r for r in block[1:] if not set("".join(r)) <= set("-: ")]
            head = "".join(f"<th>{_inline(c)}</th>" for c in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows
            )
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
            continue
        elif line:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(path.stem.replace("_", " "))
    image = f'<img alt="{name}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{name}</figcaption></figure>"


def _provenance(run: dict[str, Any]) -> str:
    rows = []
    for key in ("run_id", "kind", "status", "model", "watermark", "started_at", "finished_at"):
        rows.append({"": key, "value": run.get(key)})
    rows.append({"": "profiles written", "value": run.get("profiles_written")})
    timings = json.loads(run["timings"]) if isinstance(run.get("timings"), str) else {}
    if timings:
        rows.append(
            {"": "timings (s)", "value": ", ".join(f"{k} {v:.1f}" for k, v in timings.items())}
        )
    return rows_html(rows, ["", "value"])


def render_page(page: ReportPage) -> str:
    title = f"profilegraph: run {page.run.get('run_id', '?')}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Provenance</h2>",
        _provenance(page.run),
        "<h2>Evaluation against the baselines</h2>",
        markdown_html(page.evaluation_markdown),
    ]
    if page.plots:
        figures = "".join(_image(p) for p in page.plots)
        parts += ["<h2>Plots</h2>", f'<div class="figures">{figures}</div>']
    if page.influencers:
        parts += ["<h2>Top influencers</h2>", rows_html(page.influencers)]
    for heading, markdown in page.extra:
        parts += [f"<h2>{html.escape(heading)}</h2>", markdown_html(markdown)]
    if page.profiles:
        parts.append("<h2>Sample profiles</h2>")
        for profile in page.profiles:
            parts += [
                f"<h3>{html.escape(profile.title)}</h3>",
                f"<pre>{html.escape(profile.text)}</pre>",
            ]
    body = "\n".join(parts)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_page(page: ReportPage, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(page), encoding="utf-8")
    return path
