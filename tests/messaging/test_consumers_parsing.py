"""Message parsing and field reading, without a broker: every accepted shape, every fallback."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from imi.compat.bloodbank import BadMessage, parse_message
from imi.links.models import PRState
from imi.messaging.consumers.git import git_state, pr_state
from imi.messaging.consumers.handling import _key_matches
from imi.messaging.consumers.plane import ticket_key, ticket_state
from imi.work.matching import branch_of_ref


def parse(body: Any, key: str = "a.b.c", **amqp: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_message(raw, routing_key=key, **amqp)


def test_bloodbank_envelope() -> None:
    body = {
        "event_id": "e-1",
        "event_type": "git.push",
        "timestamp": "2026-01-21T14:30:22Z",
        "version": "1.0.0",
        "source": {"host": "h", "type": "hook", "app": None, "meta": None},
        "correlation_ids": ["c-parent", "c-other"],
        "agent_context": None,
        "payload": {"branch": "main"},
    }
    message = parse(body, "git.push")
    assert message.payload == {"branch": "main"}
    assert (message.message_id, message.correlation_id) == ("e-1", "c-parent")
    assert message.enveloped and message.timestamp is not None
    # The AMQP properties win over the envelope's.
    amqp = parse(body, "git.push", amqp_message_id="m-1", amqp_correlation_id="c-amqp")
    assert (amqp.message_id, amqp.correlation_id) == ("m-1", "c-amqp")


def test_v2_and_holyfields_envelopes() -> None:
    v2 = {
        "event_type": "imi.project.register",
        "source": {"host": "h", "type": "component", "app": "x"},
        "payload": {"remote_origin": "git@github.com:o/r.git"},
        "metadata": {"correlation_id": "abc123", "version": "2.0.0"},
    }
    assert parse(v2).correlation_id == "abc123"
    holyfields = {
        "event_id": "e-2",
        "event_type": "plane.ticket.created",
        "source": {"host": "h", "trigger_type": "webhook"},
        "correlation_id": "hf-1",
        "payload": {"plane_ticket_id": "P-1"},
    }
    message = parse(holyfields)
    assert (message.correlation_id, message.payload) == ("hf-1", {"plane_ticket_id": "P-1"})
    # A bare {"payload": {...}} is an envelope too.
    assert parse({"payload": {"remote_origin": "x"}}).payload == {"remote_origin": "x"}


def test_flat_bodies_are_their_own_payload() -> None:
    hookd = {"event_type": "tool.mutation.edit", "repo": {"branch": "b"}, "correlation_id": "k"}
    message = parse(hookd, "tool.mutation.edit")
    assert message.payload == hookd and not message.enveloped
    assert message.correlation_id == "k"
    raw = json.dumps(hookd).encode()
    assert message.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert message.action == "edit"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{nope",
        b"\xff",
        b"[1]",
        b'"text"',
        b'{"event_type": "x", "payload": [1]}',
        b'{"event_id": "x", "payload": {}, "timestamp": "not a time"}',
    ],
)
def test_unparseable_bodies_are_bad_messages(body: bytes) -> None:
    with pytest.raises(BadMessage):
        parse(body)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("imi.cmd.*", "imi.cmd.start_work", True),
        ("imi.cmd.*", "imi.cmd.a.b", False),
        ("tool.mutation.*", "hookd.tool.mutation.edit", False),
        ("hookd.tool.mutation.*", "hookd.tool.mutation.edit", True),
        ("git.#", "git.pr.merged", True),
        ("git.push", "git.push", True),
    ],
)
def test_routing_key_patterns(pattern: str, key: str, expected: bool) -> None:
    assert _key_matches(pattern, key) is expected


def test_git_field_spellings() -> None:
    state = git_state({"has_uncommitted": True, "uncommitted_count": 2, "ahead": 1, "after": "s"})
    assert state.model_dump(exclude_unset=True) == {
        "has_uncommitted_changes": True,
        "uncommitted_files_count": 2,
        "ahead_of_trunk": 1,
        "last_commit_hash": "s",
    }
    with pytest.raises(BadMessage):
        git_state({"behind": "many"})
    assert branch_of_ref("refs/heads/feat/x") == "feat/x"
    assert branch_of_ref("refs/tags/v1") is None
    assert branch_of_ref("main") == "main"


def test_pull_request_states() -> None:
    assert pr_state({}, "opened", None) is PRState.OPEN
    assert pr_state({"merged": True}, "closed", None) is PRState.MERGED
    assert pr_state({"pull_request": {"merged": True}}, "closed", "open") is PRState.MERGED
    assert pr_state({"state": "closed"}, "updated", "open") is PRState.CLOSED
    assert pr_state({}, "synchronize", "merged") is PRState.MERGED
    with pytest.raises(BadMessage):
        pr_state({"state": "weird"}, "updated", None)


def test_plane_ticket_fields() -> None:
    assert ticket_key({"plane_ticket_id": "P-1", "id": "u"}) == "P-1"
    assert ticket_key({"identifier": "P-2"}) == "P-2"
    assert ticket_key({"project_detail": {"identifier": "P"}, "sequence_id": 3}) == "P-3"
    assert ticket_key({"id": "uuid-4"}) == "uuid-4"
    assert ticket_key({"name": "no key"}) is None
    assert ticket_state({"state": {"name": "Done", "group": "completed"}}) == "Done"
    assert ticket_state({"state": "uuid", "state_detail": {"name": "Todo"}}) == "Todo"
    assert ticket_state({"state": "Todo"}) == "Todo"


def test_oversized_ids_are_bounded() -> None:
    body = json.dumps(
        {"event_id": "e" * 300, "event_type": "plane.ticket.created", "payload": {"k": 1}}
    ).encode()
    incoming = parse_message(body, routing_key="plane.ticket.created")
    # Stored in an index and sent as AMQP short strings: hashed / dropped, not kept raw.
    assert incoming.message_id == "sha256:" + hashlib.sha256(b"e" * 300).hexdigest()
    assert incoming.correlation_id is None
    ok = parse_message(body, routing_key="x", amqp_correlation_id="req-1.a:b")
    assert ok.correlation_id == "req-1.a:b"
    bad = parse_message(body, routing_key="x", amqp_correlation_id="two words")
    assert bad.correlation_id is None
