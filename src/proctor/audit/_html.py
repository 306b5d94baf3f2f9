"""The receipt as one self-contained HTML file: inline CSS, no scripts, no external assets.

Every value from the log is escaped, so nothing a model or a user wrote can become
markup. The page opens offline and prints cleanly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from html import escape
from typing import Any

import orjson

from proctor.audit._html_css import CSS as _CSS
from proctor.audit._receipt import (
    ApprovalEntry,
    CredentialEntry,
    ModelCallEntry,
    Notice,
    Receipt,
    ToolCallEntry,
)

_RESULT_CHARS = 1000
_PREVIEW_CHARS = 160
# Column widths of the wide tables (the column left empty takes what remains).
_CALL_WIDTHS = ("3.5em", "14%", "21%", "22%", "11%", "")
_APPROVAL_WIDTHS = ("11%", "11%", "", "10%", "9%", "8%", "10%", "12%", "10%")
_MODEL_WIDTHS = ("4.5em", "", "9%", "9%", "11%", "10%", "6%", "8%")

_DECISION = {"allow": "good", "deny": "bad", "require_approval": "warn"}
_OUTCOME = {"resolved": "good", "failed": "bad", "escalated": "warn", "draft_only": "warn"}
_STATUS = {"succeeded": "good", "failed": "bad", "denied": "bad", "awaiting_approval": "warn"}


def receipt_html(receipt: Receipt) -> str:
    """The receipt as a standalone HTML page."""
    run = receipt.run
    outcome = run.outcome or run.status
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Run receipt {_e(run.run_id)}: {_e(outcome)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(receipt),
        _verification(receipt),
        _started(receipt),
        _contract(receipt),
        _tool_calls(receipt),
        _approvals(receipt.approvals),
        _credentials(receipt),
        _model_calls(receipt),
        _notices(receipt.notices),
        _outcome(receipt),
        _retention(receipt),
        _events(receipt),
        '<footer class="muted"><p>',
        f"Generated {_e(receipt.generated_at)} by {_e(receipt.generator)}; receipt format "
        f"{receipt.format_version}. The JSON export (<code>--format json</code>) holds the same "
        "facts for tools.</p></footer>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _json(value: Any, *, indent: bool = False) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, option=option | orjson.OPT_NON_STR_KEYS).decode()


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _badge(text: str | None, style: str) -> str:
    return f'<span class="badge {style}">{_e(text)}</span>'


def _purged_note(receipt: Receipt) -> str:
    if receipt.purge is None:
        return '<span class="purged">payload purged; hash retained</span>'
    day = (receipt.purge.purged_at or "")[:10]
    return f'<span class="purged">payload purged on {_e(day)} under retention; hash retained</span>'


def _table(
    headers: list[str],
    rows: list[list[str]],
    numeric: Collection[int] = (),
    widths: Sequence[str] = (),
) -> str:
    """A table whose columns take ``widths`` (CSS lengths; ``""``: the rest); each cell
    carries its header as ``data-label``, for the narrow layout."""
    cols = "".join(f'<col style="width:{w}">' if w else "<col>" for w in widths)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    labels = [f' data-label="{_e(h)}"' if h else "" for h in headers]
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num"{labels[i]}>{cell}</td>'
            if i in numeric
            else f"<td{labels[i]}>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    colgroup = f"<colgroup>{cols}</colgroup>" if cols else ""
    return (
        f'<table class="grid">{colgroup}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _long(text: str) -> str:
    """A value that may be long: its first ``_PREVIEW_CHARS`` characters, the rest a click
    away (``<details>``: no script)."""
    if len(text) <= _PREVIEW_CHARS:
        return f'<span class="mono">{_e(text)}</span>'
    return (
        f'<details class="long"><summary><span class="mono preview">{_e(text[:_PREVIEW_CHARS])}'
        f'…</span> <span class="more">show all {len(text):,} characters</span>'
        '<span class="less">show less</span></summary>'
        f'<span class="mono">{_e(text)}</span></details>'
    )


def _header(receipt: Receipt) -> str:
    run, totals = receipt.run, receipt.totals
    outcome = run.outcome or run.status
    facts = [
        ("outcome", _badge(outcome, _OUTCOME.get(outcome, "muted"))),
        ("total cost", _e(_money(totals.cost_usd))),
        ("working time", _e(_seconds(totals.active_s))),
        ("wall time", _e(_seconds(totals.wall_s))),
        ("tokens (in + out)", _e(f"{totals.input_tokens:,} + {totals.output_tokens:,}")),
        ("tool calls / model calls", _e(f"{totals.tool_calls} / {totals.model_calls}")),
        (
            "chain",
            _badge("verified", "good") if receipt.verification.ok else _badge("BROKEN", "bad"),
        ),
    ]
    grid = "".join(f"<div><dt>{_e(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    finals = Counter(call.decision or "undecided" for call in receipt.tool_calls)
    asked = Counter(a.status for a in receipt.approvals)
    tally = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(finals.items()))
    if asked:
        tally += "; approvals: " + ", ".join(f"{n} {s}" for s, n in sorted(asked.items()))
    return (
        '<header><p class="kicker">Proctor run receipt</p>'
        f'<h1 class="mono">{_e(run.run_id)}</h1>'
        f"<p>Workflow <strong>{_e(run.workflow)}</strong> under contract "
        f"<strong>{_e(receipt.contract.name)}</strong> v{_e(receipt.contract.version)}, "
        f"started by <strong>{_e(run.started_by)}</strong> at {_e(run.started_at)}"
        f"{', finished ' + _e(run.finished_at) if run.finished_at else ''}.</p>"
        f"<p>Final policy decisions on {len(receipt.tool_calls)} proposed tool call(s): "
        f"{_e(tally or 'none')}.</p>"
        f'<dl class="facts">{grid}</dl></header>'
    )


def _verification(receipt: Receipt) -> str:
    check = receipt.verification
    if check.ok:
        verdict = (
            f'<p><strong class="good">Chain verified: yes.</strong> {check.events} events, '
            f"recomputed at {_e(check.verified_at)}.</p>"
        )
        head = f"<p>Chain head hash: <code>{_e(check.head_hash)}</code></p>"
    else:
        verdict = (
            f'<p><strong class="bad">Chain verified: NO.</strong> {_e(check.problem)} '
            f"(checked {_e(check.verified_at)}). Do not rely on this run's record.</p>"
        )
        head = f"<p>Last hash that verified: <code>{_e(check.head_hash)}</code></p>"
    return (
        f'<section id="verification" class="box{"" if check.ok else " broken"}">'
        f"<h2>Verification</h2>{verdict}{head}"
        f"<p>To verify: <code>{_e(check.command)}</code></p>"
        f'<p class="muted">{_e(check.explanation)}</p></section>'
    )


def _started(receipt: Receipt) -> str:
    run = receipt.run
    rows = [
        ["started by", _e(run.started_by)],
        ["process", f'<span class="mono">{_e(run.owner or "-")}</span>'],
        ["started at", _e(run.started_at)],
        ["model", _e(run.model)],
        ["trace id", f'<span class="mono">{_e(run.trace_id or "-")}</span>'],
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    table = f'<table class="kv">{table}</table>'
    if run.input_purged:
        given = f"<p>{_purged_note(receipt)}</p>"
    else:
        given = f"<pre>{_e(_json(run.input, indent=True))}</pre>"
    return (
        '<section id="started"><h2>Who started it, with what</h2>'
        f"{table}<h3>Input (as recorded, after redaction)</h3>{given}</section>"
    )


def _contract(receipt: Receipt) -> str:
    contract = receipt.contract
    retention = (
        "kept until deleted"
        if contract.retention_days is None
        else f"payloads purged {contract.retention_days} "
        f"day{'' if contract.retention_days == 1 else 's'} after the run finishes"
    )
    stored = (
        "stored: compare versions with <code>proctor contract diff</code>"
        if contract.stored
        else "not stored (the run predates contract versions)"
    )
    return (
        '<section id="contract"><h2>Contract</h2><table class="kv">'
        f"<tr><th>name</th><td>{_e(contract.name)}</td></tr>"
        f"<tr><th>version</th><td>{_e(contract.version)}</td></tr>"
        f'<tr><th>content hash</th><td class="mono">{_e(contract.hash)}</td></tr>'
        f"<tr><th>text</th><td>{stored}</td></tr>"
        f"<tr><th>retention</th><td>{_e(retention)}</td></tr></table></section>"
    )


def _arguments(call: ToolCallEntry, receipt: Receipt) -> str:
    if call.purged and call.arguments is None:
        return _purged_note(receipt)
    return _long(call.raw_arguments if call.raw_arguments else _json(call.arguments))


def _outcome_cell(call: ToolCallEntry, receipt: Receipt) -> str:
    parts = [_badge(call.status.replace("_", " "), _STATUS.get(call.status, "muted"))]
    if call.latency_ms is not None:
        parts.append(f" {_e(_ms(call.latency_ms))}")
    if call.attempts > 1:
        parts.append(f" ({call.attempts} attempts)")
    if call.status == "failed":
        parts.append(f"<br>{_e(call.error_type)}: {_e(call.error)}")
    elif call.status == "succeeded":
        if call.purged and call.result is None:
            parts.append(f"<br>{_purged_note(receipt)}")
        elif call.result is not None:
            text = _json(call.result)
            if len(text) > _RESULT_CHARS:
                text = f"{text[:_RESULT_CHARS]}… ({len(text):,} characters; all in the JSON export)"
            parts.append(f"<br>{_long(text)}")
    if call.idempotency_key:
        key = _e(call.idempotency_key)
        parts.append(f'<div class="muted">key <span class="mono">{key}</span></div>')
    return "".join(parts)


def _tool_calls(receipt: Receipt) -> str:
    if not receipt.tool_calls:
        return '<section id="tool-calls"><h2>Tool calls</h2><p>None proposed.</p></section>'
    approvals = {a.approval_id: a for a in receipt.approvals}
    rows = []
    for call in receipt.tool_calls:
        approval = approvals.get(call.approval_id or "")
        asked = ""
        if approval is not None:
            asked = f'<span class="mono">{_e(approval.approval_id)}</span><br>{_e(approval.status)}'
            if approval.decided_by:
                asked += f" by <strong>{_e(approval.decided_by)}</strong>"
        decisions = "<br>".join(
            f"{_badge(d.decision.replace('_', ' '), _DECISION.get(d.decision, 'muted'))} "
            f'<span class="mono">[{_e(d.rule)}]</span> {_e(d.reason)}'
            for d in call.decisions
        )
        rows.append(
            [
                _e(call.step),
                f"<strong>{_e(call.tool)}</strong>",
                _arguments(call, receipt),
                decisions or '<span class="muted">not decided</span>',
                asked,
                _outcome_cell(call, receipt),
            ]
        )
    headers = ["step", "tool", "arguments", "policy decision [rule] reason", "approval", "result"]
    return (
        f'<section id="tool-calls"><h2>Tool calls ({len(rows)})</h2>'
        f"{_table(headers, rows, numeric={0}, widths=_CALL_WIDTHS)}</section>"
    )


def _approvals(approvals: list[ApprovalEntry]) -> str:
    if not approvals:
        return '<section id="approvals"><h2>Approvals</h2><p>None requested.</p></section>'
    rows = [
        [
            f'<span class="mono">{_e(a.approval_id)}</span>',
            _e(a.tool),
            f'<span class="mono">[{_e(a.rule)}]</span> {_e(a.reason)}',
            _e(a.requested_at),
            _badge(a.status, {"approved": "good", "denied": "bad"}.get(a.status, "warn")),
            f"<strong>{_e(a.decided_by)}</strong>" if a.decided_by else "-",
            _e(a.decided_at or "-"),
            _e(a.decision_reason or ""),
            _e(a.checker_verdict or ("-" if a.approver == "human" else "not asked yet")),
        ]
        for a in approvals
    ]
    headers = [
        "approval",
        "tool",
        "why [rule]",
        "requested",
        "decision",
        "by",
        "at",
        "reason",
        "checker",
    ]
    table = _table(headers, rows, widths=_APPROVAL_WIDTHS)
    return f'<section id="approvals"><h2>Approvals</h2>{table}</section>'


def _credentials(receipt: Receipt) -> str:
    credentials: list[CredentialEntry] = receipt.credentials
    if not credentials:
        return (
            '<section id="credentials"><h2>Credentials issued</h2>'
            "<p>None recorded for this run.</p></section>"
        )
    rows = []
    for c in credentials:
        lines = [
            f'{_e(k)}: <span class="mono">{_e(v if isinstance(v, str) else _json(v))}</span>'
            for k, v in c.details.items()
            if k != "purged"
        ]
        if c.details.get("purged"):
            lines.append(_purged_note(receipt))
        rows.append([_e(c.seq), _e(c.at), _e(c.tool or "-"), "<br>".join(lines)])
    headers = ["event", "at", "tool", "scopes, limits, expiry"]
    return (
        '<section id="credentials"><h2>Credentials issued</h2>'
        '<p class="muted">Scopes and expiry as recorded; tokens are never stored.</p>'
        f"{_table(headers, rows, numeric={0}, widths=('4.5em', '17%', '20%', ''))}"
        "</section>"
    )


def _model_calls(receipt: Receipt) -> str:
    calls: list[ModelCallEntry] = receipt.model_calls
    if not calls:
        return '<section id="model-calls"><h2>Model calls</h2><p>None.</p></section>'
    rows = [
        [
            _e(c.turn if c.turn is not None else c.kind),
            _e(c.model),
            _e(f"{c.input_tokens:,}"),
            _e(f"{c.output_tokens:,}"),
            _e(_money(c.cost_usd)),
            _e(_ms(c.latency_ms)),
            "cache" if c.cache_hit else "",
            _e(c.tool_calls),
        ]
        for c in calls
    ]
    totals = receipt.totals
    rows.append(
        [
            "<strong>total</strong>",
            "",
            _e(f"{totals.input_tokens:,}"),
            _e(f"{totals.output_tokens:,}"),
            f"<strong>{_e(_money(totals.cost_usd))}</strong>",
            "",
            "",
            _e(totals.tool_calls),
        ]
    )
    headers = ["turn", "model", "tokens in", "tokens out", "cost", "latency", "", "tool calls"]
    return (
        f'<section id="model-calls"><h2>Model calls ({len(calls)})</h2>'
        f"{_table(headers, rows, numeric={2, 3, 4, 5, 7}, widths=_MODEL_WIDTHS)}</section>"
    )


def _notices(notices: list[Notice]) -> str:
    if not notices:
        return ""
    items = "".join(
        f'<li><span class="muted">event {n.seq}, {_e(n.at)}</span> <strong>{_e(n.type)}</strong>: '
        f"{_e(n.summary)}</li>"
        for n in notices
    )
    return (
        '<section id="events-of-note"><h2>Escalations, limits and other events</h2>'
        f"<ul>{items}</ul></section>"
    )


def _outcome(receipt: Receipt) -> str:
    run = receipt.run
    outcome = run.outcome or run.status
    answer = ""
    if run.final_text is not None:
        answer = f"<h3>Final answer</h3><pre>{_e(run.final_text)}</pre>"
    elif run.outcome is not None and receipt.purge is not None:
        answer = f"<p>{_purged_note(receipt)}</p>"
    badge = _badge(outcome, _OUTCOME.get(outcome, "muted"))
    return (
        f'<section id="outcome"><h2>Outcome</h2><p>{badge} '
        f"{_e(run.outcome_reason or '')}</p>{answer}</section>"
    )


def _retention(receipt: Receipt) -> str:
    purge = receipt.purge
    if purge is None:
        return ""
    return (
        '<section id="retention"><h2>Retention</h2>'
        f"<p>Payloads of {purge.events} events ({purge.bytes:,} bytes) were purged on "
        f"{_e(purge.purged_at)}: {_e(purge.reason)}. Metadata, decisions, digests and hashes "
        "were kept, so the chain still verifies.</p></section>"
    )


def _events(receipt: Receipt) -> str:
    rows = [
        [
            _e(e.seq),
            _e(e.type),
            _e(e.at),
            f'<span class="mono">{_e(e.hash)}</span>',
            "purged" if e.purged else "",
        ]
        for e in receipt.events
    ]
    table = _table(
        ["seq", "type", "at", "hash", "payload"],
        rows,
        numeric={0},
        widths=("4.5em", "18%", "20%", "", "5.5em"),
    )
    return (
        f'<section id="events"><h2>The log</h2><details><summary>All {len(rows)} events, '
        f"with their hashes</summary>{table}</details></section>"
    )
