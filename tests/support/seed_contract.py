"""The exact text of the seed article's contract (shared/examples/seed-contract.yaml)."""

SEED_CONTRACT = """\
# The behaviour-focused policy example from the seed article, with its indentation restored.
agent:
  max_tool_calls: 6
  max_runtime_seconds: 45
  disallowed_tools:
    - "wire_transfer.create"
  required_steps_for_task:
    invoice_reconciliation:
      - "erp.lookup_vendor"
      - "erp.fetch_po"
      - "ocr.parse_invoice"
      - "policy.check_thresholds"
  escalation:
    on_budget_exceeded: true
    on_policy_violation: true
"""
