"""The static HTML page of an evaluation report folder: its style sheet and its skeleton.

A recipe's report (the `rarl` recipe's: `rarl.recipes.ordinal.report`) writes its numbers, tables and figures
into a folder and an `index.html` built with `html_page`: a self-contained page (no scripts, no network)
whose tables use the `results` class styled here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["REPORT_CSS", "html_page"]

REPORT_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table.results { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
table.results caption { font-weight: bold; margin-bottom: 0.4em; }
table.results th, table.results td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
table.results thead th { background: #f2f2f2; }
table.results tbody th { text-align: left; font-weight: normal; }
table.results tr.section td { text-align: left; font-style: italic; background: #fafafa; }
.ci { color: #666; } .fail { color: #a60; font-size: 0.85em; } .legend { color: #555; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; }
pre.notes { background: #f7f7f7; padding: 0.8em; white-space: pre-wrap; }
"""
"""Style of the report page (`results` tables, confidence intervals, failure rates, notes, figures)."""


def html_page(title: str, body: Sequence[str], notes: str | None = None) -> str:
    """A complete HTML page: `title` as its title and heading, `notes` (if any) as preformatted text, then
    the `body` lines (HTML, one per line)."""
    e = html.escape
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if notes:
        page.append(f'<pre class="notes">{e(notes.strip())}</pre>')
    page += [*body, "</body></html>", ""]
    return "\n".join(page)
