"""Migration 8: background ingestion jobs (``ingest_jobs``, ``ingest_job_inputs``) and procrastinate's schema.

- ``ingest_jobs`` is this app's record of one file to ingest: who asked (``owner``), into which
  collection, its stage (``queued`` -> ``parsing`` -> ``chunking`` -> ``embedding`` -> ``storing`` ->
  ``done`` | ``failed`` | ``cancelled``), counts, timings, the error message and the id of the
  procrastinate job that carries it. The UI and ``rag jobs`` read only this table.
- ``ingest_job_inputs`` holds the uploaded bytes, so a worker on any machine can read them; the row is
  deleted when the job is done or cancelled (a failed job keeps it, so Retry needs no re-upload).
- procrastinate's own tables and functions (``procrastinate_jobs``, ``procrastinate_workers``...) are
  applied here from the SQL the package ships (``procrastinate.schema.SchemaManager.get_schema``), so
  they are recorded in ``schema_migrations`` like every other schema step. They hold no user data
  (only ``{"job_id": n}``) and are used by the worker's own connection, not through ``rag_app``.

Row-level security as in migration 6: a user sees, cancels and retries only its own jobs. A worker
acts as the job's owner; it learns who that is through ``rag_ingest_job_owner`` (SECURITY DEFINER),
the one thing it may read before acting as someone.
"""

from __future__ import annotations

from procrastinate.schema import SchemaManager

JOB_STAGES = ("queued", "parsing", "chunking", "embedding", "storing", "done", "failed", "cancelled")
"""Every stage of an ingest job, in order; the last three end it."""

_JOBS_SQL = """
CREATE TABLE ingest_jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text NOT NULL DEFAULT rag_current_user() CHECK (owner <> ''),
    collection text NOT NULL,
    source_name text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    sha256 text NOT NULL,
    stage text NOT NULL DEFAULT 'queued' CHECK (stage IN
        ('queued', 'parsing', 'chunking', 'embedding', 'storing', 'done', 'failed', 'cancelled')),
    options jsonb NOT NULL DEFAULT '{}'::jsonb,
    pages_done integer NOT NULL DEFAULT 0,
    pages_total integer NOT NULL DEFAULT 0,
    documents_done integer NOT NULL DEFAULT 0,
    chunks_done integer NOT NULL DEFAULT 0,
    chunks_total integer,
    embedded integer NOT NULL DEFAULT 0,
    outcome text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    queue_job_id bigint,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_jobs_owner_idx ON ingest_jobs (owner, id DESC);
CREATE INDEX ingest_jobs_open_idx ON ingest_jobs (collection, sha256) WHERE finished_at IS NULL;

CREATE TABLE ingest_job_inputs (
    job_id bigint PRIMARY KEY REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    data bytea NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ingest_jobs TO rag_app;
GRANT SELECT, INSERT, DELETE ON ingest_job_inputs TO rag_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rag_app;
-- Nobody changes who owns a job.
REVOKE UPDATE ON ingest_jobs FROM rag_app;
GRANT UPDATE (stage, pages_done, pages_total, documents_done, chunks_done, chunks_total, embedded, outcome,
              error, attempts, queue_job_id, cancel_requested, started_at, finished_at, updated_at)
    ON ingest_jobs TO rag_app;

ALTER TABLE ingest_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY ingest_jobs_own ON ingest_jobs FOR ALL
    USING (owner = rag_current_user()) WITH CHECK (owner = rag_current_user());

ALTER TABLE ingest_job_inputs ENABLE ROW LEVEL SECURITY;
CREATE POLICY ingest_job_inputs_own ON ingest_job_inputs FOR ALL
    USING (job_id IN (SELECT id FROM ingest_jobs)) WITH CHECK (job_id IN (SELECT id FROM ingest_jobs));

CREATE FUNCTION rag_ingest_job_owner(job bigint) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT AS $$ SELECT owner FROM ingest_jobs WHERE id = job $$;
"""

JOBS_SCHEMA = _JOBS_SQL + SchemaManager.get_schema()
"""Migration 8's SQL (module docstring: the design)."""
