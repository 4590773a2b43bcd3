//! The team store's schema in PostgreSQL, as numbered, append-only
//! migrations: `<schema>.schema_version` lists the ones applied. Never edit
//! or remove an entry; add a new one. Each is the body of a PL/pgSQL block
//! run once, by the store's owner; `{schema}` and `{role}` stand for the
//! quoted identifiers (see [`super::Names`]).
//!
//! What pgacct's users may do is not here but in [`ACCESS`], applied after
//! the migrations on every run, so that it always fits the current schema.

/// The advisory lock (two-key form: "pgac" in ASCII, then 1) that
/// serialises appends, so the chain stays one line across machines.
pub const APPEND_LOCK: &str = "1885823331, 1";

/// The advisory lock that serialises runs of the setup script.
pub const SETUP_LOCK: &str = "1885823331, 0";

/// Schema migrations, applied in order: migration `n` is `MIGRATIONS[n - 1]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the registry of target databases, and the audit trail with the
    // function that appends to it.
    r#"
    CREATE TABLE {schema}.targets (
        env                    text        NOT NULL,
        db                     text        NOT NULL,
        host                   text        NOT NULL,
        port                   integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
        sslmode                text        CHECK (sslmode IN
                                   ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')),
        sslnegotiation         text        CHECK (sslnegotiation IN ('postgres', 'direct')),
        sslrootcert            text,
        sslcert                text,
        sslkey                 text,
        admin_user             text,
        -- key=value;key=value, as in the local store
        labels                 text        NOT NULL DEFAULT '',
        -- the program's argv
        admin_password_command jsonb       CHECK (jsonb_typeof(admin_password_command) = 'array'),
        active                 boolean     NOT NULL DEFAULT true,
        notes                  text,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (env, db, host, port)
    );

    -- ts, actor, prev_hash and hash are set by append_audit(), never by a
    -- client; actor is the database user who wrote the record, os_user the
    -- OS user pgacct says it ran as.
    CREATE TABLE {schema}.audit (
        id          bigint      PRIMARY KEY,
        ts          timestamptz NOT NULL,
        outcome     text        NOT NULL CHECK (outcome IN ('started', 'ok', 'failed')),
        started_id  bigint,
        actor       text        NOT NULL,
        os_user     text        NOT NULL,
        host        text        NOT NULL,
        pid         bigint      NOT NULL,
        ci_job      text,
        ticket      text,
        operation   text        NOT NULL,
        env         text,
        db          text,
        cluster     text,
        role        text,
        status      text        NOT NULL,
        error       text,
        duration_ms bigint,
        sql         text,
        imported    boolean     NOT NULL DEFAULT false,
        prev_hash   text        NOT NULL,
        hash        text        NOT NULL
    );
    CREATE INDEX audit_by_started ON {schema}.audit (started_id) WHERE started_id IS NOT NULL;
    CREATE INDEX audit_failed ON {schema}.audit (id) WHERE outcome = 'failed';
    CREATE INDEX audit_by_time ON {schema}.audit (ts);
    CREATE INDEX audit_by_role ON {schema}.audit (role, ts);
    CREATE INDEX audit_by_target ON {schema}.audit (env, db, ts);
    CREATE INDEX audit_by_operation ON {schema}.audit (operation, ts);
    CREATE INDEX audit_by_actor ON {schema}.audit (actor, ts);

    -- Append-only, for the owner too: the trigger refuses changes made by
    -- mistake; the hash chain detects the ones made on purpose.
    CREATE FUNCTION {schema}.refuse_audit_change() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = pg_catalog, pg_temp
    AS $fn$
    BEGIN
        RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            USING HINT = 'pgacct audit verify detects any change made with this trigger disabled';
    END
    $fn$;
    CREATE TRIGGER audit_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON {schema}.audit
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_audit_change();

    -- One field of the canonical form: 'N' for NULL, else 'S', the length
    -- of the value's UTF-8 bytes, ':', and the bytes.
    CREATE FUNCTION {schema}.canonical_field(value text) RETURNS bytea
        LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
    AS $fn$
        SELECT CASE WHEN value IS NULL THEN convert_to('N', 'UTF8')
               ELSE convert_to('S' || octet_length(convert_to(value, 'UTF8')) || ':', 'UTF8')
                    || convert_to(value, 'UTF8')
               END
    $fn$;

    -- What a record's hash covers: the version tag, the previous hash, and
    -- every column but the hashes, in table order.
    CREATE FUNCTION {schema}.canonical(r {schema}.audit) RETURNS bytea
        LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
    AS $fn$
        SELECT {schema}.canonical_field('pgacct-team-v1')
            || {schema}.canonical_field((r).prev_hash)
            || {schema}.canonical_field((r).id::text)
            || {schema}.canonical_field(
                   to_char((r).ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
            || {schema}.canonical_field((r).outcome)
            || {schema}.canonical_field((r).started_id::text)
            || {schema}.canonical_field((r).actor)
            || {schema}.canonical_field((r).os_user)
            || {schema}.canonical_field((r).host)
            || {schema}.canonical_field((r).pid::text)
            || {schema}.canonical_field((r).ci_job)
            || {schema}.canonical_field((r).ticket)
            || {schema}.canonical_field((r).operation)
            || {schema}.canonical_field((r).env)
            || {schema}.canonical_field((r).db)
            || {schema}.canonical_field((r).cluster)
            || {schema}.canonical_field((r).role)
            || {schema}.canonical_field((r).status)
            || {schema}.canonical_field((r).error)
            || {schema}.canonical_field((r).duration_ms::text)
            || {schema}.canonical_field((r).sql)
            || {schema}.canonical_field(CASE WHEN (r).imported THEN 'true' ELSE 'false' END)
    $fn$;

    -- The only way pgacct's users write to the trail. It takes what only
    -- the client knows; the time, the writer (session_user: who logged in,
    -- whatever role is SET) and the chain are the server's. Appends queue
    -- on one advisory lock, so each reads the hash of the one before.
    CREATE FUNCTION {schema}.append_audit(
        p_outcome     text,
        p_started_id  bigint,
        p_os_user     text,
        p_host        text,
        p_pid         bigint,
        p_ci_job      text,
        p_ticket      text,
        p_operation   text,
        p_env         text,
        p_db          text,
        p_cluster     text,
        p_role        text,
        p_status      text,
        p_error       text,
        p_duration_ms bigint,
        p_sql         text,
        OUT id        bigint,
        OUT hash      text
    )
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = pg_catalog, {schema}, pg_temp
    AS $fn$
    DECLARE
        rec  {schema}.audit;
        last {schema}.audit;
    BEGIN
        PERFORM pg_advisory_xact_lock({append_lock});
        SELECT a.* INTO last FROM {schema}.audit a ORDER BY a.id DESC LIMIT 1;
        rec.id          := coalesce(last.id, 0) + 1;
        rec.ts          := clock_timestamp();
        rec.outcome     := p_outcome;
        rec.started_id  := p_started_id;
        rec.actor       := session_user;
        rec.os_user     := p_os_user;
        rec.host        := p_host;
        rec.pid         := p_pid;
        rec.ci_job      := p_ci_job;
        rec.ticket      := p_ticket;
        rec.operation   := p_operation;
        rec.env         := p_env;
        rec.db          := p_db;
        rec.cluster     := p_cluster;
        rec.role        := p_role;
        rec.status      := p_status;
        rec.error       := p_error;
        rec.duration_ms := p_duration_ms;
        rec.sql         := p_sql;
        rec.imported    := false;
        rec.prev_hash   := coalesce(last.hash, repeat('0', 64));
        rec.hash        := encode(sha256({schema}.canonical(rec)), 'hex');
        INSERT INTO {schema}.audit SELECT rec.*;
        id   := rec.id;
        hash := rec.hash;
    END
    $fn$;
    "#,
    // 2: records moved in from a local trail (`pgacct store migrate`):
    // where from (the file trail's identity), their id and hash there. A
    // record with `imported_from` hashes those three too; any other hashes
    // exactly as before, so a store of version 1 keeps verifying.
    r#"
    ALTER TABLE {schema}.audit
        ADD COLUMN imported_from text,
        ADD COLUMN imported_id   bigint,
        ADD COLUMN imported_hash text;
    CREATE UNIQUE INDEX audit_imported ON {schema}.audit (imported_from, imported_id);

    -- The same bytes as migration 1's canonical() for every record without
    -- imported_from, in one aggregate rather than 22 function calls (which
    -- cost a millisecond a record: an import of 100,000 would take minutes).
    CREATE OR REPLACE FUNCTION {schema}.canonical(r {schema}.audit) RETURNS bytea
        LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
    AS $fn$
        SELECT string_agg(
                   CASE WHEN v IS NULL THEN convert_to('N', 'UTF8')
                   ELSE convert_to('S' || octet_length(convert_to(v, 'UTF8')) || ':' || v, 'UTF8')
                   END,
                   ''::bytea ORDER BY n)
          FROM unnest(
                   ARRAY['pgacct-team-v1', (r).prev_hash, (r).id::text,
                         to_char((r).ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                         (r).outcome, (r).started_id::text, (r).actor, (r).os_user, (r).host,
                         (r).pid::text, (r).ci_job, (r).ticket, (r).operation, (r).env, (r).db,
                         (r).cluster, (r).role, (r).status, (r).error, (r).duration_ms::text,
                         (r).sql, CASE WHEN (r).imported THEN 'true' ELSE 'false' END]
                   || CASE WHEN (r).imported_from IS NULL THEN ARRAY[]::text[]
                      ELSE ARRAY[(r).imported_from, (r).imported_id::text, (r).imported_hash]
                      END)
               WITH ORDINALITY AS f(v, n)
    $fn$;

    -- Moves a batch of a local trail's records in, in the file's id order,
    -- after the last record, under append_audit's lock: the server chains
    -- them. Their time, actor (the file's OS user, as os_user too), host,
    -- pid and the rest are the file's: imported records are marked, not
    -- attested. A record imported before (same p_from and id) is skipped
    -- when its hash is the same, and refused when not. Not granted to the
    -- users' role: the store's owner runs it (`pgacct store migrate`).
    CREATE FUNCTION {schema}.import_audit(
        p_from        text,
        p_id          bigint[],
        p_ts          text[],
        p_outcome     text[],
        p_started_id  bigint[],
        p_actor       text[],
        p_host        text[],
        p_pid         bigint[],
        p_ci_job      text[],
        p_ticket      text[],
        p_operation   text[],
        p_env         text[],
        p_db          text[],
        p_cluster     text[],
        p_role        text[],
        p_status      text[],
        p_error       text[],
        p_duration_ms bigint[],
        p_sql         text[],
        p_hash        text[],
        OUT imported  integer,
        OUT already   integer
    )
        LANGUAGE plpgsql
        SET search_path = pg_catalog, {schema}, pg_temp
    AS $fn$
    DECLARE
        n        integer := coalesce(array_length(p_id, 1), 0);
        f        record;
        rec      {schema}.audit;
        last     {schema}.audit;
        seen     bigint;
        before   bigint;
        found_id bigint;
        found    text;
    BEGIN
        IF p_from IS NULL THEN
            RAISE EXCEPTION 'import_audit: no trail identity given';
        END IF;
        IF EXISTS (SELECT FROM unnest(ARRAY[
                array_length(p_ts, 1), array_length(p_outcome, 1), array_length(p_started_id, 1),
                array_length(p_actor, 1), array_length(p_host, 1), array_length(p_pid, 1),
                array_length(p_ci_job, 1), array_length(p_ticket, 1),
                array_length(p_operation, 1), array_length(p_env, 1), array_length(p_db, 1),
                array_length(p_cluster, 1), array_length(p_role, 1), array_length(p_status, 1),
                array_length(p_error, 1), array_length(p_duration_ms, 1), array_length(p_sql, 1),
                array_length(p_hash, 1)]) AS l WHERE coalesce(l, 0) <> n) THEN
            RAISE EXCEPTION 'import_audit: the arrays differ in length';
        END IF;
        imported := 0;
        already  := 0;
        PERFORM pg_advisory_xact_lock({append_lock});
        SELECT max(a.imported_id) INTO seen FROM {schema}.audit a WHERE a.imported_from = p_from;
        SELECT a.* INTO last FROM {schema}.audit a ORDER BY a.id DESC LIMIT 1;
        -- One pass over the arrays: subscripting them would walk each one
        -- from its start for every record.
        FOR f IN
            SELECT * FROM unnest(p_id, p_ts, p_outcome, p_started_id, p_actor, p_host, p_pid,
                                 p_ci_job, p_ticket, p_operation, p_env, p_db, p_cluster,
                                 p_role, p_status, p_error, p_duration_ms, p_sql, p_hash)
                AS u(id, ts, outcome, started_id, actor, host, pid, ci_job, ticket, operation,
                     env, db, cluster, role, status, error, duration_ms, sql, hash)
        LOOP
            IF f.id <= before THEN
                RAISE EXCEPTION 'import_audit: record #% comes after record #%, out of order',
                        f.id, before;
            END IF;
            before := f.id;
            IF f.id <= seen THEN
                SELECT a.id, a.imported_hash INTO found_id, found
                  FROM {schema}.audit a
                 WHERE a.imported_from = p_from AND a.imported_id = f.id;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'import_audit: record #% of % is missing from the store, '
                                    'which holds later ones', f.id, p_from;
                END IF;
                IF found IS DISTINCT FROM f.hash THEN
                    RAISE EXCEPTION 'record #% of % differs from the one imported as record #%',
                            f.id, p_from, found_id;
                END IF;
                already := already + 1;
                CONTINUE;
            END IF;
            rec.id          := coalesce(last.id, 0) + 1;
            rec.ts          := f.ts::timestamptz;
            rec.outcome     := f.outcome;
            rec.started_id  := NULL;
            IF f.started_id IS NOT NULL THEN
                SELECT a.id INTO rec.started_id
                  FROM {schema}.audit a
                 WHERE a.imported_from = p_from AND a.imported_id = f.started_id;
                IF rec.started_id IS NULL THEN
                    RAISE EXCEPTION 'import_audit: record #% answers record #%, which is not in the store',
                            f.id, f.started_id;
                END IF;
            END IF;
            rec.actor       := f.actor;
            rec.os_user     := f.actor;
            rec.host        := f.host;
            rec.pid         := f.pid;
            rec.ci_job      := f.ci_job;
            rec.ticket      := f.ticket;
            rec.operation   := f.operation;
            rec.env         := f.env;
            rec.db          := f.db;
            rec.cluster     := f.cluster;
            rec.role        := f.role;
            rec.status      := f.status;
            rec.error       := f.error;
            rec.duration_ms := f.duration_ms;
            rec.sql         := f.sql;
            rec.imported    := true;
            rec.imported_from := p_from;
            rec.imported_id   := f.id;
            rec.imported_hash := f.hash;
            rec.prev_hash   := coalesce(last.hash, repeat('0', 64));
            rec.hash        := encode(sha256({schema}.canonical(rec)), 'hex');
            INSERT INTO {schema}.audit SELECT rec.*;
            last := rec;
            imported := imported + 1;
        END LOOP;
    END
    $fn$;
    "#,
];

/// What pgacct's users may do, granted to `{role}` (created NOLOGIN when
/// missing; refused when it can log in or is a superuser, which would hold
/// more than this) after the migrations, on every run: read the schema version;
/// read and change the registry; read the trail and append to it through
/// `append_audit` only. Everything else is revoked first, so the role holds
/// exactly this, and owns nothing.
pub const ACCESS: &str = r"
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {role_literal}) THEN
        CREATE ROLE {role} NOLOGIN;
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles
                  WHERE rolname = {role_literal} AND (rolcanlogin OR rolsuper)) THEN
        RAISE EXCEPTION 'role % can log in or is a superuser: pgacct''s users get a NOLOGIN role',
                {role_literal}
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'name another role with --role, or ALTER ROLE ... NOLOGIN';
    END IF;
    REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}, PUBLIC;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {role}, PUBLIC;
    REVOKE ALL ON SCHEMA {schema} FROM {role}, PUBLIC;
    GRANT USAGE ON SCHEMA {schema} TO {role};
    GRANT SELECT ON {schema}.schema_version TO {role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.targets TO {role};
    GRANT SELECT ON {schema}.audit TO {role};
    GRANT EXECUTE ON FUNCTION {schema}.append_audit(
        text, bigint, text, text, bigint, text, text, text,
        text, text, text, text, text, text, bigint, text) TO {role};
";
