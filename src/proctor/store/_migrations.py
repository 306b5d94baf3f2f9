"""Schema migrations: one numbered, append-only list for every backend.

Migration N brings a store from schema version N - 1 to N, on SQLite and PostgreSQL alike,
so a version number means the same tables and columns on both. Never edit a shipped
entry: add one. SQLite keeps its version in ``PRAGMA user_version``, PostgreSQL in the
``proctor_schema_version`` table of the store's schema.
"""

from __future__ import annotations

from proctor.store._migration import Migration
from proctor.store._migrations_later import LATER

FIRST: tuple[Migration, ...] = (
    # 1: runs, their hash-chained events, approvals.
    Migration(
        sqlite="""
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
        postgres="""
    CREATE TABLE runs (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        workflow TEXT NOT NULL,
        model TEXT NOT NULL,
        contract_name TEXT NOT NULL,
        contract_hash TEXT COLLATE "C" NOT NULL,
        trace_id TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        started_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        tool_calls BIGINT NOT NULL DEFAULT 0,
        model_calls BIGINT NOT NULL DEFAULT 0,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION,
        duration_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        owner TEXT NOT NULL DEFAULT '',
        workflow_ref TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_start ON runs (started_at DESC);
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at DESC);
    CREATE INDEX runs_by_status ON runs (status, started_at DESC);

    -- meta and content are orjson's text, not jsonb: the chain hash is recomputed from
    -- what is read back, and jsonb rewrites numbers (-0.0 becomes 0.0, 1.5e300 an integer)
    -- and refuses the escaped NUL character.
    CREATE TABLE events (
        run_id TEXT COLLATE "C" NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 0),
        type TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_span_id TEXT,
        meta TEXT NOT NULL,
        content TEXT,
        content_digest TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );

    -- A chain can only grow at its head: gap-free, and linked to the previous hash. The
    -- search path is fixed when the function is created, so it checks this schema's events
    -- whatever the inserting session's path is.
    CREATE FUNCTION events_extend_chain() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF NEW.seq > 0 AND NOT EXISTS (
            SELECT 1 FROM events
            WHERE run_id = NEW.run_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash
        ) THEN
            RAISE EXCEPTION 'proctor: event does not extend the chain head'
                USING ERRCODE = 'integrity_constraint_violation', TABLE = 'events',
                CONSTRAINT = 'events_extend_chain';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER events_extend_chain BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_extend_chain();

    CREATE TABLE approvals (
        approval_id TEXT COLLATE "C" PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL,
        call_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        args_digest TEXT NOT NULL,
        arguments TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_at DOUBLE PRECISION NOT NULL,
        decided_at DOUBLE PRECISION,
        decided_by TEXT,
        decision_reason TEXT
    );
    CREATE INDEX approvals_by_status ON approvals (status, requested_at);
    """,
    ),
    # 2: the response and tool-output cache (bytes by key, with an absolute expiry).
    Migration(
        sqlite="""
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    -- A purge deletes expired rows without scanning the live ones.
    CREATE INDEX cache_by_expiry ON cache (expires_at);
    """,
        postgres="""
    CREATE TABLE cache (
        key TEXT COLLATE "C" PRIMARY KEY,
        value BYTEA NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    -- A purge deletes expired rows without scanning the live ones.
    CREATE INDEX cache_by_expiry ON cache (expires_at);
    """,
    ),
    # 3: the call ledger of the OpenAI-compatible endpoint (one row per call, with its cost).
    Migration(
        sqlite="""
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
        postgres="""
    CREATE TABLE gateway_calls (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        key_name TEXT NOT NULL,
        route TEXT NOT NULL,
        deployment TEXT,
        model TEXT,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION,
        latency_ms DOUBLE PRECISION NOT NULL,
        cache_hit BOOLEAN NOT NULL DEFAULT FALSE,
        status INTEGER NOT NULL,
        error TEXT
    );
    -- A key's spend in a period is read from the index alone.
    CREATE INDEX gateway_calls_by_key ON gateway_calls (key_name, ts) INCLUDE (cost_usd);
    """,
    ),
    # 4: contract versions by content hash, and the record of what retention purged.
    Migration(
        sqlite="""
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
        postgres="""
    CREATE TABLE contracts (
        content_hash TEXT COLLATE "C" PRIMARY KEY,
        workflow TEXT NOT NULL,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        retention_days INTEGER,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX contracts_by_workflow ON contracts (workflow, created_at);
    -- Runs per contract version, and retention's join from runs to their contract.
    CREATE INDEX runs_by_contract ON runs (contract_hash);

    CREATE TABLE purges (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        purged_at DOUBLE PRECISION NOT NULL,
        events BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        reason TEXT NOT NULL
    );
    """,
    ),
    # 5: who decides an approval (a person, the checker model, or both) and its expiry.
    Migration(
        sqlite="""
    ALTER TABLE approvals ADD COLUMN approver TEXT NOT NULL DEFAULT 'human';
    ALTER TABLE approvals ADD COLUMN expires_at REAL;
    """,
        postgres="""
    ALTER TABLE approvals ADD COLUMN approver TEXT NOT NULL DEFAULT 'human';
    ALTER TABLE approvals ADD COLUMN expires_at DOUBLE PRECISION;
    """,
    ),
    # 6: `proctor eval run` results: summary columns to list by, and the result file's JSON.
    Migration(
        sqlite="""
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
        postgres="""
    CREATE TABLE eval_results (
        result_id TEXT COLLATE "C" PRIMARY KEY,
        suite TEXT NOT NULL,
        workflow TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
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
    ),
    # 7: tenants and who started each run (the HTTP API's scoping), and its API keys.
    Migration(
        sqlite="""
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
        postgres="""
    ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
    -- The runs list: a tenant's newest first, paged by (started_at, run_id).
    CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC, run_id DESC);
    ALTER TABLE eval_results ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    CREATE TABLE api_keys (
        key_id TEXT COLLATE "C" PRIMARY KEY,
        secret_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    """,
    ),
)
MIGRATIONS: tuple[Migration, ...] = (*FIRST, *LATER)

SQLITE_MIGRATIONS: tuple[str, ...] = tuple(migration.sqlite for migration in MIGRATIONS)
POSTGRES_MIGRATIONS: tuple[str, ...] = tuple(migration.postgres for migration in MIGRATIONS)
SCHEMA_VERSION = len(MIGRATIONS)
