"""How runs and approvals look in a terminal, and anything as JSON.

Commands import this module in their bodies: it loads the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from proctor.store import run_document

if TYPE_CHECKING:
    from proctor.runtime import RunResult
    from proctor.store import ApprovalRecord, RunRecord, RunTotals, Store

OUTCOME_STYLE = {
    "resolved": "bold green",
    "escalated": "bold yellow",
    "draft_only": "bold cyan",
    "failed": "bold red",
    "cancelled": "dim",
}


def to_json(value: Any) -> str:
    """Pretty JSON of records or plain values."""
    return orjson.dumps(_plain(value), option=orjson.OPT_INDENT_2).decode()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def count(number: int, noun: str) -> str:
    """``1 day``, ``30 days``: a number and its noun, plural unless the number is one."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: str, outcome: str | None) -> Text:
    if status == "finished" and outcome:
        return Text(outcome, style=OUTCOME_STYLE.get(outcome, ""))
    return Text(status, style="bold magenta" if status == "awaiting_approval" else "bold blue")


def print_result(result: RunResult, out: Console) -> None:
    """Where a run stands after a command drove it, and what it waits for."""
    out.print(f"run [bold]{result.run_id}[/]: ", status_text(result.status, result.outcome), sep="")
    # The model's words and reasons are never read as console markup.
    if result.outcome == "resolved" and result.final_text:
        out.print(f"  {result.final_text}", markup=False)
    elif result.state.finish_reason:
        out.print(f"  {result.state.finish_reason}", markup=False)
    if result.state.pending_approval:
        out.print(
            f"  waiting for approval {result.state.pending_approval}: "
            f"proctor approve {result.state.pending_approval} --as NAME"
        )


def new_table(title: str | None = None) -> Table:
    """A table as every command prints one: a rule under the header, the title on the left."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)


async def run_documents(store: Store, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """``runs`` as the HTTP API shows them, with contract version labels and the approval
    each waits for (one query for the approvals, one per distinct contract version)."""
    from proctor.audit import chained_approvals

    waiting = [run.run_id for run in runs if run.status == "awaiting_approval"]
    pending: dict[str, str] = {}
    if waiting:
        found = await store.list_approvals("pending", run_ids=waiting)
        pending = {a.run_id: a.approval_id for a in await chained_approvals(store, found)}
    versions: dict[str, str | None] = {}
    for content_hash in {run.contract_hash for run in runs} - {""}:
        stored = await store.contracts(hash_prefix=content_hash)
        versions[content_hash] = stored[0].version if stored else None
    return [
        run_document(
            run,
            version=versions.get(run.contract_hash),
            pending_approval=pending.get(run.run_id),
        )
        for run in runs
    ]


_ORDERS = {
    "-started": "newest first",
    "started": "oldest first",
    "-cost": "costliest first",
    "cost": "cheapest first",
    "-duration": "longest first",
    "duration": "shortest first",
    "-status": "by status (running first)",
    "status": "by status (awaiting approval first)",
}


def runs_table(
    runs: list[RunRecord], *, totals: RunTotals | None = None, sort: str = "-started"
) -> Table:
    """The runs, titled with what all the runs matching add up to (``totals``; when not
    given, ``runs`` are all of them)."""
    if totals is None:
        known = [run.cost_usd for run in runs if run.cost_usd is not None]
        matching, cost, unknown = len(runs), sum(known), len(runs) - len(known)
        tokens = sum(run.input_tokens + run.output_tokens for run in runs)
    else:
        matching, cost, unknown = totals.runs, totals.cost_usd, totals.cost_unknown
        tokens = totals.input_tokens + totals.output_tokens
    extra = f" (+{unknown:,} unpriced)" if unknown else ""
    figures = f"{money(cost)}{extra}, {tokens:,} tokens"
    order = _ORDERS.get(sort, sort)
    if matching == len(runs):
        title = f"{matching:,} run(s), {order}: {figures}"
    elif totals is not None and totals.capped:
        title = (
            f"{len(runs):,} of {matching:,}+ run(s), {order}; the newest {matching:,}: {figures}"
        )
    else:
        title = f"{len(runs):,} of {matching:,} run(s), {order}; all {matching:,}: {figures}"
    table = new_table(title)
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("workflow / model", overflow="fold")
    for column in ("tools", "tokens", "cost", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
    for run in runs:
        session = Text(f"\nsession {run.session}", style="dim") if run.session else Text()
        table.add_row(
            Text(run.run_id) + session,
            status_text(run.status, run.outcome),
            Text(run.workflow) + Text(f"\n{run.model}", style="dim"),
            str(run.tool_calls),
            f"{run.input_tokens + run.output_tokens:,}",
            money(run.cost_usd),
            f"{run.duration_s:.2f}s",
            when(run.started_at)[5:],
        )
    return table


def approvals_table(approvals: list[ApprovalRecord], *, total: int | None = None) -> Table:
    """``approvals`` as a table; ``total``: how many there are in all, when more than shown."""
    title = f"{len(approvals)} approval(s)"
    if total is not None and total > len(approvals):
        title = f"{len(approvals)} of {total:,} approvals, oldest request first (--limit for more)"
    table = new_table(title)
    for column in ("approval", "run", "tool", "arguments", "why", "status"):
        table.add_column(column, overflow="fold")
    now = time.time()
    for item in approvals:
        if item.status != "pending":
            status = f"{item.status} by {item.decided_by}"
        elif item.expires_at is not None and now >= item.expires_at:
            status = "expired: resume the run to escalate it"
        else:
            who = {"checker": "the checker", "checker_then_human": "checker, then a person"}
            status = f"pending ({who.get(item.approver, 'a person')})"
            if item.expires_at is not None:
                status += f", expires in {_duration(item.expires_at - now)}"
        table.add_row(
            item.approval_id,
            item.run_id,
            item.tool,
            orjson.dumps(item.arguments).decode(),
            item.reason,
            status,
        )
    return table


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
