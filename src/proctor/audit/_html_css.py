"""The receipt page's inline stylesheet: light and dark (on screen), print, and a narrow
layout in which each table row becomes a card of labelled values."""

from __future__ import annotations

CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de;
        --text: #1f2328; --bg: #ffffff; --soft: #f6f8fa; color-scheme: light dark; }
@media screen and (prefers-color-scheme: dark) {
  :root { --ok: #3fb950; --bad: #f85149; --warn: #d29922; --muted: #9198a1; --line: #3d444d;
          --text: #e6edf3; --bg: #0d1117; --soft: #151b23; }
}
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--text);
       background: var(--bg); margin: 0 auto; padding: 24px; max-width: 1200px; }
h1 { font-size: 22px; margin: 4px 0 8px; } h2 { font-size: 17px; margin: 28px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                   font-size: 12.5px; overflow-wrap: anywhere; }
pre { background: var(--soft); padding: 8px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-word; margin: 4px 0; }
.kicker { color: var(--muted); text-transform: uppercase; letter-spacing: .06em; margin: 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
         gap: 8px; margin: 12px 0; }
.facts div { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.facts dt { color: var(--muted); font-size: 12px; } .facts dd { margin: 0; font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.good { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.muted { color: var(--muted); }
.box { border: 2px solid var(--ok); border-radius: 8px; padding: 8px 14px; }
.box.broken { border-color: var(--bad); }
/* Fixed layout with set column widths: long values wrap inside their cell, so the page
   never scrolls sideways; under 640 px each row becomes a card of labelled values. */
table { border-collapse: collapse; width: 100%; margin: 6px 0; table-layout: fixed; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--soft); font-weight: 600; }
table.kv th { width: 10em; }
td.num { text-align: right; }
.purged { color: var(--muted); font-style: italic; }
details summary { cursor: pointer; }
details.long summary { list-style: none; }
details.long summary::-webkit-details-marker { display: none; }
details.long .more, details.long .less { color: var(--muted); font-size: 12px;
         text-decoration: underline; white-space: nowrap; }
details.long .less, details.long[open] .preview, details.long[open] .more { display: none; }
details.long[open] .less { display: inline; }
@media (max-width: 640px) {
  body { padding: 12px; }
  table.grid, table.grid tbody, table.grid tr, table.grid td { display: block; width: auto; }
  table.grid colgroup, table.grid thead { display: none; }
  table.grid tr { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; }
  table.grid td { border: 0; padding: 3px 8px; }
  table.grid td.num { text-align: left; }
  table.grid td[data-label]::before { content: attr(data-label); display: block;
         color: var(--muted); font-size: 12px; font-weight: 600; }
  table.grid td:empty { display: none; }
}
@media print { details { display: block; } .box { break-inside: avoid; } }
"""
