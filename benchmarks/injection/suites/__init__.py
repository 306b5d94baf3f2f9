"""The benchmark's workflows, one module each."""

from __future__ import annotations

from typing import Any

from injection._core import Suite
from injection.suites import banking, chat, support, travel, workspace

SUITES: dict[str, Suite[Any]] = {
    suite.name: suite
    for suite in (workspace.SUITE, banking.SUITE, travel.SUITE, chat.SUITE, support.SUITE)
}
"""Every workflow of the benchmark, by name."""
