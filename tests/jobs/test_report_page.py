"""The demo's summary page: self-contained, escaped, and every image loads in a real browser."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from jobs.report_page import Profile, ReportPage, markdown_html, write_page
from profilegraph.browser_tour import chromium

EVALUATION = """### Item ranking (random 80/10/10 split, full ranking)

| model | Recall@10 | NDCG@10 |
|---|---|---|
| popularity | 0.1000 ± 0.0010 | 0.0800 ± 0.0010 |
| lightgcn+social | 0.2000 ± 0.0020 | 0.1500 ± 0.0020 |

- the run ships **influence-sage** as `profile_influence`
"""


def _plot(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 3, 2])
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def test_markdown_tables_bullets_and_escaping() -> None:
    text = markdown_html(EVALUATION + "\n<script>alert(1)</script>\n")
    assert "<h3>Item ranking" in text and text.count("<tr>") == 3
    assert "<strong>influence-sage</strong>" in text and "<code>profile_influence</code>" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_the_page_renders_with_every_image_in_a_real_browser(tmp_path: Path) -> None:
    page = ReportPage(
        {"run_id": "full-abc", "kind": "full", "status": "complete", "timings": '{"train_s": 3.5}'},
        EVALUATION,
        plots=[_plot(tmp_path / "training_curve.png"), _plot(tmp_path / "influence.png")],
        influencers=[{"influence_rank": 1, "user_id": "u7", "influence": 4.2}],
        profiles=[Profile("top influencer: user u7", "interests  rock 0.40\nwhy: ...")],
    )
    path = write_page(page, tmp_path / "out" / "report.html")
    for png in tmp_path.glob("*.png"):
        png.unlink()  # embedded: the page stands on its own
    with chromium() as driver:
        driver.get(path.as_uri())  # type: ignore[attr-defined]
        images = driver.execute_script(  # type: ignore[attr-defined]
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        text = driver.find_element("tag name", "body").text  # type: ignore[attr-defined]
    assert len(images) == 2 and all(done and width > 0 for _, done, width in images), images
    assert "run full-abc" in text and "lightgcn+social" in text and "u7" in text
    assert "train_s 3.5" in text and "top influencer: user u7" in text
