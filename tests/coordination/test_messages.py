"""intermute messages over HTTP: send, inbox by cursor, counts, ack/read, threads; retries,
concurrent duplicates, bad input and project scoping."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.coordination import test_agents
from tests.coordination.test_agents import Keys, envelope_error

# The fixtures of test_agents, shared (bound here so pytest finds them in this module).
api = test_agents.api
keys = test_agents.keys

NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


async def send(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("project", "p")
    response = await api.post("/api/messages", json=body)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    assert set(out) == {"message_id", "cursor"}
    return out


async def inbox(api: httpx.AsyncClient, agent: str, since: int = 0, **params: Any) -> Any:
    params = {"project": "p", "since_cursor": since, **params}
    response = await api.get(f"/api/inbox/{agent}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def events(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT event_type, agent, message_id FROM coordination_events ORDER BY cursor")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_send_and_read_inbox_with_exact_shapes(api: httpx.AsyncClient) -> None:
    sent = await send(
        api,
        id="m1",
        thread_id="t1",
        **{"from": "planner"},
        to=["reviewer"],
        cc=["lead"],
        bcc=["auditor"],
        subject="PR ready",
        body="please review",
        importance="high",
        ack_required=True,
    )
    assert sent["message_id"] == "m1" and sent["cursor"] > 0
    box = await inbox(api, "reviewer")
    assert set(box) == {"messages", "cursor"} and box["cursor"] == sent["cursor"]
    (message,) = box["messages"]
    assert NANO.match(message.pop("created_at"))
    assert message == {
        "id": "m1",
        "thread_id": "t1",
        "project": "p",
        "from": "planner",
        "to": ["reviewer"],
        "cc": ["lead"],
        "subject": "PR ready",
        "body": "please review",
        "importance": "high",
        "ack_required": True,
        "cursor": sent["cursor"],
    }
    # cc and bcc recipients get it too; a bcc recipient sees only itself in bcc.
    assert [m["id"] for m in (await inbox(api, "lead"))["messages"]] == ["m1"]
    (hidden,) = (await inbox(api, "auditor"))["messages"]
    assert hidden["bcc"] == ["auditor"]
    # Nothing for the sender, nothing in another project.
    assert (await inbox(api, "planner"))["messages"] == []
    assert (await inbox(api, "reviewer", project="q"))["messages"] == []


async def test_minimal_message_omits_empty_fields_and_generates_id(
    api: httpx.AsyncClient,
) -> None:
    sent = await send(api, **{"from": "a"}, to=["b"])
    assert len(sent["message_id"]) == 36
    (message,) = (await inbox(api, "b"))["messages"]
    assert set(message) == {
        "id",
        "thread_id",
        "project",
        "from",
        "to",
        "body",
        "created_at",
        "cursor",
    }
    assert message["body"] == "" and message["thread_id"] == ""


async def test_inbox_pages_by_cursor_and_limit(api: httpx.AsyncClient) -> None:
    cursors = [
        (await send(api, **{"from": "a"}, to=["b"], body=str(i)))["cursor"] for i in range(5)
    ]
    assert cursors == sorted(cursors)
    first = await inbox(api, "b", limit=2)
    assert [m["body"] for m in first["messages"]] == ["0", "1"]
    assert first["cursor"] == cursors[1]
    rest = await inbox(api, "b", since=first["cursor"])
    assert [m["body"] for m in rest["messages"]] == ["2", "3", "4"]
    assert rest["cursor"] == cursors[4]
    # Past the end: nothing, and the cursor given back.
    assert await inbox(api, "b", since=cursors[4]) == {"messages": [], "cursor": cursors[4]}


async def test_retry_overwrites_and_delivers_nothing_twice(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await send(api, id="r1", thread_id="old", **{"from": "a"}, to=["b"], body="v1")
    again = await send(api, id="r1", thread_id="new", **{"from": "a"}, to=["b"], body="v2")
    assert again == first
    (message,) = (await inbox(api, "b"))["messages"]
    assert message["body"] == "v2" and message["thread_id"] == "new"
    assert message["cursor"] == first["cursor"]
    assert await events(sessions) == [("message.created", "a", "r1")]
    # The thread index follows the move: "old" is gone, "new" has it once.
    threads = (await api.get("/api/threads", params={"agent": "b", "project": "p"})).json()
    assert [(t["thread_id"], t["message_count"]) for t in threads["threads"]] == [("new", 1)]
    # A retry naming a new recipient delivers to that one only, with a new cursor.
    third = await send(api, id="r1", thread_id="new", **{"from": "a"}, to=["b", "c"], body="v3")
    assert third == first
    (for_c,) = (await inbox(api, "c"))["messages"]
    assert for_c["cursor"] > first["cursor"] and for_c["body"] == "v3"
    assert len((await inbox(api, "b"))["messages"]) == 1
    async with sessions() as session:
        types = (
            (
                await session.execute(
                    text(
                        "SELECT event_type FROM events WHERE event_type LIKE 'imi.message.%' "
                        "ORDER BY id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert types == ["imi.message.created", "imi.message.updated", "imi.message.updated"]


async def test_concurrent_duplicate_posts_deliver_once(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = {"id": "dup", "project": "p", "from": "a", "to": ["b"], "body": "x"}
    answers = await asyncio.gather(*(api.post("/api/messages", json=body) for _ in range(8)))
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["cursor"] for r in answers}) == 1
    assert len((await inbox(api, "b"))["messages"]) == 1
    assert await events(sessions) == [("message.created", "a", "dup")]


async def test_ack_and_read_are_events_once_each(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sent = await send(api, id="k1", **{"from": "a"}, to=["b", "c"], ack_required=True)
    counts = (await api.get("/api/inbox/b/counts", params={"project": "p"})).json()
    assert counts == {
        "agent": "b",
        "counts": [
            {"project": "p", "total": 1, "unread": 1, "unacked": 1, "last_cursor": sent["cursor"]}
        ],
    }
    read = await api.post("/api/messages/k1/read", params={"project": "p"}, json={"agent": "b"})
    assert read.status_code == 200 and read.content == b""
    ack = await api.post("/api/messages/k1/ack", params={"project": "p", "agent": "b"})
    assert ack.status_code == 200
    # Repeats append nothing; intermute's client sends {} without an agent: one event too.
    await api.post("/api/messages/k1/ack", params={"project": "p", "agent": "b"})
    await api.post("/api/messages/k1/ack", params={"project": "p"}, json={})
    await api.post("/api/messages/k1/ack", params={"project": "p"}, json={})
    assert await events(sessions) == [
        ("message.created", "a", "k1"),
        ("message.read", "b", "k1"),
        ("message.ack", "b", "k1"),
        ("message.ack", "", "k1"),
    ]
    counts = (await api.get("/api/inbox/b/counts")).json()["counts"]
    assert counts[0]["unread"] == 0 and counts[0]["unacked"] == 0
    # c has done neither.
    other = (await api.get("/api/inbox/c/counts", params={"project": "p"})).json()["counts"]
    assert other[0]["unread"] == 1 and other[0]["unacked"] == 1
    # Ack/read do not show up as inbox entries.
    assert len((await inbox(api, "b"))["messages"]) == 1


@pytest.mark.parametrize("action", ["ack", "read"])
async def test_ack_of_unknown_message_or_non_recipient_is_404(
    api: httpx.AsyncClient, action: str
) -> None:
    await send(api, id="k2", **{"from": "a"}, to=["b"])
    unknown = await api.post(f"/api/messages/nope/{action}", params={"project": "p"})
    assert envelope_error(unknown, 404)["code"] == "NOT_FOUND"
    wrong_project = await api.post(f"/api/messages/k2/{action}", params={"project": "q"})
    assert envelope_error(wrong_project, 404)["code"] == "NOT_FOUND"
    stranger = await api.post(
        f"/api/messages/k2/{action}", params={"project": "p"}, json={"agent": "zed"}
    )
    assert envelope_error(stranger, 404)["code"] == "NOT_FOUND"
    assert (await api.post(f"/api/messages/k2/{action}", content=b"{bad")).status_code == 400
    assert (await api.get(f"/api/messages/k2/{action}")).status_code == 405
    assert (await api.post("/api/messages/k2/shout")).status_code == 404


async def test_threads_list_and_messages_in_order(api: httpx.AsyncClient) -> None:
    one = await send(api, id="t-1", thread_id="T", **{"from": "a"}, to=["b"], body="first")
    two = await send(api, id="t-2", thread_id="T", **{"from": "b"}, to=["a"], body="second")
    await send(api, id="u-1", thread_id="U", **{"from": "a"}, to=["c"], body="elsewhere")
    listed = (await api.get("/api/threads", params={"agent": "a", "project": "p"})).json()
    assert set(listed) == {"threads", "cursor"}
    (thread_u, thread_t) = listed["threads"]  # most recent first
    assert thread_u["thread_id"] == "U" and thread_t["thread_id"] == "T"
    assert set(thread_t) == {
        "thread_id",
        "last_cursor",
        "message_count",
        "last_from",
        "last_body",
        "last_at",
    }
    assert thread_t["message_count"] == 2 and thread_t["last_from"] == "b"
    assert thread_t["last_body"] == "second" and thread_t["last_cursor"] == two["cursor"]
    assert listed["cursor"] == thread_t["last_cursor"]
    # Paging: below the first page's cursor there is nothing more.
    older = await api.get(
        "/api/threads", params={"agent": "a", "project": "p", "cursor": listed["cursor"]}
    )
    assert older.json() == {"threads": [], "cursor": listed["cursor"]}
    page = await api.get("/api/threads", params={"agent": "a", "project": "p", "limit": 1})
    assert [t["thread_id"] for t in page.json()["threads"]] == ["U"]

    thread = (await api.get("/api/threads/T", params={"project": "p"})).json()
    assert thread["thread_id"] == "T" and thread["cursor"] == two["cursor"]
    assert [m["body"] for m in thread["messages"]] == ["first", "second"]
    assert [m["cursor"] for m in thread["messages"]] == [one["cursor"], two["cursor"]]
    after = await api.get("/api/threads/T", params={"project": "p", "cursor": one["cursor"]})
    assert [m["id"] for m in after.json()["messages"]] == ["t-2"]


async def test_thread_and_threads_errors(api: httpx.AsyncClient) -> None:
    assert envelope_error(await api.get("/api/threads/none", params={"project": "p"}), 404)
    missing_agent = await api.get("/api/threads", params={"project": "p"})
    assert dict(envelope_error(missing_agent, 400)["details"])["field"] == "agent"  # type: ignore[call-overload]
    bad_cursor = await api.get("/api/threads", params={"agent": "a", "cursor": "x"})
    assert envelope_error(bad_cursor, 400)
    assert (await api.post("/api/threads")).status_code == 405
    assert (await api.delete("/api/threads/T")).status_code == 405


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{oops", "body"),
        (b'"text"', "body"),
        (b'{"to": ["b"]}', "from"),
        (b'{"from": "a"}', "to"),
        (b'{"from": "a", "to": []}', "to"),
        (b'{"from": "a", "to": "b"}', "to"),
        (b'{"from": "a", "to": [""]}', "to"),
        (b'{"from": "a", "to": ["b"], "ack_required": "maybe"}', "ack_required"),
        (b'{"from": "a", "to": ["b"], "id": "' + b"i" * 201 + b'"}', "id"),
        (b'{"from": "a", "to": ["b"], "body": "' + b"x" * 65_537 + b'"}', "body"),
    ],
)
async def test_send_bad_input_is_400(api: httpx.AsyncClient, body: bytes, field: str) -> None:
    response = await api.post(
        "/api/messages", content=body, headers={"Content-Type": "application/json"}
    )
    error = envelope_error(response, 400)
    assert dict(error["details"]).get("field") == field  # type: ignore[call-overload]


async def test_too_many_recipients_and_bad_inbox_params(api: httpx.AsyncClient) -> None:
    many = {"from": "a", "to": [f"r{i}" for i in range(101)]}
    assert envelope_error(await api.post("/api/messages", json=many), 400)
    for params in (
        {"since_cursor": "x"},
        {"since_cursor": "-1"},
        {"limit": "0"},
        {"limit": "5000"},
    ):
        assert envelope_error(await api.get("/api/inbox/b", params=params), 400)
    assert (await api.delete("/api/messages")).status_code == 405
    long = "x" * 201
    for path in (f"/api/inbox/{long}", f"/api/inbox/{long}/counts", f"/api/threads/{long}"):
        assert envelope_error(await api.get(path), 400)["code"] == "VALIDATION_ERROR"
    assert envelope_error(await api.get("/api/threads", params={"agent": long}), 400)
    assert (await api.post("/api/inbox/b")).status_code == 405


async def test_restricted_key_messages_stay_in_its_project(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    auth = keys.auth(keys.restricted)
    sent = await api.post("/api/messages", json={"from": "a", "to": ["b"]}, headers=auth)
    assert sent.status_code == 200, sent.text
    box = (await api.get("/api/inbox/b", headers=auth)).json()
    assert [m["project"] for m in box["messages"]] == [keys.project]
    for call in (
        api.post("/api/messages", json={"project": "x", "from": "a", "to": ["b"]}, headers=auth),
        api.get("/api/inbox/b", params={"project": "x"}, headers=auth),
        api.get("/api/inbox/b/counts", params={"project": "x"}, headers=auth),
        api.get("/api/threads", params={"agent": "b", "project": "x"}, headers=auth),
        api.post("/api/messages/m/ack", params={"project": "x"}, headers=auth),
    ):
        assert envelope_error(await call, 403)["code"] == "FORBIDDEN"
    # Its counts show its project only, though the agent has mail elsewhere.
    await send(api, project="elsewhere", **{"from": "a"}, to=["b"])
    counts = (await api.get("/api/inbox/b/counts", headers=auth)).json()["counts"]
    assert [c["project"] for c in counts] == [keys.project]
    ack = await api.post(
        f"/api/messages/{sent.json()['message_id']}/ack", json={"agent": "b"}, headers=auth
    )
    assert ack.status_code == 200
    reader = keys.auth(keys.reader)
    refused = await api.post("/api/messages", json={"from": "a", "to": ["b"]}, headers=reader)
    assert envelope_error(refused, 403)["code"] == "FORBIDDEN"
