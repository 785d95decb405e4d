"""Static previews of the Grafana dashboards, for people without a Grafana at hand.

    python compose/grafana/render_preview.py [--png]

writes docs/dashboards/<name>.html: every panel at its grid position (24 columns, as
Grafana lays it out) with its title, type, unit and PromQL queries. With ``--png``
and a ``chromium`` on the PATH, also docs/dashboards/<name>.png (headless screenshot).
No data is shown: the previews document layout and queries, not values.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "compose" / "grafana" / "dashboards"
OUT = ROOT / "docs" / "dashboards"
ROW_PX = 34  # one Grafana grid unit of height, roughly
COLORS = {"timeseries": "#3d71d9", "stat": "#1a9b5b", "table": "#8a5cc2", "row": "#444"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} (preview)</title>
<style>
body {{ background:#111217; color:#d8d9da; font:13px/1.4 -apple-system, Segoe UI, Roboto, sans-serif; margin:16px; }}
h1 {{ font-size:20px; margin:0 0 4px; }} p.desc {{ color:#9fa3a8; margin:0 0 12px; }}
.grid {{ display:grid; grid-template-columns:repeat(24, 1fr); grid-auto-rows:{row}px; gap:6px; }}
.panel {{ background:#181b1f; border:1px solid #2c3235; border-radius:4px; padding:6px 8px; overflow:hidden; }}
.panel.row {{ background:transparent; border:none; border-bottom:1px solid #2c3235; font-weight:600; font-size:14px; padding:8px 0 0; }}
.head {{ display:flex; justify-content:space-between; gap:6px; }}
.title {{ font-weight:600; }} .kind {{ font-size:11px; padding:0 6px; border-radius:8px; color:#fff; white-space:nowrap; }}
code {{ display:block; font:11px/1.35 ui-monospace, Menlo, monospace; color:#a8c7fa; white-space:pre-wrap; word-break:break-all; margin-top:4px; }}
.legend {{ color:#9fa3a8; font-size:11px; }}
</style></head><body>
<h1>{title}</h1><p class="desc">{description} &mdash; static preview of <code style="display:inline">compose/grafana/dashboards/{name}.json</code>: layout and queries, no data.</p>
<div class="grid">
{panels}
</div></body></html>
"""


def render_panel(panel: dict) -> str:
    pos = panel["gridPos"]
    style = f"grid-column:{pos['x'] + 1} / span {pos['w']}; grid-row:{pos['y'] + 1} / span {pos['h']};"
    kind = panel["type"]
    if kind == "row":
        return f'<div class="panel row" style="{style}">{html.escape(panel["title"])}</div>'
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    queries = "".join(
        f'<code>{html.escape(t["expr"])}</code><span class="legend">{html.escape(t.get("legendFormat", ""))}</span>'
        for t in panel.get("targets", [])
    )
    badge = f'<span class="kind" style="background:{COLORS.get(kind, "#666")}">{html.escape(kind)}{" · " + html.escape(unit) if unit else ""}</span>'
    return (
        f'<div class="panel" style="{style}"><div class="head"><span class="title">{html.escape(panel["title"])}</span>{badge}</div>'
        f"{queries}</div>"
    )


def render_html(path: Path) -> str:
    board = json.loads(path.read_text())
    return PAGE.format(
            title=html.escape(board["title"]),
            description=html.escape(board.get("description", "")),
            name=path.stem,
            row=ROW_PX,
            panels="\n".join(render_panel(p) for p in board["panels"]),
    )


def render(path: Path) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{path.stem}.html"
    target.write_text(render_html(path))
    return target


def screenshot(page: Path, board: dict) -> Path | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("no chromium on PATH: skipping PNG", file=sys.stderr)
        return None
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    height = 120 + bottom * (ROW_PX + 6)
    png = page.with_suffix(".png")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", f"--window-size=1600,{height}", f"--screenshot={png}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return png


def main(argv: list[str]) -> None:
    for path in sorted(DASHBOARDS.glob("*.json")):
        page = render(path)
        print(f"wrote {page.relative_to(ROOT)}")
        if "--png" in argv:
            png = screenshot(page, json.loads(path.read_text()))
            if png:
                print(f"wrote {png.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
