"""Schema migrations: one numbered, append-only list. Never edit a shipped entry."""

from __future__ import annotations

SQLITE_MIGRATIONS: tuple[str, ...] = (
    # 1: runs, their hash-chained events, approvals.
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        model TEXT NOT NULL,
        contract_name TEXT NOT NULL,
        contract_hash TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        model_calls INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        duration_s REAL NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        owner TEXT NOT NULL DEFAULT '',
        workflow_ref TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_start ON runs (started_at DESC);
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at DESC);
    CREATE INDEX runs_by_status ON runs (status, started_at DESC);

    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts REAL NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_span_id TEXT,
        meta TEXT NOT NULL,
        content TEXT,
        content_digest TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;

    -- A chain can only grow at its head: gap-free, and linked to the previous hash.
    CREATE TRIGGER events_extend_chain BEFORE INSERT ON events
    WHEN NEW.seq > 0 AND NOT EXISTS (
        SELECT 1 FROM events
        WHERE run_id = NEW.run_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash
    )
    BEGIN
        SELECT RAISE(ABORT, 'proctor: event does not extend the chain head');
    END;

    CREATE TABLE approvals (
        approval_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        args_digest TEXT NOT NULL,
        arguments TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT,
        decision_reason TEXT
    );
    CREATE INDEX approvals_by_status ON approvals (status, requested_at);
    """,
    # 2: the response and tool-output cache (bytes by key, with an absolute expiry).
    """
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    -- A purge deletes expired rows without scanning the live ones.
    CREATE INDEX cache_by_expiry ON cache (expires_at);
    """,
    # 3: the call ledger of the OpenAI-compatible endpoint (one row per call, with its cost).
    """
    CREATE TABLE gateway_calls (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        key_name TEXT NOT NULL,
        route TEXT NOT NULL,
        deployment TEXT,
        model TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        latency_ms REAL NOT NULL,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        status INTEGER NOT NULL,
        error TEXT
    );
    -- A key's spend in a period is read from the index alone.
    CREATE INDEX gateway_calls_by_key ON gateway_calls (key_name, ts, cost_usd);
    """,
    # 4: contract versions by content hash, and the record of what retention purged.
    """
    CREATE TABLE contracts (
        content_hash TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        retention_days INTEGER,
        created_at REAL NOT NULL
    );
    CREATE INDEX contracts_by_workflow ON contracts (workflow, created_at);
    -- Runs per contract version, and retention's join from runs to their contract.
    CREATE INDEX runs_by_contract ON runs (contract_hash);

    CREATE TABLE purges (
        run_id TEXT PRIMARY KEY,
        purged_at REAL NOT NULL,
        events INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
    """,
    # 5: who decides an approval (a person, the checker model, or both) and its expiry.
    """
    ALTER TABLE approvals ADD COLUMN approver TEXT NOT NULL DEFAULT 'human';
    ALTER TABLE approvals ADD COLUMN expires_at REAL;
    """,
    # 6: `proctor eval run` results: summary columns to list by, and the result file's JSON.
    """
    CREATE TABLE eval_results (
        result_id TEXT PRIMARY KEY,
        suite TEXT NOT NULL,
        workflow TEXT NOT NULL,
        created_at REAL NOT NULL,
        cases INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        model TEXT,
        contract_hash TEXT,
        body TEXT NOT NULL
    );
    -- `proctor eval results SUITE` and `latest`/`previous` read a suite's newest rows.
    CREATE INDEX eval_results_by_suite ON eval_results (suite, created_at);
    """,
    # 7: tenants and who started each run (the HTTP API's scoping), and its API keys.
    """
    ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
    -- The runs list: a tenant's newest first, paged by (started_at, run_id).
    CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC, run_id DESC);
    ALTER TABLE eval_results ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
)

SCHEMA_VERSION = len(SQLITE_MIGRATIONS)
