"""``proctor audit export``, ``contract versions``/``diff`` and ``retention apply``, end to end.

One module fixture makes three runs of the invoice example: one approved under the
shipped contract, and under a second version (retention 30 days, a higher tool ceiling)
one resolved and one waiting for approval. Each test gets a private copy of that home.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from cli_harness import Ran, cli_env, proctor, proctor_all, proctor_main

from proctor.examples import invoice

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Home:
    home: Path
    files: Path
    approved: str  # under the shipped contract, approved by alice
    expiring: str  # under v2 (retention_days: 30), resolved
    waiting: str  # under v2, awaiting approval
    v1: str  # contract hashes
    v2: str

    @property
    def db(self) -> Path:
        return self.home / "proctor.db"


def _shipped_contract() -> str:
    with resources.as_file(
        resources.files("proctor.examples.invoice").joinpath("contract.yaml")
    ) as path:
        return path.read_text()


def _ok(ran: Ran) -> Ran:
    assert ran.code == 0, str(ran)
    return ran


def _one_line_error(ran: Ran, code: int) -> str:
    assert ran.code == code, str(ran)
    assert "Traceback" not in ran.err, str(ran)
    [line] = ran.err.strip().splitlines()
    assert line.startswith("usage error: " if code == 2 else "error: "), str(ran)
    return line


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Home:
    files = tmp_path_factory.mktemp("files")
    home = files / "proctor-home"
    env = cli_env(home)
    text = _shipped_contract()
    assert text.count('version: "1"') == 1
    assert text.count("max_tool_calls: 6") == 1
    (files / "v1.yaml").write_text(text)
    (files / "v2.yaml").write_text(
        text.replace('version: "1"', 'version: "2"\nretention_days: 30').replace(
            "max_tool_calls: 6", "max_tool_calls: 8"
        )
    )
    for name in ("clean", "over_threshold"):
        (files / f"{name}.json").write_text(json.dumps(invoice.sample_input(name)))

    def start(sample: str, contract: str) -> dict[str, str]:
        ran = proctor(
            *("run", "invoice_reconciliation", "--input", str(files / f"{sample}.json")),
            *("--contract", str(files / contract), "--json"),
            env=env,
        )
        assert ran.code in (0, 10), str(ran)  # resolved, or awaiting approval
        result: dict[str, str] = ran.json()
        return result

    first = start("over_threshold", "v1.yaml")
    _ok(proctor("approve", first["pending_approval"], "--as", "alice", env=env))
    expiring = start("clean", "v2.yaml")
    waiting = start("over_threshold", "v2.yaml")
    assert (expiring["outcome"], waiting["status"]) == ("resolved", "awaiting_approval")
    with closing(sqlite3.connect(home / "proctor.db")) as db:
        hashes = dict(db.execute("SELECT version, content_hash FROM contracts").fetchall())
    return Home(
        home=home,
        files=files,
        approved=first["run_id"],
        expiring=expiring["run_id"],
        waiting=waiting["run_id"],
        v1=hashes["1"],
        v2=hashes["2"],
    )


@pytest.fixture
def runs(made: Home, proctor_home: Path) -> Home:
    """This test's own copy of the module's home (PROCTOR_HOME points at it)."""
    shutil.copytree(made.home, proctor_home)
    return Home(**{**made.__dict__, "home": proctor_home})


@pytest.fixture
def env(proctor_home: Path) -> dict[str, str]:
    return cli_env(proctor_home)


# --- audit export ---------------------------------------------------------------------


def test_export_writes_a_receipt_that_verify_confirms(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    page, data = tmp_path / "receipt.html", tmp_path / "receipt.json"
    as_html, as_json, to_stdout, verify = proctor_all(
        [
            ["audit", "export", runs.approved, "--format", "html", "-o", str(page)],
            ["audit", "export", runs.approved, "--format", "json", "--output", str(data)],
            ["audit", "export", runs.approved, "--format", "json", "-o", "-"],
            ["audit", "verify", runs.approved],
        ],
        env=env,
    )
    receipt = json.loads(data.read_text())
    head = receipt["verification"]["head_hash"]
    assert f"wrote {page} (" in _ok(as_html).out
    assert f"✓ chain verified, head {head}" in as_html.out
    assert f"proctor audit verify {runs.approved}" in as_html.out
    assert f"✓ 1 chain(s) verified, {receipt['verification']['events']} events, head {head}" in (
        _ok(verify).out
    )
    _ok(as_json)
    assert json.loads(_ok(to_stdout).out)["tool_calls"] == receipt["tool_calls"]

    assert receipt["run"]["started_by"].startswith("cli:")
    assert receipt["contract"]["hash"] == runs.v1
    [approval] = receipt["approvals"]
    assert (approval["status"], approval["decided_by"]) == ("approved", "alice")
    html = page.read_text()
    for fact in (runs.approved, head, runs.v1, "alice", "erp.create_payment", "resolved"):
        assert fact in html
    assert not re.search(r"https?://|src=", html)


def test_export_by_default_writes_into_the_current_folder_and_says_where(
    runs: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    ran = _ok(proctor_main("audit", "export", runs.approved, capsys=capsys))

    written = (here / f"{runs.approved}.receipt.html").resolve()
    assert written.is_file()
    assert ran.out.startswith(f"wrote {written} ("), str(ran)  # the absolute path


def test_export_refuses_bad_input_in_one_line(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    unknown, fmt, unwritable = proctor_all(
        [
            ["audit", "export", "run_0000000000000000"],
            ["audit", "export", runs.approved, "--format", "pdf"],
            ["audit", "export", runs.approved, "-o", str(tmp_path / "no" / "such" / "x.html")],
        ],
        env=env,
    )
    assert "no run 'run_0000000000000000'" in _one_line_error(unknown, 1)
    assert "--format html or --format json" in _one_line_error(fmt, 2)
    assert "cannot write the receipt" in _one_line_error(unwritable, 2)


def test_export_of_a_tampered_log_says_verification_failed(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    with closing(sqlite3.connect(runs.db)) as db:
        db.execute(
            "UPDATE events SET meta = replace(meta, '\"alice\"', '\"mallory\"') "
            "WHERE run_id = ? AND type = 'approval_decided'",
            (runs.approved,),
        )
        db.commit()
    page = tmp_path / "tampered.html"

    ran = proctor("audit", "export", runs.approved, "-o", str(page), env=env)

    assert ran.code == 1, str(ran)
    assert "chain verification failed" in ran.err
    assert "(approval_decided) was edited" in ran.err
    assert "Chain verified: NO" in page.read_text()


# --- contract versions and diff ---------------------------------------------------------


def test_versions_lists_each_stored_contract_with_its_runs(runs: Home, env: dict[str, str]) -> None:
    every, one, none = proctor_all(
        [
            ["contract", "versions"],
            ["contract", "versions", "invoice_reconciliation"],
            ["contract", "versions", "refunds"],
        ],
        env=env,
    )
    assert "2 contract version(s)" in _ok(every).out
    rows = {line.split()[0]: line.split() for line in every.out.splitlines() if "invoice_" in line}
    assert rows[runs.v1[:12]][2:3] == ["1"]  # version label
    assert rows[runs.v1[:12]][-2:] == ["1", "forever"]  # runs, retention
    assert rows[runs.v2[:12]][-3:] == ["2", "30", "days"]
    assert _ok(one).out == every.out
    assert "0 contract version(s)" in _ok(none).out


def test_diff_shows_changed_keys_and_a_unified_diff(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    added = tmp_path / "v3.yaml"
    text = (runs.files / "v1.yaml").read_text()
    assert text.count("\napprovals:\n") == 1
    added.write_text(
        text.replace(
            "\napprovals:\n",
            "\napprovals:\n  - {tool: erp.fetch_po, id: po_check, reason: POs need a look.}\n",
        )
    )
    by_hash, by_file, same = proctor_all(
        [
            ["contract", "diff", runs.v1[:8], runs.v2[:8]],
            ["contract", "diff", str(runs.files / "v1.yaml"), str(added)],
            ["contract", "diff", runs.v1[:8], str(runs.files / "v1.yaml")],
        ],
        env=env,
    )
    out = _ok(by_hash).out
    assert f"3 change(s) from {runs.v1[:12]} (invoice_reconciliation v1) to {runs.v2[:12]}" in out
    for line in (
        'version: "1" -> "2"',
        "limits.max_tool_calls: 6 -> 8",
        "retention_days: null -> 30",
    ):
        assert f"  {line}" in out
    assert "-  max_tool_calls: 6\n+  max_tool_calls: 8" in out
    assert '  approvals: added {"tool":"erp.fetch_po"' in _ok(by_file).out
    assert "are the same contract" in _ok(same).out


def test_diff_names_ambiguous_unknown_and_missing_versions(runs: Home, env: dict[str, str]) -> None:
    twin = runs.v1[:6] + "0" * 58
    with closing(sqlite3.connect(runs.db)) as db:
        db.execute(
            "INSERT INTO contracts SELECT ?, workflow, version, body, retention_days, created_at "
            "FROM contracts WHERE content_hash = ?",
            (twin, runs.v1),
        )
        db.commit()
    unknown = "ffff" if not runs.v1.startswith("ffff") else "0000"
    ambiguous, missing, absent, short = proctor_all(
        [
            ["contract", "diff", runs.v1[:6], runs.v2],
            ["contract", "diff", unknown, runs.v2],
            ["contract", "diff", "nope.yaml", runs.v2],
            ["contract", "diff", "ab", runs.v2],
        ],
        env=env,
    )
    line = _one_line_error(ambiguous, 2)
    assert f"'{runs.v1[:6]}' is ambiguous" in line
    assert runs.v1[:12] in line
    assert twin[:12] in line
    assert "proctor contract versions" in _one_line_error(missing, 1)
    assert "contract file nope.yaml does not exist" in _one_line_error(absent, 2)
    assert "at least 4 hex characters" in _one_line_error(short, 2)


# --- retention ----------------------------------------------------------------------------


def test_retention_purges_only_expired_finished_runs_and_proof_survives(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    nothing = _ok(proctor("retention", "apply", "--dry-run", env=env))
    assert "would purge payloads of 0 run(s)" in nothing.out
    with closing(sqlite3.connect(runs.db)) as db:  # 31 days pass
        db.execute(
            "UPDATE runs SET started_at = started_at - 31 * 86400, "
            "finished_at = finished_at - 31 * 86400"
        )
        db.commit()
    listed_before = _ok(proctor("runs", "--json", env=env)).json()["runs"]

    dry = _ok(proctor("retention", "apply", "--dry-run", env=env))
    with closing(sqlite3.connect(runs.db)) as db:
        assert db.execute("SELECT COUNT(*) FROM events WHERE content IS NULL").fetchone() == (0,)
    applied = _ok(proctor("retention", "apply", "--workflow", "invoice_reconciliation", env=env))

    figures = re.search(r"payloads of 1 run\(s\), (\d+) events, ([\d,]+) bytes", dry.out)
    assert figures is not None, str(dry)
    assert dry.out.startswith("dry run: would purge")
    assert f"purged payloads of 1 run(s), {figures[1]} events, {figures[2]} bytes" in applied.out
    assert runs.v2[:12] in applied.out
    with closing(sqlite3.connect(runs.db)) as db:  # the search index has nothing left to do
        assert db.execute("SELECT due FROM runs_text_merge").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM runs_text_queue").fetchone() == (0,)

    page = tmp_path / "purged.html"
    verify, trace, waiting, listed, export, again = proctor_all(
        [
            ["audit", "verify"],
            ["trace", runs.expiring],
            ["trace", runs.waiting],
            ["runs", "--json"],
            ["audit", "export", runs.expiring, "-o", str(page)],
            ["retention", "apply", "--dry-run"],
        ],
        env=env,
    )
    assert "✓ 3 chain(s) verified" in _ok(verify).out
    assert "payload purged" in _ok(trace).out
    assert "policy allow" in trace.out
    assert "payload purged" not in _ok(waiting).out
    head = ("updated_at",)  # a purge moves the head to its record

    def index(runs: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in run.items() if k not in head} for run in runs]

    assert index(_ok(listed).json()["runs"]) == index(listed_before)
    _ok(export)
    assert "under retention; hash retained" in page.read_text()
    assert "would purge payloads of 0 run(s)" in _ok(again).out


# --- keyed evidence: checkpoints, public keys, rotation ------------------------------------


def test_verify_with_only_the_public_key_and_an_exported_checkpoint(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    _ok(proctor("audit", "checkpoint", "--export", str(tmp_path / "cp.json"), env=env))
    public = _ok(proctor("audit", "public-key", env=env))
    (tmp_path / "evidence.pub").write_text(public.out)
    assert "key id " in public.err
    offline = _ok(
        proctor(
            *("audit", "verify", "--public-key", str(tmp_path / "evidence.pub")),
            *("--checkpoint", str(tmp_path / "cp.json")),
            env=env,
        )
    )
    assert "✓ 3 chain(s) verified" in offline.out
    assert "MACs not" in offline.out
    assert "1 exported, all consistent" in offline.out
    # A run deleted after the checkpoint: the exported checkpoint names it.
    with closing(sqlite3.connect(runs.db)) as db:
        for table in ("events", "approvals", "runs", "checkpoint_heads"):
            db.execute(f"DELETE FROM {table} WHERE run_id = ?", (runs.expiring,))
        db.execute("DELETE FROM checkpoints")
        db.commit()
    caught = proctor(
        *("audit", "verify", "--public-key", str(tmp_path / "evidence.pub")),
        *("--checkpoint", str(tmp_path / "cp.json")),
        env=env,
    )
    assert caught.code == 1, str(caught)
    assert f"run {runs.expiring} is signed into checkpoint 0 but is not in the store" in caught.out
    assert "no longer holds exported checkpoint 0" in caught.out


def test_a_receipt_checks_offline_and_a_stranger_key_does_not_vouch(
    runs: Home, env: dict[str, str], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from proctor.store import public_pem

    receipt = tmp_path / "r.json"
    export, public = proctor_all(
        [
            ["audit", "export", runs.approved, "--format", "json", "-o", str(receipt)],
            ["audit", "public-key"],
        ],
        env=env,
    )
    _ok(export)
    (tmp_path / "evidence.pub").write_text(_ok(public).out)
    stranger = public_pem(Ed25519PrivateKey.generate().public_key())
    (tmp_path / "stranger.pub").write_bytes(stranger)
    check = ["audit", "check-receipt", str(receipt), "--public-key"]
    checked, refused, missing = proctor_all(
        [
            [*check, str(tmp_path / "evidence.pub")],
            [*check, str(tmp_path / "stranger.pub")],
            ["audit", "check-receipt", str(tmp_path / "nope.json"), "--public-key", "x.pub"],
        ],
        env=env,
    )
    assert f"✓ {runs.approved}:" in _ok(checked).out
    assert refused.code == 1, str(refused)
    assert "not trusted here" in refused.out
    assert "cannot read the receipt" in _one_line_error(missing, 2)


def test_after_a_key_rotation_old_runs_still_verify_and_new_ones_use_the_new_key(
    runs: Home, env: dict[str, str]
) -> None:
    before = _ok(proctor("audit", "public-key", env=env)).err.split()[-1]
    rotated = _ok(proctor("audit", "rotate-key", env=env))
    assert f"evidence key {before} retired" in rotated.out
    assert (runs.home / "evidence-keys" / f"{before}.pub").exists()
    # A checkpoint signed with the new key, over runs signed with the old one.
    _ok(proctor("audit", "checkpoint", env=env))
    assert "✓ 3 chain(s) verified" in _ok(proctor("audit", "verify", env=env)).out
    with closing(sqlite3.connect(runs.db)) as db:
        old = {
            sig.partition(".")[0]
            for (sig,) in db.execute("SELECT signature FROM events WHERE signature != ''")
        }
        [(new,)] = db.execute("SELECT signature FROM checkpoints").fetchall()
    assert old == {before}
    assert new.partition(".")[0] not in (before, "")
