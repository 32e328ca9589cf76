"""sql functions: the v2 contract's PostgreSQL functions (002 section 4) and analytics views

For trusted components with direct database access (002 section 5.3-5.4):

- ``register_project(p_name, p_remote_origin, p_default_branch, p_trunk_path, p_metadata)``
- ``register_worktree(p_project_id, p_type_name, p_name, p_branch_name, p_path, p_agent_id,
  p_metadata)``
- ``update_worktree_git_state(p_worktree_id, p_has_uncommitted, p_uncommitted_count, p_ahead,
  p_behind, p_last_commit_hash, p_last_commit_message)``
- ``get_inflight_work(p_project_id)``
- ``log_activity(p_agent_id, p_worktree_id, p_activity_type, p_description, p_file_path,
  p_metadata)``
- views ``v_projects_summary``, ``v_inflight_work``, ``v_work_items_with_links``,
  ``v_trace_edges``.

Each function keeps the service's rules (the same input bounds as the API, origin
normalization, idempotent registration, branch/worktree-name/path checks, ticket auto-linking,
stale git reports ignored) and writes the same outbox events in the same transaction (v3 names,
and the v2 names unless ``imi.publish_v2_events`` is off: the GUC mirrors
``IMI_PUBLISH_V2_EVENTS``), so the relay publishes them and the NOTIFY trigger (0002) fires.
Errors are raised with SQLSTATE 22023 (VALIDATION_ERROR), P0002 (NOT_FOUND), 23505 (duplicate:
CONFLICT) or 55000 (illegal state: CONFLICT); the error's COLUMN names the field and its DETAIL
is ``{"code": ..., "field": ...}``.

Two implementations of one rule: origin normalization (``imi.projects.origin``), credential
stripping and the envelope (``imi.outbox.envelope.build_envelope``) exist in Python and here.
``tests/sql/test_parity.py`` checks them against each other over the origin test cases and
Hypothesis-generated origins; a change to either side fails it until the other follows (in a
new migration: this one is frozen). ``imi_normalize_remote_origin`` is the whole rule (0003 only
dropped ``www.`` from stored values), including urlsplit's corners (C0 prefixes, brackets, NFKC).

What SQL parameters cannot say: NULL means "keep" in ``update_worktree_git_state`` (REST's
explicit null clears ``last_commit_hash``/``message``) and "derive it" for ``register_worktree``'s
``p_name``; the git report's ``last_sync_at`` is the call's time. Metadata size is measured on
jsonb's text (json.dumps spacing; numbers may print differently). Payload times read ``+00:00``
where the service writes ``Z``.

SECURITY INVOKER (the default) throughout, and the views are ``security_invoker`` (PostgreSQL
15+): a caller's privileges and row-level security (0005) apply, so ``imi_scoped`` sees and
writes only its projects through them as through the tables. The write functions (and
``imi_emit``) are revoked from PUBLIC and granted to ``imi_scoped`` (the service's own user owns
them); ``imi_readonly`` gets SELECT on the views and EXECUTE on ``get_inflight_work`` only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Python's str.isspace() characters: what ``str.strip()`` removes and ``\s`` matches.
PY_WHITESPACE = (
    *(0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680),
    *range(0x2000, 0x200B),
    *(0x2028, 0x2029, 0x202F, 0x205F, 0x3000),
)
WHITESPACE_LITERAL = "E'" + "".join(f"\\u{c:04x}" for c in PY_WHITESPACE) + "'"

# Placeholders filled at upgrade time: @WS@ (the whitespace characters), @LOWER@ (the collation
# for Python-like lower-casing), @INVOKER@ (security_invoker on PostgreSQL 15+).
HELPERS = [
    r"""
    CREATE FUNCTION imi_py_whitespace() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT @WS@::text $$
    """,
    # str.strip(): NULL stays NULL.
    r"""
    CREATE FUNCTION imi_py_strip(p_value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT btrim(p_value, imi_py_whitespace()) $$
    """,
    # Raise an iMi error: code is VALIDATION_ERROR, NOT_FOUND or CONFLICT (duplicate or state).
    r"""
    CREATE FUNCTION imi_raise(p_code text, p_field text, p_message text, p_hint text DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        v_state text := CASE p_code WHEN 'VALIDATION_ERROR' THEN '22023'
            WHEN 'NOT_FOUND' THEN 'P0002' WHEN 'DUPLICATE' THEN '23505' ELSE '55000' END;
        v_detail text := jsonb_build_object(
            'code', CASE WHEN p_code IN ('DUPLICATE', 'STATE') THEN 'CONFLICT' ELSE p_code END,
            'field', p_field)::text;
    BEGIN
        IF p_hint IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = p_message,
                COLUMN = coalesce(p_field, ''), DETAIL = v_detail;
        END IF;
        RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = p_message,
            COLUMN = coalesce(p_field, ''), DETAIL = v_detail, HINT = p_hint;
    END $$
    """,
    # The API's text bounds (imi.models_base: names/ids 255, paths 1024, urls 2000, text 10000
    # characters; indexed values 2000 bytes). NULL passes: required fields are checked apart.
    r"""
    CREATE FUNCTION imi_check_text(p_value text, p_field text, p_max integer,
                                   p_max_bytes integer DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        IF p_value IS NOT NULL AND length(p_value) > p_max THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('%s must be at most %s characters', p_field, p_max));
        END IF;
        IF p_value IS NOT NULL AND p_max_bytes IS NOT NULL
           AND octet_length(p_value) > p_max_bytes THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('%s must be at most %s bytes in UTF-8', p_field, p_max_bytes));
        END IF;
    END $$
    """,
    r"""
    CREATE FUNCTION imi_require(p_value anyelement, p_field text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        IF p_value IS NULL THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field, format('%s is required', p_field));
        END IF;
    END $$
    """,
    # Metadata (imi.models_base.check_metadata): an object, at most 32 levels deep, at most
    # 65536 bytes as JSON (measured on jsonb's text, which spaces like json.dumps). jsonb
    # already refuses NUL characters, lone surrogates and non-finite numbers.
    r"""
    CREATE FUNCTION imi_check_metadata(p_value jsonb, p_field text DEFAULT 'metadata')
    RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v_depth integer;
    BEGIN
        IF p_value IS NULL OR jsonb_typeof(p_value) <> 'object' THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field, p_field || ' must be a JSON object');
        END IF;
        WITH RECURSIVE walk(v, d) AS (
            SELECT p_value, 1
            UNION ALL
            SELECT c.v, walk.d + 1 FROM walk, LATERAL (
                SELECT e.value FROM jsonb_each(CASE WHEN jsonb_typeof(walk.v) = 'object'
                                                    THEN walk.v END) AS e
                UNION ALL
                SELECT a.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(walk.v) = 'array'
                                                              THEN walk.v END) AS a
            ) AS c(v)
            WHERE walk.d <= 32
        )
        SELECT max(d) INTO v_depth FROM walk;
        IF v_depth > 32 THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                'metadata nests deeper than 32 levels');
        END IF;
        IF octet_length(p_value::text) > 65536 THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                'metadata must be at most 65536 bytes as JSON');
        END IF;
    END $$
    """,
    # _clean_path of imi.projects.origin.
    r"""
    CREATE FUNCTION imi_origin_path(p_origin text, p_path text, p_lower boolean) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v text := btrim(regexp_replace(p_path, '/{2,}', '/', 'g'), '/');
    BEGIN
        IF right(v, 4) = '.git' THEN
            v := rtrim(left(v, length(v) - 4), '/');
        END IF;
        IF v = '' OR string_to_array(v, '/') && ARRAY['.', '..'] THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin',
                format('Invalid remote origin %L: missing or invalid repository path',
                       left(p_origin, 200)));
        END IF;
        RETURN CASE WHEN p_lower THEN lower(v@LOWER@) ELSE v END;
    END $$
    """,
    # urllib.parse.urlsplit as Python 3.11 does it (C0/space stripped in front, scheme, netloc,
    # path, query, fragment), raising where it raises ValueError (brackets, NFKC netlocs).
    r"""
    CREATE FUNCTION imi_urlsplit(p_url text,
        OUT scheme text, OUT netloc text, OUT path text, OUT query text, OUT fragment text)
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        -- Python strips the WHATWG "C0 control or space" characters in front.
        u text := ltrim(p_url, (SELECT string_agg(chr(c), '') FROM generate_series(1, 32) c));
        i integer;
        m text[];
        b text;
        n text;
    BEGIN
        u := translate(u, E'\t\r\n', '');
        scheme := ''; netloc := ''; query := ''; fragment := '';
        i := position(':' in u);
        IF i > 1 AND left(u, 1) ~ '^[A-Za-z]$' AND left(u, i - 1) ~ '^[A-Za-z0-9+.-]+$' THEN
            scheme := lower(left(u, i - 1));
            u := substr(u, i + 1);
        END IF;
        IF left(u, 2) = '//' THEN
            m := regexp_match(substr(u, 3), '^([^/?#]*)(.*)$');
            netloc := m[1];
            u := m[2];
            IF (position('[' in netloc) > 0) <> (position(']' in netloc) > 0) THEN
                PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin', 'Invalid IPv6 URL');
            END IF;
            IF position('[' in netloc) > 0 THEN
                b := split_part(substr(netloc, position('[' in netloc) + 1), ']', 1);
                IF left(b, 1) = 'v' THEN
                    IF b !~ '^v[a-fA-F0-9]+\..+$' THEN
                        PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin',
                            'IPvFuture address is invalid');
                    END IF;
                ELSE
                    BEGIN
                        IF position('/' in b) > 0 OR family(b::inet) <> 6 THEN
                            RAISE invalid_text_representation;
                        END IF;
                    EXCEPTION WHEN invalid_text_representation THEN
                        PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin',
                            'Invalid IPv6 URL');
                    END;
                END IF;
            END IF;
        END IF;
        i := position('#' in u);
        IF i > 0 THEN
            fragment := substr(u, i + 1);
            u := left(u, i - 1);
        END IF;
        i := position('?' in u);
        IF i > 0 THEN
            query := substr(u, i + 1);
            u := left(u, i - 1);
        END IF;
        path := u;
        -- _checknetloc: a non-ASCII netloc must not grow URL delimiters under NFKC.
        IF netloc ~ '[^\x01-\x7f]' THEN
            n := translate(netloc, '@:#?', '');
            IF n <> normalize(n, NFKC) AND normalize(n, NFKC) ~ '[/?#@:]' THEN
                PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin',
                    'netloc contains invalid characters under NFKC normalization');
            END IF;
        END IF;
    END $$
    """,
    # imi.projects.origin.normalize_remote_origin.
    r"""
    CREATE FUNCTION imi_normalize_remote_origin(p_origin text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        o text := imi_py_strip(p_origin);
        host_re constant text :=
            '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$|^\[[0-9A-Fa-f:.]+\]$';
        hint constant text := 'expected git@host:owner/repo.git, ssh://[user@]host[:port]/path, '
            'https://host/path, git://host/path or file:///path';
        s record;
        m text[];
        hostinfo text;
        host text;
        port text := '';
        rest text;
        reason text;
    BEGIN
        IF o IS NULL OR o = '' THEN
            reason := 'must not be empty';
        ELSIF o ~ ('[' || imi_py_whitespace() || ']') THEN
            reason := 'must not contain whitespace';
        ELSIF position('://' in o) > 0 THEN
            s := imi_urlsplit(o);
            IF s.scheme NOT IN ('ssh', 'https', 'git', 'file') THEN
                reason := format('unsupported scheme %L', s.scheme);
            ELSIF s.scheme = 'file' THEN
                IF s.netloc NOT IN ('', 'localhost') THEN
                    reason := 'file:// remotes must be local (file:///path)';
                ELSE
                    RETURN 'file:///' || imi_origin_path(o, s.path, false);
                END IF;
            ELSE
                hostinfo := regexp_replace(s.netloc, '^.*@', '');
                IF position('[' in hostinfo) > 0 THEN
                    rest := substr(hostinfo, position('[' in hostinfo) + 1);
                    host := split_part(rest, ']', 1);
                    rest := CASE WHEN position(']' in rest) > 0
                                 THEN substr(rest, position(']' in rest) + 1) ELSE '' END;
                ELSE
                    host := split_part(hostinfo, ':', 1);
                    rest := CASE WHEN position(':' in hostinfo) > 0
                                 THEN ':' || substr(hostinfo, position(':' in hostinfo) + 1)
                                 ELSE '' END;
                END IF;
                IF position(':' in rest) > 0 THEN
                    port := substr(rest, position(':' in rest) + 1);
                END IF;
                host := lower(host@LOWER@);
                IF port <> '' AND (port !~ '^[0-9]+$' OR port::numeric > 65535) THEN
                    reason := 'invalid port';
                ELSIF host = '' OR host !~ host_re THEN
                    reason := 'missing or invalid host';
                ELSIF s.query <> '' OR s.fragment <> '' THEN
                    reason := 'must not have a query or fragment';
                ELSE
                    RETURN regexp_replace(host, '^www\.', '') || '/'
                        || imi_origin_path(o, s.path, true);
                END IF;
            END IF;
        ELSE
            m := regexp_match(o, '^(?:([^@/:]+)@)?([A-Za-z0-9.-]+):(?!//)(.+)$');
            IF m IS NULL THEN
                reason := 'not a recognized git remote';
            ELSIF lower(m[2]) !~ host_re THEN
                reason := 'invalid host';
            ELSE
                RETURN regexp_replace(lower(m[2]), '^www\.', '') || '/'
                    || imi_origin_path(o, m[3], true);
            END IF;
        END IF;
        PERFORM imi_raise('VALIDATION_ERROR', 'remote_origin',
            format('Invalid remote origin %L: %s', left(coalesce(o, p_origin, 'None'), 200),
                   reason),
            hint);
        RETURN NULL;
    END $$
    """,
    # imi.projects.origin.strip_credentials (of an origin already validated).
    r"""
    CREATE FUNCTION imi_strip_credentials(p_origin text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        o text := imi_py_strip(p_origin);
        s record;
        userinfo text;
        netloc text;
    BEGIN
        IF position('://' in o) = 0 THEN
            RETURN o;
        END IF;
        s := imi_urlsplit(o);
        IF position('@' in s.netloc) = 0 THEN
            RETURN o;
        END IF;
        userinfo := regexp_replace(s.netloc, '@[^@]*$', '');
        netloc := regexp_replace(s.netloc, '^.*@', '');
        IF s.scheme = 'https' THEN
            NULL;
        ELSIF position(':' in userinfo) > 0 THEN
            netloc := split_part(userinfo, ':', 1) || '@' || netloc;
        ELSE
            RETURN o;
        END IF;
        RETURN s.scheme || '://' || netloc || s.path
            || CASE WHEN s.query <> '' THEN '?' || s.query ELSE '' END
            || CASE WHEN s.fragment <> '' THEN '#' || s.fragment ELSE '' END;
    END $$
    """,
    # IMI_PUBLISH_V2_EVENTS for SQL callers: the imi.publish_v2_events setting, on by default.
    r"""
    CREATE FUNCTION imi_publish_v2_events() RETURNS boolean
    LANGUAGE sql STABLE AS $$
        SELECT lower(coalesce(nullif(current_setting('imi.publish_v2_events', true), ''), 'on'))
            NOT IN ('off', 'false', 'f', 'no', 'n', '0')
    $$
    """,
    # imi.outbox.envelope.build_envelope. source.host: the imi.source_host setting, else
    # 'postgresql' (the service writes its host name).
    r"""
    CREATE FUNCTION imi_event_envelope(p_event_type text, p_payload jsonb, p_event_id uuid,
                                       p_correlation_id text, p_timestamp timestamptz)
    RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object(
            'event_id', p_event_id::text,
            'event_type', p_event_type,
            'timestamp', to_char(p_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN to_char(p_timestamp, 'US') = '000000' THEN ''
                        ELSE '.' || to_char(p_timestamp, 'US') END || '+00:00',
            'version', '1.0.0',
            'source', jsonb_build_object(
                'host', coalesce(nullif(current_setting('imi.source_host', true), ''),
                                 'postgresql'),
                'type', CASE WHEN v2 THEN 'component' ELSE 'service' END,
                'app', 'imi',
                'meta', NULL),
            'correlation_ids', CASE WHEN coalesce(p_correlation_id, '') = '' THEN '[]'::jsonb
                                    ELSE jsonb_build_array(p_correlation_id) END,
            'agent_context', NULL,
            'payload', p_payload,
            'metadata', jsonb_build_object(
                'correlation_id', p_correlation_id,
                'version', CASE WHEN v2 THEN '2.0.0' ELSE '1.0.0' END))
        FROM (SELECT p_event_type IN (
            'imi.worktree.created', 'imi.worktree.git_state_updated', 'imi.worktree.merged',
            'imi.activity.logged', 'imi.project.registration_failed',
            'imi.worktree.creation_failed') AS v2) AS contract
    $$
    """,
    # imi.outbox.writer.emit for one event: the correlation id is the imi.correlation_id
    # setting (SET LOCAL it to trace a call); NULL when a v2 event is switched off.
    r"""
    CREATE FUNCTION imi_emit(p_event_type text, p_subject_type text, p_subject_id text,
                             p_payload jsonb, p_v2 boolean DEFAULT false)
    RETURNS uuid LANGUAGE plpgsql AS $$
    DECLARE
        v_id uuid := gen_random_uuid();
        v_correlation text := nullif(current_setting('imi.correlation_id', true), '');
        v_refs text[] := '{}';
        v_ref text;
    BEGIN
        IF p_v2 AND NOT imi_publish_v2_events() THEN
            RETURN NULL;
        END IF;
        IF p_subject_type = 'work_item' THEN
            v_refs := ARRAY[p_subject_id];
        END IF;
        v_ref := p_payload ->> 'work_item_id';
        IF v_ref IS NOT NULL AND NOT v_ref = ANY (v_refs) THEN
            v_refs := v_refs || v_ref;
        END IF;
        IF jsonb_typeof(p_payload -> 'work_item_ids') = 'array' THEN
            FOR v_ref IN SELECT jsonb_array_elements_text(p_payload -> 'work_item_ids') LOOP
                IF NOT v_ref = ANY (v_refs) THEN
                    v_refs := v_refs || v_ref;
                END IF;
            END LOOP;
        END IF;
        INSERT INTO events (event_id, event_type, routing_key, subject_type, subject_id,
                            correlation_id, work_item_refs, envelope)
        VALUES (v_id, p_event_type, p_event_type, p_subject_type, p_subject_id, v_correlation,
                v_refs, imi_event_envelope(p_event_type, p_payload, v_id, v_correlation,
                                           clock_timestamp()));
        RETURN v_id;
    END $$
    """,
]

# Checks of imi.work.naming, with the field named as the caller sent it.
WORK_HELPERS = [
    r"""
    CREATE FUNCTION imi_parse_work_type(p_value text, p_field text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v text := lower(coalesce(imi_py_strip(p_value), ''));
    BEGIN
        IF v = 'feat' THEN
            RETURN 'feature';
        END IF;
        IF v NOT IN ('feature', 'fix', 'experiment', 'review', 'devops', 'aiops') THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('Invalid work type %L; expected one of feature, fix, experiment, '
                       'review, devops, aiops, feat', left(p_value, 80)));
        END IF;
        RETURN v;
    END $$
    """,
    r"""
    CREATE FUNCTION imi_check_branch_name(p_value text, p_field text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v text := coalesce(imi_py_strip(p_value), '');
    BEGIN
        IF v = '' OR v ~ ('(^[-/.])|(\.\.)|([~^:?*\[\\' || imi_py_whitespace()
                          || '])|(@\{)|(//)|([/.]$)|(\.lock$)') THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('Invalid branch name %L', left(v, 100)));
        END IF;
        RETURN v;
    END $$
    """,
    r"""
    CREATE FUNCTION imi_check_worktree_name(p_value text, p_field text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v text := coalesce(imi_py_strip(p_value), '');
    BEGIN
        IF v = '' OR v ~ '[/\\\x01-\x1f\x7f]|^\.{1,2}$' THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('Invalid worktree name %L: one directory name, without ''/'', ''\'', '
                       '''..'' or control characters', left(v, 100)));
        END IF;
        RETURN v;
    END $$
    """,
    r"""
    CREATE FUNCTION imi_check_worktree_path(p_value text, p_field text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v text := imi_py_strip(p_value);
    BEGIN
        IF v IS NULL THEN
            RETURN NULL;
        END IF;
        IF NOT (left(v, 1) = '/' OR v ~ '^[A-Za-z]:[\\/]')
           OR '..' = ANY (string_to_array(replace(v, '\', '/'), '/'))
           OR v ~ '[\x01-\x1f\x7f]' THEN
            PERFORM imi_raise('VALIDATION_ERROR', p_field,
                format('Invalid worktree path %L: an absolute path without ''..'' components',
                       left(v, 100)));
        END IF;
        RETURN v;
    END $$
    """,
    # worktree_name(): the name a branch's worktree gets (feat/x -> feat-x, pr-review/x -> pr-x).
    r"""
    CREATE FUNCTION imi_worktree_name(p_branch text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN p_branch LIKE 'pr-review/%'
                    THEN 'pr-' || replace(substr(p_branch, 11), '/', '-')
                    ELSE replace(p_branch, '/', '-') END
    $$
    """,
]

# The contract's functions (002 section 4), with its exact parameter names and defaults.
PUBLIC_ATTRS = "SET search_path FROM CURRENT SET timezone TO 'UTC'"
FUNCTIONS = [
    # imi.projects.service.register_project: idempotent on the normalized origin; a
    # soft-deleted project comes back with the new details; imi.project.registered for a new
    # or re-activated project only (an active one is returned as it is, no event: the REST
    # call's 200).
    r"""
    CREATE FUNCTION register_project(
        p_name TEXT,
        p_remote_origin TEXT,
        p_default_branch TEXT DEFAULT 'main',
        p_trunk_path TEXT DEFAULT NULL,
        p_metadata JSONB DEFAULT '{}'::jsonb
    ) RETURNS UUID LANGUAGE plpgsql @ATTRS@ AS $$
    DECLARE
        v_normalized text;
        v_name text := imi_py_strip(p_name);
        v_branch text := imi_py_strip(p_default_branch);
        v_id uuid;
        v_inserted boolean;
        v_row projects;
    BEGIN
        PERFORM imi_check_text(p_remote_origin, 'remote_origin', 2000, 2000);
        PERFORM imi_check_text(p_name, 'name', 255);
        PERFORM imi_check_text(p_default_branch, 'default_branch', 255);
        PERFORM imi_check_text(p_trunk_path, 'trunk_path', 1024, 2000);
        PERFORM imi_check_metadata(p_metadata);
        v_normalized := imi_normalize_remote_origin(p_remote_origin);
        IF v_name = '' THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'name', 'name must not be empty');
        END IF;
        IF v_branch = '' THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'default_branch',
                'default_branch must not be empty');
        END IF;
        INSERT INTO projects AS p (name, remote_origin, remote_origin_normalized,
                                   default_branch, trunk_path, description, metadata, active)
        VALUES (coalesce(v_name, regexp_replace(rtrim(v_normalized, '/'), '^.*/', '')),
                imi_strip_credentials(p_remote_origin), v_normalized,
                coalesce(v_branch, 'main'), p_trunk_path, NULL, p_metadata, true)
        ON CONFLICT (remote_origin_normalized) DO UPDATE SET
            active = true,
            name = excluded.name,
            remote_origin = excluded.remote_origin,
            default_branch = excluded.default_branch,
            trunk_path = excluded.trunk_path,
            description = excluded.description,
            metadata = excluded.metadata,
            updated_at = now()
        WHERE NOT p.active
        RETURNING p.id, (p.xmax = 0) INTO v_id, v_inserted;
        IF v_id IS NULL THEN
            SELECT id INTO v_id FROM projects WHERE remote_origin_normalized = v_normalized;
            RETURN v_id;
        END IF;
        SELECT * INTO v_row FROM projects WHERE id = v_id;
        PERFORM imi_emit('imi.project.registered', 'project', v_id::text,
            to_jsonb(v_row) || jsonb_build_object(
                'project_id', v_id, 'reactivated', NOT v_inserted, 'existed', false));
        RETURN v_id;
    END $$
    """,
    # imi.work.service.start_work through the v2 REST mapping (compat.v2.WorktreeCreateV2):
    # type feat -> feature, path -> worktree_path, agent_id -> owner_id. Ticket keys in the
    # branch name (the imi.ticket_key_pattern setting, IMI_TICKET_KEY_PATTERN's default
    # otherwise; at most 20) are linked as references, tickets created as needed.
    r"""
    CREATE FUNCTION register_worktree(
        p_project_id UUID,
        p_type_name TEXT,
        p_name TEXT,
        p_branch_name TEXT,
        p_path TEXT,
        p_agent_id TEXT DEFAULT NULL,
        p_metadata JSONB DEFAULT '{}'::jsonb
    ) RETURNS UUID LANGUAGE plpgsql @ATTRS@ AS $$
    DECLARE
        v_type text;
        v_branch text;
        v_name text;
        v_path text;
        v_project projects;
        v_item work_items;
        v_existing work_items;
        v_pattern text := coalesce(nullif(current_setting('imi.ticket_key_pattern', true), ''),
                                   '[A-Z][A-Z0-9]+-\d+');
        v_keys text[];
        v_key text;
        v_done jsonb := '{}';
        v_ticket_id uuid;
        v_ticket_created boolean;
        v_link_id uuid;
        v_link_created boolean;
        v_ticket jsonb;
        v_link ticket_links;
    BEGIN
        PERFORM imi_require(p_project_id, 'project_id');
        PERFORM imi_require(p_type_name, 'type');
        PERFORM imi_require(p_branch_name, 'branch_name');
        PERFORM imi_require(p_path, 'path');
        PERFORM imi_check_text(p_type_name, 'type', 255);
        PERFORM imi_check_text(p_name, 'name', 255);
        PERFORM imi_check_text(p_branch_name, 'branch_name', 255);
        PERFORM imi_check_text(p_path, 'path', 1024, 2000);
        PERFORM imi_check_text(p_agent_id, 'agent_id', 255);
        PERFORM imi_check_metadata(p_metadata);
        v_path := imi_check_worktree_path(p_path, 'path');
        v_type := imi_parse_work_type(p_type_name, 'type');
        v_branch := imi_check_branch_name(p_branch_name, 'branch_name');
        -- An empty (or NULL) name takes the branch's worktree name, as the service does.
        v_name := imi_check_worktree_name(
            CASE WHEN coalesce(p_name, '') = '' THEN imi_worktree_name(v_branch) ELSE p_name END,
            'name');
        -- Share lock: a concurrent deactivation waits for this work (or this for it).
        SELECT * INTO v_project FROM projects WHERE id = p_project_id FOR SHARE;
        IF NOT FOUND THEN
            PERFORM imi_raise('NOT_FOUND', 'project_id',
                format('project %s not found', p_project_id));
        END IF;
        IF NOT v_project.active THEN
            PERFORM imi_raise('STATE', 'project_id',
                format('project %s is deactivated', p_project_id));
        END IF;
        -- The ORM's column defaults (the table has none for these).
        INSERT INTO work_items (project_id, branch_name, name, work_type, source_type,
                                source_ref, owner_id, worktree_path, metadata,
                                has_uncommitted_changes, uncommitted_files_count,
                                ahead_of_trunk, behind_trunk, active)
        VALUES (v_project.id, v_branch, v_name, v_type, 'manual', NULL, p_agent_id, v_path,
                p_metadata, false, 0, 0, 0, true)
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_item;
        IF v_item.id IS NULL THEN
            SELECT * INTO v_existing FROM work_items
            WHERE project_id = v_project.id AND active
              AND (branch_name = v_branch OR name = v_name)
            ORDER BY branch_name = v_branch DESC LIMIT 1;
            IF v_existing.branch_name = v_branch THEN
                PERFORM imi_raise('DUPLICATE', 'branch_name',
                    format('branch %L already has active work %s', v_branch, v_existing.id));
            END IF;
            PERFORM imi_raise('DUPLICATE', 'name',
                format('an active worktree named %L already exists', v_name));
        END IF;

        SELECT coalesce(array_agg(k ORDER BY first), '{}') INTO v_keys FROM (
            SELECT t.m[1] AS k, min(t.n) AS first
            FROM regexp_matches(v_branch, '(' || v_pattern || ')', 'g') WITH ORDINALITY
                AS t(m, n)
            GROUP BY t.m[1] ORDER BY min(t.n) LIMIT 20) AS found;
        -- Rows locked in key order, so overlapping callers cannot deadlock.
        FOR v_key IN SELECT unnest(v_keys) ORDER BY 1 LOOP
            INSERT INTO tickets AS t (plane_ticket_id) VALUES (v_key)
            ON CONFLICT (plane_ticket_id) DO UPDATE SET title = t.title
            RETURNING t.id, (t.xmax = 0) INTO v_ticket_id, v_ticket_created;
            INSERT INTO ticket_links AS l (ticket_id, work_item_id, kind)
            VALUES (v_ticket_id, v_item.id, 'references')
            ON CONFLICT ON CONSTRAINT uq_ticket_links_ticket_work DO UPDATE SET kind = l.kind
            RETURNING l.id, (l.xmax = 0) INTO v_link_id, v_link_created;
            v_done := v_done || jsonb_build_object(v_key, jsonb_build_object(
                'ticket_id', v_ticket_id, 'ticket_created', v_ticket_created,
                'link_id', v_link_id, 'created', v_link_created));
        END LOOP;
        FOREACH v_key IN ARRAY v_keys LOOP
            SELECT to_jsonb(t) INTO v_ticket FROM tickets AS t
            WHERE t.id = (v_done #>> ARRAY[v_key, 'ticket_id'])::uuid;
            SELECT * INTO v_link FROM ticket_links
            WHERE id = (v_done #>> ARRAY[v_key, 'link_id'])::uuid;
            IF (v_done #>> ARRAY[v_key, 'ticket_created'])::boolean THEN
                PERFORM imi_emit('imi.ticket.created', 'ticket', v_ticket ->> 'id',
                    v_ticket || jsonb_build_object('ticket_id', v_ticket -> 'id'));
            END IF;
            IF (v_done #>> ARRAY[v_key, 'created'])::boolean THEN
                PERFORM imi_emit('imi.link.ticket_linked', 'ticket', v_ticket ->> 'id',
                    v_ticket || jsonb_build_object(
                        'ticket_id', v_ticket -> 'id', 'link_id', v_link.id,
                        'work_item_id', v_item.id, 'project_id', v_item.project_id,
                        'branch_name', v_item.branch_name, 'kind', v_link.kind,
                        'link_metadata', v_link.metadata, 'created', true,
                        'ticket_created', v_done #> ARRAY[v_key, 'ticket_created']));
            END IF;
        END LOOP;

        PERFORM imi_emit('imi.work.started', 'work_item', v_item.id::text,
            to_jsonb(v_item) || jsonb_build_object('work_item_id', v_item.id,
                'project_name', v_project.name, 'ticket_keys', to_jsonb(v_keys)));
        PERFORM imi_emit('imi.worktree.created', 'work_item', v_item.id::text,
            jsonb_build_object(
                'worktree_id', v_item.id, 'project_id', v_project.id,
                'project_name', v_project.name,
                'type', CASE WHEN v_item.work_type = 'feature' THEN 'feat'
                             ELSE v_item.work_type END,
                'name', v_item.name, 'branch_name', v_item.branch_name,
                'path', v_item.worktree_path, 'agent_id', v_item.owner_id),
            true);
        RETURN v_item.id;
    END $$
    """,
    # imi.work.service.update_git_state by id (PATCH /worktrees/{id}/git-state). NULL keeps a
    # stored value (it cannot clear last_commit_hash/message). The report is read now; a
    # stored sync later than now (a clock ahead) makes it stale and nothing changes.
    r"""
    CREATE FUNCTION update_worktree_git_state(
        p_worktree_id UUID,
        p_has_uncommitted BOOLEAN DEFAULT NULL,
        p_uncommitted_count INTEGER DEFAULT NULL,
        p_ahead INTEGER DEFAULT NULL,
        p_behind INTEGER DEFAULT NULL,
        p_last_commit_hash TEXT DEFAULT NULL,
        p_last_commit_message TEXT DEFAULT NULL
    ) RETURNS VOID LANGUAGE plpgsql @ATTRS@ AS $$
    DECLARE
        v_item work_items;
        v_project_name text;
        v_synced timestamptz := clock_timestamp();
        v_changed text[] := '{}';
    BEGIN
        PERFORM imi_require(p_worktree_id, 'work_item_id');
        IF p_uncommitted_count < 0 OR p_ahead < 0 OR p_behind < 0 THEN
            PERFORM imi_raise('VALIDATION_ERROR',
                CASE WHEN p_uncommitted_count < 0 THEN 'uncommitted_files_count'
                     WHEN p_ahead < 0 THEN 'ahead_of_trunk' ELSE 'behind_trunk' END,
                'counts must be greater than or equal to 0');
        END IF;
        PERFORM imi_check_text(p_last_commit_hash, 'last_commit_hash', 255);
        PERFORM imi_check_text(p_last_commit_message, 'last_commit_message', 10000);
        SELECT * INTO v_item FROM work_items WHERE id = p_worktree_id FOR UPDATE;
        SELECT name INTO v_project_name FROM projects WHERE id = v_item.project_id;
        IF v_item.id IS NULL THEN
            PERFORM imi_raise('NOT_FOUND', 'work_item_id',
                format('work item %s not found', p_worktree_id));
        END IF;
        IF NOT v_item.active THEN
            PERFORM imi_raise('STATE', 'work_item_id',
                format('work item %s is no longer active (%s); its git state is final',
                       v_item.id, coalesce(v_item.completion_type, 'deactivated')));
        END IF;
        IF v_item.last_sync_at IS NOT NULL AND v_synced < v_item.last_sync_at THEN
            RETURN;
        END IF;
        -- Sorted by name, as the service reports them.
        IF p_ahead IS DISTINCT FROM v_item.ahead_of_trunk AND p_ahead IS NOT NULL THEN
            v_changed := v_changed || 'ahead_of_trunk'::text;
        END IF;
        IF p_behind IS DISTINCT FROM v_item.behind_trunk AND p_behind IS NOT NULL THEN
            v_changed := v_changed || 'behind_trunk'::text;
        END IF;
        IF p_has_uncommitted IS DISTINCT FROM v_item.has_uncommitted_changes
           AND p_has_uncommitted IS NOT NULL THEN
            v_changed := v_changed || 'has_uncommitted_changes'::text;
        END IF;
        IF p_last_commit_hash IS DISTINCT FROM v_item.last_commit_hash
           AND p_last_commit_hash IS NOT NULL THEN
            v_changed := v_changed || 'last_commit_hash'::text;
        END IF;
        IF p_last_commit_message IS DISTINCT FROM v_item.last_commit_message
           AND p_last_commit_message IS NOT NULL THEN
            v_changed := v_changed || 'last_commit_message'::text;
        END IF;
        IF p_uncommitted_count IS DISTINCT FROM v_item.uncommitted_files_count
           AND p_uncommitted_count IS NOT NULL THEN
            v_changed := v_changed || 'uncommitted_files_count'::text;
        END IF;
        UPDATE work_items SET
            has_uncommitted_changes = coalesce(p_has_uncommitted, has_uncommitted_changes),
            uncommitted_files_count = coalesce(p_uncommitted_count, uncommitted_files_count),
            ahead_of_trunk = coalesce(p_ahead, ahead_of_trunk),
            behind_trunk = coalesce(p_behind, behind_trunk),
            last_commit_hash = coalesce(p_last_commit_hash, last_commit_hash),
            last_commit_message = coalesce(p_last_commit_message, last_commit_message),
            last_sync_at = v_synced,
            last_activity_at = clock_timestamp(),
            updated_at = now()
        WHERE id = v_item.id
        RETURNING * INTO v_item;
        IF cardinality(v_changed) > 0 THEN
            PERFORM imi_emit('imi.work.git_state_updated', 'work_item', v_item.id::text,
                to_jsonb(v_item) || jsonb_build_object('work_item_id', v_item.id,
                    'project_name', v_project_name, 'updated_fields', to_jsonb(v_changed)));
            PERFORM imi_emit('imi.worktree.git_state_updated', 'work_item', v_item.id::text,
                jsonb_build_object(
                    'worktree_id', v_item.id, 'project_name', v_project_name,
                    'worktree_name', v_item.name,
                    'has_uncommitted_changes', v_item.has_uncommitted_changes,
                    'uncommitted_files_count', v_item.uncommitted_files_count,
                    'ahead_of_trunk', v_item.ahead_of_trunk,
                    'behind_trunk', v_item.behind_trunk, 'status', v_item.status),
                true);
        END IF;
    END $$
    """,
    # GET /inflight-work: every active work item (FR-2.4), most recently active first.
    r"""
    CREATE FUNCTION get_inflight_work(
        p_project_id UUID DEFAULT NULL
    ) RETURNS TABLE (
        worktree_id UUID,
        worktree_name TEXT,
        branch_name TEXT,
        status TEXT,
        uncommitted_count INTEGER,
        ahead INTEGER,
        behind INTEGER,
        agent_id TEXT,
        last_activity TIMESTAMPTZ
    ) LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
        SELECT w.id, w.name, w.branch_name, w.status, w.uncommitted_files_count,
               w.ahead_of_trunk, w.behind_trunk, w.owner_id, w.last_activity_at
        FROM work_items w JOIN projects p ON p.id = w.project_id
        WHERE w.active AND (p_project_id IS NULL OR w.project_id = p_project_id)
        ORDER BY w.last_activity_at DESC, w.id
    $$
    """,
    # imi.activities.service.log_activity through POST /activities (compat.v2.ActivityIn).
    r"""
    CREATE FUNCTION log_activity(
        p_agent_id TEXT,
        p_worktree_id UUID,
        p_activity_type TEXT,
        p_description TEXT,
        p_file_path TEXT DEFAULT NULL,
        p_metadata JSONB DEFAULT '{}'::jsonb
    ) RETURNS UUID LANGUAGE plpgsql @ATTRS@ AS $$
    DECLARE
        v_agent text := imi_py_strip(p_agent_id);
        v_activity activities;
    BEGIN
        PERFORM imi_require(p_agent_id, 'agent_id');
        PERFORM imi_require(p_worktree_id, 'worktree_id');
        PERFORM imi_require(p_activity_type, 'activity_type');
        PERFORM imi_require(p_description, 'description');
        PERFORM imi_check_text(p_agent_id, 'agent_id', 255);
        PERFORM imi_check_text(p_activity_type, 'activity_type', 255);
        PERFORM imi_check_text(p_description, 'description', 10000);
        PERFORM imi_check_text(p_file_path, 'file_path', 1024, 2000);
        PERFORM imi_check_metadata(p_metadata);
        IF p_activity_type NOT IN ('created', 'modified', 'deleted', 'committed', 'pushed',
                                   'merged', 'synced', 'other') THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'activity_type',
                format('Invalid activity type %L; expected one of created, modified, deleted, '
                       'committed, pushed, merged, synced, other', p_activity_type));
        END IF;
        IF p_description = '' THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'description',
                'description must not be empty');
        END IF;
        IF v_agent = '' THEN
            PERFORM imi_raise('VALIDATION_ERROR', 'agent_id', 'agent_id must not be empty');
        END IF;
        UPDATE work_items SET last_activity_at = clock_timestamp() WHERE id = p_worktree_id;
        IF NOT FOUND THEN
            PERFORM imi_raise('NOT_FOUND', 'work_item_id',
                format('work item %s not found', p_worktree_id));
        END IF;
        INSERT INTO activities (agent_id, work_item_id, activity_type, description, file_path,
                                metadata, created_at)
        VALUES (v_agent, p_worktree_id, p_activity_type, p_description, p_file_path,
                p_metadata, clock_timestamp())
        RETURNING * INTO v_activity;
        PERFORM imi_emit('imi.activity.logged', 'activity', v_activity.id::text,
            to_jsonb(v_activity) || jsonb_build_object(
                'activity_id', v_activity.id, 'worktree_id', v_activity.work_item_id));
        RETURN v_activity.id;
    END $$
    """,
]

# Analytics views (002 section 5.4). Counts follow /projects' worktree_counts: in flight is
# active; uncommitted and unmerged count active work only.
VIEWS = [
    r"""
    CREATE VIEW v_projects_summary@INVOKER@ AS
    SELECT p.id, p.name, p.remote_origin, p.remote_origin_normalized, p.default_branch,
           p.trunk_path, p.description, p.metadata, p.active, p.created_at, p.updated_at,
           coalesce(c.total, 0) AS total_worktrees,
           coalesce(c.active, 0) AS active_worktrees,
           coalesce(c.active, 0) AS in_flight_worktrees,
           coalesce(c.uncommitted, 0) AS uncommitted_worktrees,
           coalesce(c.unmerged, 0) AS unmerged_worktrees,
           c.last_activity
    FROM projects p
    LEFT JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE w.active) AS active,
               count(*) FILTER (WHERE w.active AND w.has_uncommitted_changes) AS uncommitted,
               count(*) FILTER (WHERE w.active AND w.ahead_of_trunk > 0) AS unmerged,
               max(w.last_activity_at) AS last_activity
        FROM work_items w WHERE w.project_id = p.id
    ) AS c ON true
    """,
    r"""
    CREATE VIEW v_inflight_work@INVOKER@ AS
    SELECT w.id AS worktree_id, w.name::text AS worktree_name, w.project_id,
           p.name::text AS project_name, w.branch_name::text AS branch_name,
           w.status::text AS status, w.uncommitted_files_count AS uncommitted_count,
           w.ahead_of_trunk AS ahead, w.behind_trunk AS behind, w.owner_id::text AS agent_id,
           w.last_activity_at AS last_activity, w.work_type, w.worktree_path
    FROM work_items w JOIN projects p ON p.id = w.project_id
    WHERE w.active
    """,
    r"""
    CREATE VIEW v_work_items_with_links@INVOKER@ AS
    SELECT w.id AS work_item_id, w.project_id, p.name AS project_name, w.name AS worktree_name,
           w.branch_name, w.work_type, w.status, w.active, w.owner_id, w.worktree_path,
           w.created_at, w.last_activity_at, w.completed_at, w.completion_type,
           coalesce(t.ticket_ids, '{}') AS ticket_ids,
           coalesce(r.numbers, '{}') AS pull_request_numbers,
           coalesce(r.urls, '{}') AS pull_request_urls,
           coalesce(d.deploy_ids, '{}') AS deploy_ids
    FROM work_items w
    JOIN projects p ON p.id = w.project_id
    LEFT JOIN LATERAL (
        SELECT array_agg(tk.plane_ticket_id::text ORDER BY tk.plane_ticket_id) AS ticket_ids
        FROM ticket_links l JOIN tickets tk ON tk.id = l.ticket_id
        WHERE l.work_item_id = w.id
    ) AS t ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(pr.number ORDER BY pr.number) AS numbers,
               array_agg(pr.url::text ORDER BY pr.number) AS urls
        FROM pull_requests pr WHERE pr.work_item_id = w.id
    ) AS r ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(dep.deploy_id::text ORDER BY dep.deployed_at, dep.deploy_id)
            AS deploy_ids
        FROM deployment_work_items dw JOIN deployments dep ON dep.id = dw.deployment_id
        WHERE dw.work_item_id = w.id
    ) AS d ON true
    """,
    # The trace graph's edges (imi.links.trace_graph): has_work, links (link_kind: closes or
    # references), has_pr, deployed_in (a deploy shipping a work item ships its PRs too).
    r"""
    CREATE VIEW v_trace_edges@INVOKER@ AS
    SELECT 'has_work'::text AS kind, 'project'::text AS from_type, p.id AS from_id,
           p.name::text AS from_key, 'work_item'::text AS to_type, w.id AS to_id,
           w.branch_name::text AS to_key, NULL::text AS link_kind, w.project_id
    FROM work_items w JOIN projects p ON p.id = w.project_id
    UNION ALL
    SELECT 'links', 'ticket', t.id, t.plane_ticket_id, 'work_item', w.id, w.branch_name,
           l.kind, w.project_id
    FROM ticket_links l JOIN tickets t ON t.id = l.ticket_id
    JOIN work_items w ON w.id = l.work_item_id
    UNION ALL
    SELECT 'has_pr', 'work_item', w.id, w.branch_name, 'pull_request', pr.id, pr.url, NULL,
           w.project_id
    FROM pull_requests pr JOIN work_items w ON w.id = pr.work_item_id
    UNION ALL
    SELECT 'deployed_in', 'work_item', w.id, w.branch_name, 'deployment', d.id, d.deploy_id,
           NULL, w.project_id
    FROM deployment_work_items dw JOIN deployments d ON d.id = dw.deployment_id
    JOIN work_items w ON w.id = dw.work_item_id
    UNION ALL
    SELECT 'deployed_in', 'pull_request', pr.id, pr.url, 'deployment', d.id, d.deploy_id, NULL,
           pr.project_id
    FROM deployment_work_items dw JOIN deployments d ON d.id = dw.deployment_id
    JOIN pull_requests pr ON pr.work_item_id = dw.work_item_id
    """,
]

VIEW_NAMES = ("v_projects_summary", "v_inflight_work", "v_work_items_with_links", "v_trace_edges")
WRITE_FUNCTIONS = (
    "register_project(text, text, text, text, jsonb)",
    "register_worktree(uuid, text, text, text, text, text, jsonb)",
    "update_worktree_git_state(uuid, boolean, integer, integer, integer, text, text)",
    "log_activity(text, uuid, text, text, text, jsonb)",
    "imi_emit(text, text, text, jsonb, boolean)",
)
READ_FUNCTION = "get_inflight_work(uuid)"
HELPER_FUNCTIONS = (
    "imi_check_metadata(jsonb, text)",
    "imi_check_text(text, text, integer, integer)",
    "imi_require(anyelement, text)",
    "imi_parse_work_type(text, text)",
    "imi_check_branch_name(text, text)",
    "imi_check_worktree_name(text, text)",
    "imi_check_worktree_path(text, text)",
    "imi_worktree_name(text)",
    "imi_event_envelope(text, jsonb, uuid, text, timestamptz)",
    "imi_publish_v2_events()",
    "imi_strip_credentials(text)",
    "imi_normalize_remote_origin(text)",
    "imi_urlsplit(text)",
    "imi_origin_path(text, text, boolean)",
    "imi_raise(text, text, text, text)",
    "imi_py_strip(text)",
    "imi_py_whitespace()",
)

_WRITES = "FUNCTION " + ", ".join(WRITE_FUNCTIONS)
_VIEWS = ", ".join(VIEW_NAMES)
GRANTS = f"""
DO $$
BEGIN
    REVOKE EXECUTE ON {_WRITES} FROM PUBLIC;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
        GRANT EXECUTE ON {_WRITES} TO imi_scoped;
        GRANT SELECT ON {_VIEWS} TO imi_scoped;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
        GRANT SELECT ON {_VIEWS} TO imi_readonly;
        GRANT EXECUTE ON FUNCTION {READ_FUNCTION} TO imi_readonly;
    END IF;
END $$
"""
DROPS = [f"DROP VIEW IF EXISTS {name}" for name in reversed(VIEW_NAMES)] + [
    f"DROP FUNCTION IF EXISTS {f}" for f in (READ_FUNCTION, *WRITE_FUNCTIONS, *HELPER_FUNCTIONS)
]


def statements(*, whitespace: str, lower_collation: str, security_invoker: str) -> list[str]:
    filled = []
    for sql in HELPERS + WORK_HELPERS + FUNCTIONS + VIEWS:
        sql = sql.replace("@WS@", whitespace).replace("@LOWER@", lower_collation)
        sql = sql.replace("@INVOKER@", security_invoker).replace("@ATTRS@", PUBLIC_ATTRS)
        filled.append(sql)
    return filled


def _run(sql: str) -> None:
    # exec_driver_sql: the bodies hold colons that text() would read as bind parameters.
    op.get_bind().exec_driver_sql(sql)


def upgrade() -> None:
    bind = op.get_bind()
    icu = bind.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"
    ).scalar()
    version = int(bind.exec_driver_sql("SHOW server_version_num").scalar() or 0)
    for sql in statements(
        whitespace=WHITESPACE_LITERAL,
        # Python's str.lower() is Unicode's full case mapping, as ICU's root locale's.
        lower_collation=' COLLATE "und-x-icu"' if icu else "",
        security_invoker=" WITH (security_invoker = true)" if version >= 150000 else "",
    ):
        _run(sql)
    _run(GRANTS)


def downgrade() -> None:
    for sql in DROPS:
        _run(sql)
