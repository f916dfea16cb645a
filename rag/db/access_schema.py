"""Migration 6: users, collection owners and members, and the row-level security that enforces them.

Who may see what (docs/deployment.md has the operator's view):

- ``collections.owner`` and ``collection_members`` (``read`` or ``write``) decide a collection's
  readers and writers; ``documents``, ``chunks``, ``lexeme_stats`` and ``postings`` follow their
  collection.
- ``conversations`` (with their ``messages``) and ``eval_runs`` belong to the user who made them.
- ``preferences`` are the installation's: everyone reads them, only the local operator
  (:data:`rag.users.LOCAL_USER`, i.e. the CLI on the server) changes them; keys under
  ``user:<name>:`` (e.g. the last-used collection) are that user's own, to read and write.

Enforcement is PostgreSQL row-level security (RLS). Superusers and table owners bypass RLS, and the
embedded server connects as a superuser, so every connection the app lends first switches to the
NOLOGIN role ``rag_app`` (owner of nothing) and records the acting user in the setting ``app.user``
(``rag.db.access.act_as``). The policies read it through ``rag_current_user()``; an unset or empty
user sees and writes nothing. Table owners are not FORCEd under RLS on purpose: the migrations (run
as the owner) and the SECURITY DEFINER helpers below must see every row.

Write policies are per command (not ``FOR ALL``), so a SELECT, the search SQL's case, checks only
the read policy. The helpers return the readable / writable / owned collection ids as one array,
and the policies wrap them in a scalar sub-select (``= ANY ((SELECT f())::bigint[])``), so
PostgreSQL evaluates them once per statement (an InitPlan) instead of once per chunk. The helpers
are SECURITY DEFINER because a policy on ``collections`` that reads ``collection_members``, whose
own policy reads ``collections``, would recurse.

Existing rows (from before users existed) belong to the local user ``local``.
"""

from __future__ import annotations

APP_ROLE = "rag_app"
"""The role every lent connection acts as (``SET ROLE``); not a superuser and owner of no table."""

# Rows that follow their collection: read by its readers, written by its writers.
_COLLECTION_ROWS_POLICIES = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_read ON {table} FOR SELECT
    USING (collection_id = ANY ((SELECT rag_readable_collections())::bigint[]));
CREATE POLICY {table}_insert ON {table} FOR INSERT
    WITH CHECK (collection_id = ANY ((SELECT rag_writable_collections())::bigint[]));
CREATE POLICY {table}_update ON {table} FOR UPDATE
    USING (collection_id = ANY ((SELECT rag_writable_collections())::bigint[]))
    WITH CHECK (collection_id = ANY ((SELECT rag_writable_collections())::bigint[]));
CREATE POLICY {table}_delete ON {table} FOR DELETE
    USING (collection_id = ANY ((SELECT rag_writable_collections())::bigint[]));
"""

USERS_AND_ROW_LEVEL_SECURITY = (
    """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rag_app') THEN
        CREATE ROLE rag_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are per cluster: another database of this server created it at the same moment
END $$;
DO $$
BEGIN
    -- Superusers may SET ROLE to any role; an ordinary owner (DATABASE_URL) needs the membership.
    IF NOT pg_has_role(current_user, 'rag_app', 'MEMBER') THEN
        EXECUTE format('GRANT rag_app TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO rag_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO rag_app', current_schema());
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO rag_app', current_schema());
    -- Tables of later migrations too; one that holds per-user rows must enable RLS itself.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rag_app',
                   current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO rag_app', current_schema());
    -- ANALYZE after a bulk load (rag.db.documents.analyze) needs MAINTAIN, new in PostgreSQL 17; on
    -- older servers rag_app's ANALYZE is skipped with a warning and autovacuum analyzes instead.
    IF current_setting('server_version_num')::int >= 170000 THEN
        EXECUTE 'GRANT MAINTAIN ON chunks, documents, lexeme_stats, postings TO rag_app';
    END IF;
    -- Under RLS PostgreSQL uses a query's condition as an index condition only if its function is
    -- LEAKPROOF, and tsvector @@ tsquery (ts_match_vq) is not marked so: BM25 then loses the GIN
    -- index on chunks.lexemes (measured 2.2x slower on 1,500 chunks, benchmarks/rls_overhead.py).
    -- ts_match_vq only compares lexemes and raises no data-dependent error, so it is marked
    -- LEAKPROOF in this database; that takes a superuser (the embedded server, the compose image).
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF';
    END IF;
END $$;

CREATE FUNCTION rag_current_user() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user', true), '') $$;

ALTER TABLE collections ADD COLUMN owner text NOT NULL DEFAULT 'local' CHECK (owner <> '');
ALTER TABLE collections ALTER COLUMN owner SET DEFAULT rag_current_user();
CREATE INDEX collections_owner_idx ON collections (owner);

CREATE TABLE collection_members (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    member text NOT NULL CHECK (member <> ''),
    access text NOT NULL CHECK (access IN ('read', 'write')),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, member)
);
CREATE INDEX collection_members_member_idx ON collection_members (member, collection_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON collection_members TO rag_app;

ALTER TABLE conversations ADD COLUMN owner text NOT NULL DEFAULT 'local' CHECK (owner <> '');
ALTER TABLE conversations ALTER COLUMN owner SET DEFAULT rag_current_user();
DROP INDEX conversations_updated_idx;
CREATE INDEX conversations_owner_updated_idx ON conversations (owner, updated_at DESC);

ALTER TABLE eval_runs ADD COLUMN owner text NOT NULL DEFAULT 'local' CHECK (owner <> '');
ALTER TABLE eval_runs ALTER COLUMN owner SET DEFAULT rag_current_user();
CREATE INDEX eval_runs_owner_idx ON eval_runs (owner, id DESC);

-- Nobody changes who owns a row: UPDATE only on the columns the app writes.
REVOKE UPDATE ON collections, conversations, eval_runs FROM rag_app;
GRANT UPDATE (settings, chunk_count, lexeme_total, impact_avgdl) ON collections TO rag_app;
GRANT UPDATE (title, collection_id, updated_at) ON conversations TO rag_app;

CREATE FUNCTION rag_readable_collections() RETURNS bigint[] LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT AS $$
    SELECT coalesce(array_agg(id), '{}') FROM (
        SELECT id FROM collections WHERE owner = rag_current_user()
        UNION ALL
        SELECT collection_id FROM collection_members WHERE member = rag_current_user()
    ) readable $$;
CREATE FUNCTION rag_writable_collections() RETURNS bigint[] LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT AS $$
    SELECT coalesce(array_agg(id), '{}') FROM (
        SELECT id FROM collections WHERE owner = rag_current_user()
        UNION ALL
        SELECT collection_id FROM collection_members WHERE member = rag_current_user() AND access = 'write'
    ) writable $$;
CREATE FUNCTION rag_owned_collections() RETURNS bigint[] LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT AS $$
    SELECT coalesce(array_agg(id), '{}') FROM collections WHERE owner = rag_current_user() $$;

-- Creating an HNSW index takes the table owner's rights, which rag_app lacks on purpose: the app
-- asks for one through this function (rag.db.collections.ensure_vector_index).
CREATE FUNCTION rag_create_vector_index(index_name text, model text, dimension integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF index_name !~ '^chunks_hnsw_[0-9a-f]{16}$' OR dimension NOT BETWEEN 1 AND 2000 THEN
        RAISE EXCEPTION 'invalid HNSW index % for dimension %', index_name, dimension;
    END IF;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) '
                   'WHERE embedding_model = %L', index_name, dimension, model);
END $$;

ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
-- "owner = ..." too: INSERT ... ON CONFLICT checks the new row against this policy, and the
-- statement's array of readable ids predates the row.
CREATE POLICY collections_read ON collections FOR SELECT
    USING (owner = rag_current_user() OR id = ANY ((SELECT rag_readable_collections())::bigint[]));
CREATE POLICY collections_create ON collections FOR INSERT WITH CHECK (owner = rag_current_user());
CREATE POLICY collections_write ON collections FOR UPDATE
    USING (id = ANY ((SELECT rag_writable_collections())::bigint[]));
CREATE POLICY collections_delete ON collections FOR DELETE USING (owner = rag_current_user());

ALTER TABLE collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY members_read_own ON collection_members FOR SELECT USING (member = rag_current_user());
CREATE POLICY members_managed_by_owner ON collection_members FOR ALL
    USING (collection_id = ANY ((SELECT rag_owned_collections())::bigint[]))
    WITH CHECK (collection_id = ANY ((SELECT rag_owned_collections())::bigint[]));

"""
    + "".join(
        _COLLECTION_ROWS_POLICIES.format(table=table)
        for table in ("documents", "chunks", "lexeme_stats", "postings")
    )
    + """
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversations_own ON conversations FOR ALL
    USING (owner = rag_current_user()) WITH CHECK (owner = rag_current_user());

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_of_own_conversations ON messages FOR ALL
    USING (conversation_id IN (SELECT id FROM conversations))
    WITH CHECK (conversation_id IN (SELECT id FROM conversations));

ALTER TABLE eval_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY eval_runs_own ON eval_runs FOR ALL
    USING (owner = rag_current_user()) WITH CHECK (owner = rag_current_user());

ALTER TABLE preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY preferences_read ON preferences FOR SELECT
    USING (NOT starts_with(key, 'user:') OR starts_with(key, 'user:' || rag_current_user() || ':'));
CREATE POLICY preferences_set_by_operator ON preferences FOR ALL
    USING (rag_current_user() = 'local') WITH CHECK (rag_current_user() = 'local');
CREATE POLICY preferences_own_keys ON preferences FOR ALL
    USING (starts_with(key, 'user:' || rag_current_user() || ':'))
    WITH CHECK (starts_with(key, 'user:' || rag_current_user() || ':'));

REVOKE ALL ON schema_migrations FROM rag_app;
GRANT SELECT ON schema_migrations TO rag_app;
"""
)
"""Migration 6's SQL (module docstring: the design)."""
