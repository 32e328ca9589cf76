"""The AsyncAPI document: served, well-formed, complete (every queue, binding and published key)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from imi.app import create_app
from imi.messaging import topology
from imi.messaging.asyncapi import asyncapi_document
from imi.messaging.catalogue import PUBLISHED
from imi.messaging.consumers import commands
from imi.settings import Settings

IMI = Path(__file__).resolve().parents[2] / "imi"
KEY = re.compile(r'"(imi\.[a-z_]+\.[a-z_]+)"')
COMPONENT_KEY = re.compile(r"^[A-Za-z0-9.\-_]+$")


def settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        rabbitmq_url="amqp://user:secret@rabbit.example:5673/",
        bloodbank_exchange="bloodbank.events.v1",
        queue_prefix="staging.",
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(settings(), "1.2.3")


def emitted_keys() -> set[str]:
    """Every routing key the services hand to PendingEvent, read from the source."""
    keys: set[str] = set()
    for path in IMI.rglob("*.py"):
        source = path.read_text()
        if "PendingEvent(" in source and path.parent.name != "events":
            keys.update(k for k in KEY.findall(source) if not k.startswith("imi.graphql."))
    failures = {
        commands.CMD_FAILED,
        commands.PROJECT_REGISTRATION_FAILED,
        commands.WORKTREE_CREATION_FAILED,
    }
    return keys | failures


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_every_published_key_is_a_channel(document: dict[str, Any]) -> None:
    catalogue = {event.key for event in PUBLISHED}
    assert emitted_keys() == catalogue
    addresses = {c["address"]: c for c in document["channels"].values()}
    for key in catalogue:
        channel = addresses[key]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "bloodbank.events.v1"
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
    sends = [o for o in document["operations"].values() if o["action"] == "send"]
    assert len(sends) == len(catalogue)
    started = document["components"]["schemas"]["imi.work.started.payload"]
    assert {"work_item_id", "branch_name", "status", "ticket_keys"} <= set(started["required"])
    failed = document["components"]["schemas"]["imi.cmd.failed.payload"]
    assert {"request", "error"} <= set(failed["required"])


def test_every_queue_and_binding_is_consumed(document: dict[str, Any]) -> None:
    queues = {
        c["address"]: c
        for c in document["channels"].values()
        if c["bindings"]["amqp"]["is"] == "queue"
    }
    assert set(queues) == {f"staging.{spec.name}" for spec in topology.QUEUES}
    messages = document["components"]["messages"]
    for spec in topology.QUEUES:
        channel = queues[f"staging.{spec.name}"]
        names = {resolve(document, m["$ref"])["name"] for m in channel["messages"].values()}
        assert set(spec.bindings) <= names | {"imi.cmd.*"}, spec.name
        assert f"staging.{spec.name}.dlq" in channel["description"]
    assert {"imi.cmd.register_project", "tool.mutation.*", "git.sync_completed"} <= {
        m["name"] for m in messages.values()
    }
    receives = [o for o in document["operations"].values() if o["action"] == "receive"]
    assert len(receives) == len(topology.QUEUES)


def test_the_document_is_well_formed(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == "1.2.3"
    server = document["servers"]["bloodbank"]
    assert server["host"] == "rabbit.example:5673" and "secret" not in str(document)
    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(k) for k in document["components"][section])
    assert all(COMPONENT_KEY.match(k) for k in document["channels"])
    for ref in refs(document):
        assert resolve(document, ref) is not None, ref
    for operation in document["operations"].values():
        channel = resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert resolve(document, message["$ref"]) in channel["messages"].values()


async def test_served_as_json_and_html(database_url: str) -> None:
    app = create_app(settings(), database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client:
        response = await client.get("/asyncapi.json")
        assert response.status_code == 200
        body = response.json()
        assert body["asyncapi"] == "3.0.0" and len(body["channels"]) == len(PUBLISHED) + 7
        page = await client.get("/asyncapi")
        assert page.status_code == 200 and "asyncapi.json" in page.text
