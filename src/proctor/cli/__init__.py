"""The ``proctor`` command."""

from __future__ import annotations

from proctor.cli import _audit_cmd as _audit_cmd  # registers audit export, retention, ...
from proctor.cli import _demo_cmd as _demo_cmd  # registers `proctor demo`
from proctor.cli import _eval_cmd as _eval_cmd  # registers eval capture, run
from proctor.cli import _eval_results_cmd as _eval_results_cmd  # eval results, diff
from proctor.cli import _report_cmd as _report_cmd  # registers report drift, rollout ...
from proctor.cli import _server_cmd as _server_cmd  # registers serve, keys
from proctor.cli import _worker_cmd as _worker_cmd  # registers submit, worker, queue
from proctor.cli._app import app, main

__all__ = ["app", "main"]
