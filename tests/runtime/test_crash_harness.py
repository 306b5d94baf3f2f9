"""Workers SIGKILLed at random lose no run, no event and write no payment twice.

Three `proctor worker` processes drive 40 queued invoice runs (the demo's mix: resolved,
escalated, paid after an approval) while the harness kills one at random moments and
starts a replacement (five times); then every run, chain and ERP payment is checked
(tests/support/crash_harness.py, which `make soak` runs longer).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.crash_harness import SoakResult, soak

# Five kills at most 0.7 s apart land within 3.5 s: before the 40 runs are done (about
# 5 s), even on a fast machine.
PACE = (0.3, 0.7)


def _check(found: SoakResult) -> None:
    assert not found.problems, "\n".join([found.summary(), *found.problems])
    assert found.kills == 5, found.summary()
    assert found.payments > 0, found.summary()
    assert found.approvals > 0, found.summary()


@pytest.mark.slow
async def test_killed_postgresql_workers_lose_and_repeat_nothing(
    postgres_url: str, proctor_home: Path
) -> None:
    _check(
        await soak(postgres_url, proctor_home, runs=40, max_kills=5, kill_every=PACE, timeout_s=40)
    )


@pytest.mark.slow
async def test_killed_workers_sharing_one_sqlite_file_lose_and_repeat_nothing(
    tmp_path: Path, proctor_home: Path
) -> None:
    db = str(tmp_path / "soak.db")
    _check(await soak(db, proctor_home, runs=40, max_kills=5, kill_every=PACE, timeout_s=40))
