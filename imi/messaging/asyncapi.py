"""The AsyncAPI 3.0 document of iMi's Bloodbank traffic, served at ``GET /asyncapi.json`` (and
rendered at ``GET /asyncapi``).

Published channels: one per routing key of ``catalogue.PUBLISHED`` on the topic exchange, each
message the Bloodbank envelope around its payload. Consumed channels: one per queue of
``topology.QUEUES``, with its bindings, dead-letter queue and the payloads it accepts.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from imi.messaging import topology
from imi.messaging.catalogue import ENVELOPE, PUBLISHED, JsonSchema
from imi.messaging.consumed import CONSUMED, consumed_schemas
from imi.pages import static_url
from imi.settings import Settings

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"
SCHEMAS = "#/components/schemas/"


def component_name(key: str) -> str:
    """A routing key as an AsyncAPI component key (``^[A-Za-z0-9.\\-_]+$``)."""
    return re.sub(r"[^A-Za-z0-9.\-_]", "_", key.replace("*", "any").replace("#", "all"))


def _schemas() -> dict[str, JsonSchema]:
    schemas = consumed_schemas(SCHEMAS)
    schemas["EventEnvelope"] = ENVELOPE
    for event in PUBLISHED:
        schemas[component_name(event.key) + ".payload"] = event.payload_schema()
    return schemas


def _server(settings: Settings) -> dict[str, Any]:
    parts = urlsplit(settings.rabbitmq_url or "amqp://localhost:5672/")
    host = f"{parts.hostname or 'localhost'}:{parts.port or 5672}"  # never the credentials
    return {
        "host": host,
        "pathname": parts.path or "/",
        "protocol": parts.scheme or "amqp",
        "description": "Bloodbank's RabbitMQ (IMI_RABBITMQ_URL)",
    }


def _published(settings: Settings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    exchange = {
        "name": settings.bloodbank_exchange,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    for event in PUBLISHED:
        name = component_name(event.key)
        note = " Published while IMI_PUBLISH_V2_EVENTS is on." if event.v2 else ""
        messages[name] = {
            "name": event.key,
            "title": event.key,
            "summary": event.trigger + "." + note,
            "contentType": "application/json",
            "correlationId": {"location": "$message.payload#/metadata/correlation_id"},
            "payload": {
                "allOf": [
                    {"$ref": SCHEMAS + "EventEnvelope"},
                    {
                        "properties": {
                            "event_type": {"const": event.key},
                            "payload": {"$ref": f"{SCHEMAS}{name}.payload"},
                        }
                    },
                ]
            },
            "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": AMQP_BINDING}},
        }
        channels[name] = {
            "address": event.key,
            "description": f"Routing key {event.key} on {settings.bloodbank_exchange}.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDING}
            },
        }
        operations[f"publish.{name}"] = {
            "action": "send",
            "summary": event.trigger,
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    return channels, operations, messages


def _consumed(settings: Settings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    prefix = settings.queue_prefix
    for spec in topology.QUEUES:
        queue = prefix + spec.name
        channel_id = "queue." + component_name(spec.name)
        refs: dict[str, Any] = {}
        for key, schema, enveloped in CONSUMED[spec.name]:
            name = "in." + component_name(key)
            payload: JsonSchema = {"$ref": SCHEMAS + schema}
            if enveloped:
                payload = {
                    "allOf": [
                        {"$ref": SCHEMAS + "IncomingEnvelope"},
                        {"properties": {"payload": {"$ref": SCHEMAS + schema}}},
                    ]
                }
            messages[name] = {
                "name": key,
                "title": key,
                "summary": f"{key} ({'envelope' if enveloped else 'flat body'})",
                "contentType": "application/json",
                "payload": payload,
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        channels[channel_id] = {
            "address": queue,
            "title": queue,
            "description": f"{spec.description}. Bound to {settings.bloodbank_exchange} with "
            f"{', '.join(spec.bindings)}. Quorum queue; after {topology.MAX_DELIVERIES} "
            f"deliveries, or at once when unparseable, a message moves to {queue}.dlq "
            f"(via {prefix}{topology.DLX_NAME}).",
            "messages": refs,
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": queue,
                        "durable": True,
                        "exclusive": False,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING,
                }
            },
        }
        operations[f"consume.{component_name(spec.name)}"] = {
            "action": "receive",
            "summary": spec.description,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{n}"} for n in refs],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
        }
    return channels, operations, messages


def asyncapi_document(settings: Settings, version: str = "0.0.0") -> dict[str, Any]:
    published = _published(settings)
    consumed = _consumed(settings)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "iMi on Bloodbank",
            "version": version,
            "description": "Events iMi publishes (every state change, from the outbox) and the "
            "commands and external events it consumes.",
        },
        "defaultContentType": "application/json",
        "servers": {"bloodbank": _server(settings)},
        "channels": {**published[0], **consumed[0]},
        "operations": {**published[1], **consumed[1]},
        "components": {"schemas": _schemas(), "messages": {**published[2], **consumed[2]}},
    }


PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>iMi AsyncAPI</title>
    <link rel="icon" href="{static}/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="{static}/asyncapi/default.min.css">
  </head>
  <body>
    <div id="asyncapi">Loading the AsyncAPI document...</div>
    <script src="{static}/asyncapi/asyncapi-standalone.js"></script>
    <script>
      AsyncApiStandalone.render(
        {schema: {url: "{document}", options: {method: "GET"}},
         config: {show: {sidebar: true}}},
        document.getElementById("asyncapi"));
    </script>
  </body>
</html>
"""


def asyncapi_router(settings: Settings) -> APIRouter:
    """``GET /asyncapi.json`` (the document) and ``GET /asyncapi`` (a page rendering it)."""
    from imi.version import imi_version

    router = APIRouter(tags=["operations"])
    built: list[dict[str, Any]] = []  # built on first request, then served as is

    @router.get("/asyncapi.json", summary="AsyncAPI 3.0 document of published and consumed events")
    async def asyncapi_json() -> JSONResponse:
        if not built:
            built.append(asyncapi_document(settings, imi_version()))
        return JSONResponse(built[0])

    @router.get("/asyncapi", summary="The AsyncAPI document, rendered", include_in_schema=False)
    async def asyncapi_page(request: Request) -> HTMLResponse:
        # Assets from the package (imi/static): the page works offline.
        page = PAGE.replace("{static}", static_url(request))
        return HTMLResponse(page.replace("{document}", request.url_for("asyncapi_json").path))

    return router
