"""Rules implemented twice, in Python and in migration 0008's SQL, checked against each other:
origin normalization, credential stripping, metadata bounds, the envelope, the whitespace set."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from imi.errors import ValidationFailed
from imi.messaging.catalogue import PUBLISHED
from imi.models_base import Metadata
from imi.outbox.envelope import V2_CONTRACT_EVENTS, build_envelope
from imi.projects.origin import normalize_remote_origin, strip_credentials
from tests.projects.test_origin import EQUIVALENT
from tests.sql.conftest import plain_url

INVALID = "<invalid>"
# Tricky spellings beyond tests/projects/test_origin.py: ports, brackets, C0 prefixes, NFKC,
# case mappings Python and ICU share, query/fragment edges, www. only in front.
EDGES = [
    "https://github.com:/acme/widget",
    "https://github.com:65535/a/b",
    "https://github.com:65536/a/b",
    "https://github.com:0022/a/b",
    "https://github.com:+22/a/b",
    "https://github.com:٣/a/b",
    "https://[::1]/a/b",
    "https://[v1.x]/a/b",
    "https://[vz.x]/a/b",
    "https://[abc/a/b",
    "https://abc]/a/b",
    "https://[::1]@github.com/a/b",
    "https://[1.2.3.4]@github.com/a/b",
    "\x01https://github.com/a/b",
    "https://üser@github.com/a/b",
    "https://u\uff0fx@github.com/a/b",  # a fullwidth solidus: "/" under NFKC
    "https://github.com/Ä/İstanbul/ΣΑΣ",
    "https://\u212aithub.com/a/b",
    "https://github.com/a/b?",
    "https://github.com/a/b#",
    "https://github.com/a/b#x",
    "https://www.www.github.com/a/b",
    "https://wwwgithub.com/a/b",
    "HTTPS://Tok@GitHub.com/A/B.git",
    "ssh://git:@host/a/b.git",
    "ssh://git:pw@host:22/a/b.git",
    "git://a@b@host/x/y",
    "file:///a/b?x#y",
    "file://LOCALHOST/a/b",
    "file:///.git",
    "file:///a/./b",
    "https://h/a//b///c.git/",
    "https://h/a/b.git.git",
    "https://h/a/.git",
    "https:/x://y",
    "1https://h/a/b",
    "git+ssh://h/a/b",
    "a:b",
    "a@b@host:path",
    "user@host:/abs/path.git",
    "host-:x",
    "-host:x",
    "ho..st:x",
    "host.:x",
    "h_st:x",
    "git@github.com://x",
    "\u3000git@github.com:a/b\u2003",
    "git@github.com:a/\u00a0b",
]
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


@pytest.fixture(scope="module")
def sql(database_url: str) -> Iterator[Any]:
    """A blocking caller of one SQL expression (Hypothesis runs synchronous tests)."""
    loop = asyncio.new_event_loop()
    conn: asyncpg.Connection = loop.run_until_complete(asyncpg.connect(plain_url(database_url)))

    def call(query: str, *args: Any) -> Any:
        return loop.run_until_complete(conn.fetchval(query, *args))

    yield call
    loop.run_until_complete(conn.close())
    loop.close()


def python_origin(origin: str) -> str:
    try:
        return normalize_remote_origin(origin)
    except (ValidationFailed, ValueError):  # urlsplit's own ValueError (brackets, NFKC)
        return INVALID


def sql_origin(sql: Any, origin: str) -> str:
    try:
        return str(sql("SELECT imi_normalize_remote_origin($1)", origin))
    except asyncpg.InvalidParameterValueError as exc:
        assert exc.column_name == "remote_origin"
        return INVALID


def has_icu(sql: Any) -> bool:
    return bool(sql("SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"))


def check_origin(sql: Any, origin: str) -> None:
    expected = python_origin(origin)
    found = sql_origin(sql, origin)
    if has_icu(sql) or origin.isascii():
        assert found == expected, origin
    else:
        # Without ICU (the embedded PostgreSQL) the functions lower-case with the database's
        # collation (libc: one letter at a time, no final sigma, İ -> i), not Unicode's full
        # case mapping as Python does (README: SQL functions): the documented difference is in
        # how non-ASCII letters are lower-cased, nothing else.
        assert _folded(found) == _folded(expected), origin
    if expected != INVALID:
        stripped = sql("SELECT imi_strip_credentials($1)", origin)
        assert stripped == strip_credentials(origin), origin


def _folded(text: str) -> str:
    """Case and combining marks folded away: what both case mappings agree on."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.mark.parametrize("origin", EQUIVALENT + EDGES)
def test_fixed_origins_normalize_alike(sql: Any, origin: str) -> None:
    check_origin(sql, origin)


def test_the_fixed_cases_cover_both_outcomes(sql: Any) -> None:
    outcomes = {python_origin(origin) == INVALID for origin in EDGES}
    assert outcomes == {True, False}


_USER = st.text(alphabet="ab:@%_-.", max_size=6)
_HOST = st.one_of(
    st.sampled_from(["github.com", "www.GitHub.com", "gitlab.example.org", "localhost"]),
    st.text(alphabet="aZ09.-_[]:v", min_size=0, max_size=12),
)
_PORT = st.one_of(st.just(""), st.from_regex(r":[0-9]{0,6}", fullmatch=True), st.just(":x"))
_PATH = st.lists(
    st.sampled_from([*"aZ09/._-~%?#:@", "Ä", "ß", "İ", "Σ", "\u212a", " ", ".git", "//"]),
    max_size=12,
).map("".join)
_SCHEME = st.sampled_from(["ssh", "https", "git", "file", "http", "HTTPS", "ftp", "", "a+b"])
URL_ORIGINS = st.builds(
    lambda scheme, user, host, port, path: (
        f"{scheme}://{user + '@' if user else ''}{host}{port}/{path}"
    ),
    _SCHEME,
    _USER,
    _HOST,
    _PORT,
    _PATH,
)
SCP_ORIGINS = st.builds(
    lambda user, host, path: f"{user + '@' if user else ''}{host}:{path}", _USER, _HOST, _PATH
)
ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
ORIGINS = st.one_of(URL_ORIGINS, SCP_ORIGINS, ANY_TEXT)
SLOW_OK = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SLOW_OK
@given(origin=ORIGINS)
def test_generated_origins_normalize_alike(sql: Any, origin: str) -> None:
    check_origin(sql, origin)


def test_the_whitespace_set_is_pythons(sql: Any) -> None:
    assert sql("SELECT imi_py_whitespace()") == WHITESPACE
    padded = WHITESPACE + "x y" + WHITESPACE
    assert sql("SELECT imi_py_strip($1)", padded) == padded.strip()


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return value if isinstance(value, dict) else {"a": value}


METADATA_CASES = [
    *(_nested(depth) for depth in range(29, 36)),
    {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    {"big": "x" * (65_536 - 11)},
    {"big": "x" * (65_536 - 10)},
    {"big": "é" * 32_762},
    {"big": "é" * 32_763},
]


@pytest.mark.parametrize("metadata", METADATA_CASES, ids=range(len(METADATA_CASES)))
def test_metadata_bounds_agree(sql: Any, metadata: dict[str, Any]) -> None:
    try:
        TypeAdapter(Metadata).validate_python(metadata)
        python_ok = True
    except ValidationError:
        python_ok = False
    try:
        sql("SELECT imi_check_metadata($1::jsonb)", json.dumps(metadata))
        sql_ok = True
    except asyncpg.InvalidParameterValueError:
        sql_ok = False
    assert sql_ok == python_ok


def test_the_metadata_cases_cover_both_outcomes() -> None:
    adapter = TypeAdapter(Metadata)
    outcomes = set()
    for metadata in METADATA_CASES:
        try:
            adapter.validate_python(metadata)
            outcomes.add(True)
        except ValidationError:
            outcomes.add(False)
    assert outcomes == {True, False}


EVENT_TYPES = sorted({event.key for event in PUBLISHED} | V2_CONTRACT_EVENTS)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("correlation_id", [None, "req-1"])
@pytest.mark.parametrize(
    "timestamp",
    [datetime(2026, 11, 27, 12, 0, 1, 123456, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)],
)
def test_the_envelope_is_built_alike(
    sql: Any, event_type: str, correlation_id: str | None, timestamp: datetime
) -> None:
    event_id = uuid.uuid4()
    payload = {"x": 1, "nested": {"y": [1, "two", None]}}
    expected = build_envelope(
        event_type=event_type,
        payload=payload,
        event_id=event_id,
        correlation_id=correlation_id,
        timestamp=timestamp,
    )
    built = json.loads(
        sql(
            "SELECT imi_event_envelope($1, $2::jsonb, $3, $4, $5)::text",
            event_type,
            json.dumps(payload),
            event_id,
            correlation_id,
            timestamp,
        )
    )
    # The host is the writer's: the service's machine, or imi.source_host for SQL.
    assert built["source"].pop("host") == "postgresql"
    expected["source"].pop("host")
    assert built == expected


def test_the_source_host_setting_names_the_writer(sql: Any) -> None:
    sql("SET imi.source_host = 'analytics-etl'")
    try:
        host = sql(
            "SELECT imi_event_envelope('imi.x', '{}', gen_random_uuid(), NULL, now())"
            " #>> '{source,host}'"
        )
    finally:
        sql("RESET imi.source_host")
    assert host == "analytics-etl"
