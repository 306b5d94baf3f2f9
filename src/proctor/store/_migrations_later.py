"""Migrations 8 on: the run queue, API key holders, UI sessions, keyed evidence, sealed
payloads, budgets, the delivery log, run sessions and search, single sign-on sessions, the
indexes of reports and filters, approvals' pages, trigram search on PostgreSQL and on
SQLite, run ids found in any case
(``_migrations`` has 1 to 7 and the rules)."""

from __future__ import annotations

from proctor.store._migration import Migration
from proctor.store._rollup_sql import MIGRATION as ROLLUP_MIGRATION
from proctor.store._text_index import MIGRATION as TEXT_INDEX_MIGRATION

_APPROVAL_PAGES = """
    DROP INDEX approvals_by_status;
    CREATE INDEX approvals_by_status ON approvals (status, requested_at, approval_id);
    CREATE INDEX approvals_by_request ON approvals (requested_at, approval_id);
    DROP INDEX approvals_by_decision;
    CREATE INDEX approvals_by_decision ON approvals (decided_at, approval_id)
        WHERE decided_at IS NOT NULL;
"""
"""Migration 21, the same on both backends."""

LATER: tuple[Migration, ...] = (
    # 8: the run queue (`proctor submit`, `proctor worker`): leases, priorities, attempts.
    Migration(
        sqlite="""
    CREATE TABLE run_queue (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        tenant TEXT NOT NULL DEFAULT 'default',
        input TEXT NOT NULL,
        model TEXT,
        submitted_by TEXT NOT NULL DEFAULT '',
        priority INTEGER NOT NULL DEFAULT 0,
        submitted_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'claimed', 'waiting', 'done')),
        worker TEXT,
        lease_until REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        finished_at REAL
    );
    -- Claiming reads the claimable states, highest priority first, then oldest.
    CREATE INDEX run_queue_claim ON run_queue (state, priority DESC, submitted_at);
    """,
        postgres="""
    CREATE TABLE run_queue (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        workflow TEXT NOT NULL,
        tenant TEXT NOT NULL DEFAULT 'default',
        input TEXT NOT NULL,
        model TEXT,
        submitted_by TEXT NOT NULL DEFAULT '',
        priority INTEGER NOT NULL DEFAULT 0,
        submitted_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'claimed', 'waiting', 'done')),
        worker TEXT,
        lease_until DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        finished_at DOUBLE PRECISION
    );
    -- Claiming reads the claimable states, highest priority first, then oldest.
    CREATE INDEX run_queue_claim ON run_queue (state, priority DESC, submitted_at);
    """,
    ),
    # 9: who holds each API key (separation of duties by identity, not by key name).
    Migration(
        sqlite="""
    ALTER TABLE api_keys ADD COLUMN holder TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    """,
        postgres="""
    ALTER TABLE api_keys ADD COLUMN holder TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    """,
    ),
    # 10: the web UI's sessions, so signing out ends one for good.
    Migration(
        sqlite="""
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ended_at REAL
    );
    -- Saving a session deletes the expired ones without scanning the live ones.
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
    """,
        postgres="""
    CREATE TABLE sessions (
        session_id TEXT COLLATE "C" PRIMARY KEY,
        key_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION
    );
    -- Saving a session deletes the expired ones without scanning the live ones.
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
    """,
    ),
    # 11: keyed and signed evidence: the MAC closing each commit, the signature of the heads
    # that decide, and the store's signed checkpoints (a Merkle root over every run's head).
    Migration(
        sqlite="""
    ALTER TABLE events ADD COLUMN mac TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN signature TEXT NOT NULL DEFAULT '';
    CREATE TABLE checkpoints (
        seq INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        runs INTEGER NOT NULL,
        root TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    -- Each run's head as the latest checkpoint signed it (the Merkle tree's leaves).
    CREATE TABLE checkpoint_heads (
        run_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        checkpoint INTEGER NOT NULL
    );
    """,
        postgres="""
    ALTER TABLE events ADD COLUMN mac TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN signature TEXT NOT NULL DEFAULT '';
    CREATE TABLE checkpoints (
        seq INTEGER PRIMARY KEY,
        created_at DOUBLE PRECISION NOT NULL,
        runs INTEGER NOT NULL,
        root TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    -- Each run's head as the latest checkpoint signed it (the Merkle tree's leaves).
    CREATE TABLE checkpoint_heads (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        checkpoint INTEGER NOT NULL
    );
    """,
    ),
    # 12: sealed payloads: each event's raw values encrypted under its run's data key, and
    # the runs' data keys, wrapped by the store's master key (retention deletes them).
    Migration(
        sqlite="""
    ALTER TABLE events ADD COLUMN sealed TEXT NOT NULL DEFAULT '';
    CREATE TABLE run_keys (
        run_id TEXT PRIMARY KEY,
        wrapped TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
        postgres="""
    ALTER TABLE events ADD COLUMN sealed TEXT NOT NULL DEFAULT '';
    CREATE TABLE run_keys (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        wrapped TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """,
    ),
    # 13: budgets that hold under concurrency: each API key's spend per UTC day (kept with
    # the call ledger, in the same transactions) and the holds of calls still in flight.
    Migration(
        sqlite="""
    CREATE TABLE gateway_spend (
        key_name TEXT NOT NULL,
        day REAL NOT NULL,
        cost_usd REAL NOT NULL,
        PRIMARY KEY (key_name, day)
    ) WITHOUT ROWID;
    INSERT INTO gateway_spend (key_name, day, cost_usd)
        SELECT key_name, CAST(ts / 86400 AS INTEGER) * 86400.0, SUM(cost_usd)
        FROM gateway_calls WHERE cost_usd IS NOT NULL GROUP BY 1, 2;
    CREATE TABLE gateway_holds (
        hold_id TEXT PRIMARY KEY,
        key_name TEXT NOT NULL,
        amount_usd REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX gateway_holds_by_key ON gateway_holds (key_name, expires_at, amount_usd);
    """,
        postgres="""
    CREATE TABLE gateway_spend (
        key_name TEXT NOT NULL,
        day DOUBLE PRECISION NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (key_name, day)
    );
    INSERT INTO gateway_spend (key_name, day, cost_usd)
        SELECT key_name, floor(ts / 86400) * 86400, SUM(cost_usd)
        FROM gateway_calls WHERE cost_usd IS NOT NULL GROUP BY 1, 2;
    CREATE TABLE gateway_holds (
        hold_id TEXT COLLATE "C" PRIMARY KEY,
        key_name TEXT NOT NULL,
        amount_usd DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX gateway_holds_by_key ON gateway_holds (key_name, expires_at) INCLUDE (amount_usd);
    """,
    ),
    # 14: the call ledger's token details (cache reads and writes, reasoning), for usage.
    Migration(
        sqlite="""
    ALTER TABLE gateway_calls ADD COLUMN cached_input_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE gateway_calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE gateway_calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
    """,
        postgres="""
    ALTER TABLE gateway_calls ADD COLUMN cached_input_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE gateway_calls ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE gateway_calls ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
    """,
    ),
    # 15: the notification delivery log: each attempt to tell people about an approval,
    # its decision or an escalated run. An attempt is claimed (inserted) before it is made,
    # and its (subject, channel, attempt) is unique: of several processes announcing, one
    # sends. Decisions are read by when they were made.
    Migration(
        sqlite="""
    CREATE TABLE notification_deliveries (
        delivery_id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        next_at REAL
    );
    CREATE UNIQUE INDEX notification_deliveries_by_subject
        ON notification_deliveries (subject_id, channel, attempt);
    CREATE INDEX approvals_by_decision ON approvals (decided_at) WHERE decided_at IS NOT NULL;
    """,
        postgres="""
    CREATE TABLE notification_deliveries (
        delivery_id TEXT COLLATE "C" PRIMARY KEY,
        subject_id TEXT COLLATE "C" NOT NULL,
        channel TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        ok BOOLEAN NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        next_at DOUBLE PRECISION
    );
    CREATE UNIQUE INDEX notification_deliveries_by_subject
        ON notification_deliveries (subject_id, channel, attempt);
    CREATE INDEX approvals_by_decision ON approvals (decided_at) WHERE decided_at IS NOT NULL;
    """,
    ),
    # 16: runs that find things: each run's session key (runs of one conversation, read
    # together; not a UI sign-in session), and the text search reads (the redacted input
    # and answer, cut short, and the tools proposed). Runs recorded before keep ''.
    Migration(
        sqlite="""
    ALTER TABLE runs ADD COLUMN session TEXT;
    ALTER TABLE runs ADD COLUMN input_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN answer_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN tools_used TEXT NOT NULL DEFAULT '';
    ALTER TABLE run_queue ADD COLUMN session TEXT;
    -- A session's runs in start order (partial: most runs have no session).
    CREATE INDEX runs_by_session ON runs (session, started_at, run_id)
        WHERE session IS NOT NULL;
    -- The list's other orders, read a page at a time (an unknown cost sorts as -1).
    CREATE INDEX runs_by_cost ON runs (tenant, COALESCE(cost_usd, -1.0), run_id);
    CREATE INDEX runs_by_duration ON runs (tenant, duration_s, run_id);
    CREATE INDEX runs_by_tenant_status ON runs (tenant, status, started_at, run_id);
    -- SQLite plans from sqlite_stat1 where it exists: one written before these indexes
    -- would leave them unmeasured, and the newest-first list could take one of them and
    -- sort the tenant's runs. (An empty table records nothing, as before.)
    ANALYZE runs;
    """,
        postgres="""
    ALTER TABLE runs ADD COLUMN session TEXT COLLATE "C";
    ALTER TABLE runs ADD COLUMN input_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN answer_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN tools_used TEXT NOT NULL DEFAULT '';
    ALTER TABLE run_queue ADD COLUMN session TEXT;
    -- A session's runs in start order (partial: most runs have no session).
    CREATE INDEX runs_by_session ON runs (session, started_at, run_id)
        WHERE session IS NOT NULL;
    -- The list's other orders, read a page at a time (an unknown cost sorts as -1).
    CREATE INDEX runs_by_cost ON runs (tenant, COALESCE(cost_usd, -1.0), run_id);
    CREATE INDEX runs_by_duration ON runs (tenant, duration_s, run_id);
    CREATE INDEX runs_by_tenant_status ON runs (tenant, status, started_at, run_id);
    """,
    ),
    # 17: single sign-on sessions name the person (issuer and subject), not an API key.
    Migration(
        sqlite="""
    ALTER TABLE sessions ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN subject TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
    """,
        postgres="""
    ALTER TABLE sessions ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN subject TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
    """,
    ),
    # 18: the outcome report sums a window's runs from an index that holds every column
    # it reads (never the rows, with their search text), and counts escalations by
    # trigger through a partial index of the few escalated events, not every event. A page
    # of runs finds the approvals its runs wait for by run, not among every pending one.
    Migration(
        sqlite="""
    CREATE INDEX runs_report ON runs (tenant, started_at, status, outcome, cost_usd,
        tool_calls, duration_s, workflow, model, contract_hash);
    CREATE INDEX events_escalated ON events (run_id) WHERE type = 'escalated';
    CREATE INDEX approvals_by_run ON approvals (run_id, status);
    ANALYZE runs;
    """,
        postgres="""
    CREATE INDEX runs_report ON runs (tenant, started_at) INCLUDE (status, outcome,
        cost_usd, tool_calls, duration_s, workflow, model, contract_hash);
    CREATE INDEX events_escalated ON events (run_id) WHERE type = 'escalated';
    CREATE INDEX approvals_by_run ON approvals (run_id, status);
    """,
    ),
    # 19: the outcome report's sums kept per UTC day as runs change, by triggers (SQLite;
    # see _rollup_sql), filled from the runs already stored. PostgreSQL scans instead.
    Migration(sqlite=ROLLUP_MIGRATION, postgres="SELECT 1;"),
    # 20: the runs list filtered by outcome or workflow reads a page, and its totals (the
    # newest 10,000), through an index of its own in start order, as a status filter
    # does, not every run of the tenant until enough match. The indexes that read a
    # list in start order are made again with the totals' figures and the run id (the
    # order's last column): the totals read those indexes alone, never the rows (3 ms at
    # a million runs, not 37 for a tenant or 260 for `proctor runs`, every tenant's).
    Migration(
        sqlite="""
    DROP INDEX runs_by_start;
    CREATE INDEX runs_by_start ON runs (started_at DESC, run_id DESC,
        cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_status;
    CREATE INDEX runs_by_status ON runs (status, started_at DESC, run_id DESC,
        cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_workflow;
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at DESC, run_id DESC,
        cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_outcome ON runs (outcome, started_at, run_id,
        cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_tenant;
    CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC, run_id DESC,
        cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_tenant_status;
    CREATE INDEX runs_by_tenant_status ON runs (tenant, status, started_at, run_id,
        cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_tenant_outcome ON runs (tenant, outcome, started_at, run_id,
        cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_tenant_workflow ON runs (tenant, workflow, started_at, run_id,
        cost_usd, input_tokens, output_tokens);
    -- Measured with the others where statistics exist (see migration 16).
    ANALYZE runs;
    """,
        postgres="""
    DROP INDEX runs_by_start;
    CREATE INDEX runs_by_start ON runs (started_at DESC, run_id DESC)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_status;
    CREATE INDEX runs_by_status ON runs (status, started_at DESC, run_id DESC)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_workflow;
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at DESC, run_id DESC)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_outcome ON runs (outcome, started_at, run_id)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_tenant;
    CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC, run_id DESC)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    DROP INDEX runs_by_tenant_status;
    CREATE INDEX runs_by_tenant_status ON runs (tenant, status, started_at, run_id)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_tenant_outcome ON runs (tenant, outcome, started_at, run_id)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    CREATE INDEX runs_by_tenant_workflow ON runs (tenant, workflow, started_at, run_id)
        INCLUDE (cost_usd, input_tokens, output_tokens);
    """,
    ),
    # 21: approvals are listed a page at a time, in request order or latest decision
    # first, each page after the last one's (time, approval id): indexes in those orders
    # with the id, for a status, for every status, and for the decided.
    Migration(sqlite=_APPROVAL_PAGES, postgres=_APPROVAL_PAGES),
    # 22: PostgreSQL finds the runs a search names through trigram indexes (pg_trgm's GIN
    # on the input, answer and tools text), where the extension can be had: a rare word is
    # then a few index reads, not ILIKE over every run of the tenant. The extension is
    # database-wide: it goes to schema public, not the store's own (dropping a store's
    # schema must not drop the indexes of another). Without it (not installed, or not
    # allowed) the search scans, as before. SQLite scans: see docs/benchmarks.md.
    Migration(
        sqlite="SELECT 1;",
        postgres="""
    DO $$
    DECLARE
        home TEXT;
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'proctor: no pg_trgm (%), so the run search scans', SQLERRM;
            END;
        END IF;
        SELECT n.nspname INTO home FROM pg_extension e
            JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
        IF home IS NOT NULL THEN
            -- All three or none (the search needs each of its columns indexed), and a
            -- schema of the extension's that this role may not use is no failure.
            BEGIN
                EXECUTE format('CREATE INDEX runs_search_input ON runs '
                    'USING gin (input_text %s.gin_trgm_ops)', quote_ident(home));
                EXECUTE format('CREATE INDEX runs_search_answer ON runs '
                    'USING gin (answer_text %s.gin_trgm_ops)', quote_ident(home));
                EXECUTE format('CREATE INDEX runs_search_tools ON runs '
                    'USING gin (tools_used %s.gin_trgm_ops)', quote_ident(home));
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'proctor: no search indexes (%), so the run search scans',
                    SQLERRM;
            END;
        END IF;
    END
    $$;
    """,
    ),
    # 23: SQLite finds the runs a search names through an FTS5 trigram index that a
    # thread keeps in step from a queue the runs' triggers fill (store._text_index); a
    # SQLite library without the trigram tokenizer gets nothing (SQLiteStore._migrate)
    # and the search reads the runs. PostgreSQL has pg_trgm (22).
    Migration(sqlite=TEXT_INDEX_MIGRATION, postgres="SELECT 1;"),
    # 24: a search word that begins a run id finds it in any case, as it does the input,
    # answer and tools (SQLite's LIKE ignores ASCII case already; PostgreSQL's LIKE did
    # not): PostgreSQL matches lower(run_id), served by an index of its own.
    Migration(
        sqlite="SELECT 1;",
        postgres="CREATE INDEX runs_by_lower_id ON runs (lower(run_id) text_pattern_ops);",
    ),
)
