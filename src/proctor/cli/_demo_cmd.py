"""``proctor demo``: the invoice example's scenarios, each with a short receipt."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from proctor.cli._context import command_group, console, options, with_store

if TYPE_CHECKING:
    from proctor.store import Store

app = command_group()


@app.command()
def demo() -> None:
    """Run the invoice-reconciliation scenarios offline, with scripted models."""
    from proctor.cli._timeline import receipt
    from proctor.examples.invoice import DEMO_SCENARIOS, sample_input, workflow
    from proctor.runtime import Runner
    from proctor.store import row_to_event

    began = time.perf_counter()

    async def work(store: Store) -> list[tuple[str, str]]:
        flow = workflow()
        runner = Runner(store, flow)
        results: list[tuple[str, str]] = []
        for number, scenario in enumerate(DEMO_SCENARIOS, start=1):
            result = await runner.start(
                sample_input(scenario.input_name), model=scenario.model, started_by="demo"
            )
            events = [row_to_event(row) for row in await store.events(result.run_id)]
            console.print(
                receipt(f"{number}. {scenario.title}", result.state, result.run_id, events)
            )
            console.print(f"  [dim]{scenario.shows}[/]\n")
            results.append((result.run_id, result.state.pending_approval or ""))
        return results

    console.rule("[bold]Proctor demo: invoice reconciliation under a workflow contract")
    console.print(
        "[dim]Models are scripted test doubles (named scripted:…), priced as gpt-4o-mini.[/]\n"
    )
    results = with_store(work)
    elapsed = time.perf_counter() - began
    db = f" --db {options.db}" if options.db else ""
    console.rule(f"done in {elapsed:.2f} s")
    console.print("Look deeper:")
    first_run = results[0][0]
    console.print(
        f"  proctor{db} runs                      [dim]# every run, with outcome and cost[/]"
    )
    console.print(f"  proctor{db} trace {first_run}   [dim]# the timeline of the clean run[/]")
    pending = [approval for _, approval in results if approval]
    if pending:
        console.print(
            f"  proctor{db} approvals                 [dim]# the payment waiting for a human[/]"
        )
        console.print(f"  proctor{db} approve {pending[0]} --as alice --reason 'checked with AP'")
    console.print(f"  proctor{db} audit verify              [dim]# recompute every hash chain[/]")
    console.print(
        f"\nSee these runs in the browser: [bold]proctor{db} serve[/], then open "
        "http://127.0.0.1:8700/ and sign in with the admin key it prints on its first start "
        f"(or make one: proctor{db} keys create --role admin --tenant default).",
        highlight=False,
    )
