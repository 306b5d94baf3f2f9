"""Shipped example workflows, runnable offline with ``proctor demo``."""

from __future__ import annotations

from collections.abc import Callable

from proctor.examples import invoice
from proctor.runtime import Workflow

__all__ = ["workflows"]


def workflows() -> dict[str, Callable[[], Workflow]]:
    """Each shipped workflow's name and the factory that builds it."""
    return {"invoice_reconciliation": invoice.workflow}
