"""A workflow of the operator's own, configured by reference (``server.own_workflows:own``)."""

from __future__ import annotations

import dataclasses

from proctor.examples import invoice
from proctor.runtime import Workflow


def own() -> Workflow:
    """The invoice workflow under a name of its own."""
    return dataclasses.replace(invoice.workflow(), name="own_invoices")
