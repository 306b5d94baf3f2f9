"""The ``proctor`` command: its command groups, composed in the order ``--help`` lists them.

Each group is a module with its own ``typer.Typer``; commands import what they use in
their bodies, so ``proctor --help`` loads Typer and these modules, not the runtime.
"""

from __future__ import annotations

from proctor.cli import (
    _approvals_cmd,
    _audit_cmd,
    _contract_cmd,
    _db_cmd,
    _demo_cmd,
    _errors,
    _eval_cmd,
    _gateway_cmd,
    _mcp_cmd,
    _notify_cmd,
    _otel_cmd,
    _queue_cmd,
    _report_cmd,
    _retention_cmd,
    _rollout_cmd,
    _runs_cmd,
    _server_cmd,
)
from proctor.cli._context import command_group, global_options

app = command_group(
    name="proctor",
    help="Run LLM tool-using agents under explicit control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion, --show-completion (for the current shell)
)
app.callback()(global_options)

# Groups added without a name lend their commands to `proctor` itself.
app.add_typer(_runs_cmd.app)  # run, resume, runs, trace
app.add_typer(_approvals_cmd.app)  # approvals, approve, deny
app.add_typer(_demo_cmd.app)  # demo
app.add_typer(_server_cmd.app)  # serve
app.add_typer(_queue_cmd.app)  # submit, worker, queue
app.add_typer(_contract_cmd.app, name="contract")
app.add_typer(_audit_cmd.app, name="audit")
app.add_typer(_report_cmd.app, name="report")
app.add_typer(_rollout_cmd.app, name="rollout")
app.add_typer(_gateway_cmd.app, name="gateway")
app.add_typer(_mcp_cmd.app, name="mcp")
app.add_typer(_notify_cmd.app, name="notify")
app.add_typer(_otel_cmd.app, name="otel")
app.add_typer(_db_cmd.app, name="db")
app.add_typer(_retention_cmd.app, name="retention")
app.add_typer(_eval_cmd.app, name="eval")
app.add_typer(_server_cmd.keys_app, name="keys")


def main() -> None:
    """Entry point: one clear line per error; exit 2 on usage errors; tracebacks need --debug."""
    _errors.run(app)
