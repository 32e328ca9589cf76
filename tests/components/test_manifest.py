"""Manifest import: the 33GOD components.toml, idempotency, updates, bad documents, YAML."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.components.manifest import ImportReport, import_manifest, parse_manifest
from imi.components.models import ComponentKind, ComponentUpdate
from imi.components.service import get_component_by_name, list_components, update_component
from imi.errors import NotFound, ValidationFailed
from tests.components.helpers import count_events, event_payloads, make_component
from tests.factories import make_project

MANIFEST = """
[components]
bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
hookd     = { path = "hookd", kind = "local", enabled = true }
iMi       = { path = "iMi", kind = "submodule", enabled = true }
HeyMa     = { path = "HeyMa", kind = "submodule", enabled = false }
holyfields = { path = "holyfields", kind = "submodule", enabled = true }
"""
NAMES = ["bloodbank", "hookd", "iMi", "HeyMa", "holyfields"]

MANIFEST_YAML = """
components:
  bloodbank: {path: bloodbank, kind: submodule, enabled: true}
  hookd:
    path: hookd
    kind: local
    enabled: true
  iMi: {path: iMi, kind: submodule, enabled: true}
  HeyMa: {path: HeyMa, kind: submodule, enabled: false}
  holyfields: {path: holyfields, kind: submodule, enabled: true}
"""


async def test_every_33god_entry_is_importable(session: AsyncSession) -> None:
    project = await make_project(session)
    report = await import_manifest(session, project_id=project.id, body=MANIFEST)
    assert report.created == NAMES
    assert (report.updated, report.unchanged) == ([], [])
    assert [c.name for c in report.components] == NAMES

    stored = {c.name: c for c in (await list_components(session, project_id=project.id)).items}
    assert set(stored) == set(NAMES)  # mixed-case names kept as written
    assert (stored["hookd"].kind, stored["hookd"].path) == ("local", "hookd")
    assert stored["HeyMa"].enabled is False
    assert all(stored[n].enabled for n in NAMES if n != "HeyMa")
    assert {stored[n].kind for n in NAMES if n != "hookd"} == {"submodule"}
    assert all(c.meta == {} and c.parent_project_id == project.id for c in stored.values())

    payloads = await event_payloads(session, "imi.component.registered")
    assert [p["name"] for p in payloads] == NAMES
    assert payloads[3]["enabled"] is False
    assert payloads[0]["source"] == "manifest"


MANIFEST_ARRAY = """
[[components]]
name = "bloodbank"
path = "bloodbank"
kind = "submodule"
enabled = true

[[components]]
name = "hookd"
path = "hookd"
kind = "local"
enabled = true

[[components]]
name = "iMi"
path = "iMi"
kind = "submodule"
enabled = true

[[components]]
name = "HeyMa"
path = "HeyMa"
kind = "submodule"
enabled = false

[[components]]
name = "holyfields"
path = "holyfields"
kind = "submodule"
enabled = true
owner = "platform"
"""


async def test_array_of_tables_form_imports_the_same(session: AsyncSession) -> None:
    """``[[components]]`` entries naming themselves are the same manifest as ``[components]``."""
    project = await make_project(session)
    report = await import_manifest(session, project_id=project.id, body=MANIFEST_ARRAY)
    assert report.created == NAMES
    stored = {c.name: c for c in (await list_components(session, project_id=project.id)).items}
    assert stored["HeyMa"].enabled is False and stored["hookd"].kind == "local"
    assert stored["holyfields"].meta == {"owner": "platform"}  # name is not metadata
    assert stored["bloodbank"].meta == {}
    # The table form of the same components changes nothing but the extra key.
    again = await import_manifest(session, project_id=project.id, body=MANIFEST)
    assert again.created == [] and again.updated == []
    assert parse_manifest(MANIFEST_ARRAY)[1].name == parse_manifest(MANIFEST)[1].name
    for body, word in (
        ('[[components]]\npath = "x"\n', "name"),
        ("components = [1, 2]\n", "name"),
        ('[[components]]\nname = "a"\n[[components]]\nname = "a"\n', "twice"),
    ):
        with pytest.raises(ValidationFailed) as err:
            parse_manifest(body)
        assert word in err.value.message


async def test_second_import_changes_nothing(session: AsyncSession) -> None:
    project = await make_project(session)
    first = await import_manifest(session, project_id=project.id, body=MANIFEST)
    await session.commit()
    events_before = await count_events(session)
    assert events_before == 5

    second = await import_manifest(session, project_id=project.id, body=MANIFEST)
    assert second.created == second.updated == []
    assert second.unchanged == NAMES
    assert [c.id for c in second.components] == [c.id for c in first.components]
    assert [c.updated_at for c in second.components] == [c.updated_at for c in first.components]
    await session.commit()
    assert await count_events(session) == events_before
    assert (await list_components(session, project_id=project.id)).total == 5


async def test_concurrent_imports_create_each_component_once(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    project = await make_project(session)
    await session.commit()

    async def attempt() -> ImportReport:
        async with sessions() as own:
            report = await import_manifest(own, project_id=project.id, body=MANIFEST)
            await asyncio.sleep(0.05)  # keep the rows locked so the other import waits
            await own.commit()
            return report

    reports = await asyncio.gather(attempt(), attempt())
    assert sorted(len(r.created) for r in reports) == [0, 5]
    assert sorted(len(r.unchanged) for r in reports) == [0, 5]
    assert [c.id for c in reports[0].components] == [c.id for c in reports[1].components]
    assert (await list_components(session, project_id=project.id)).total == 5
    assert await count_events(session) == 5


async def test_changed_entries_are_updated_and_absent_ones_left_alone(
    session: AsyncSession,
    committed_database: None,  # a real commit: now() moves on for the update
) -> None:
    project = await make_project(session)
    await import_manifest(session, project_id=project.id, body=MANIFEST)
    await session.commit()
    changed = """
    [components]
    bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
    iMi       = { path = "services/iMi", kind = "submodule", enabled = true }
    HeyMa     = { path = "HeyMa", kind = "submodule", enabled = true }
    candybar  = { path = "candybar", kind = "external", enabled = false }
    """
    report = await import_manifest(session, project_id=project.id, body=changed)
    assert report.created == ["candybar"]
    assert report.updated == ["iMi", "HeyMa"]
    assert report.unchanged == ["bloodbank"]
    assert [c.name for c in report.components] == ["bloodbank", "iMi", "HeyMa", "candybar"]
    imi = await get_component_by_name(session, project_id=project.id, name="iMi")
    assert imi.path == "services/iMi"
    assert imi.updated_at is not None and imi.created_at is not None
    assert imi.updated_at > imi.created_at
    assert (await get_component_by_name(session, project_id=project.id, name="HeyMa")).enabled
    candybar = await get_component_by_name(session, project_id=project.id, name="candybar")
    assert (candybar.kind, candybar.enabled) == ("external", False)
    # Not in the document: untouched, not deleted, not disabled.
    hookd = await get_component_by_name(session, project_id=project.id, name="hookd")
    assert hookd.enabled is True
    assert (await list_components(session, project_id=project.id)).total == 6
    updated = await event_payloads(session, "imi.component.updated")
    assert [p["name"] for p in updated] == ["iMi", "HeyMa"]
    assert updated[0]["path"] == "services/iMi"
    assert updated[0]["changed_fields"] == ["path"]
    assert updated[1]["changed_fields"] == ["enabled"]
    assert await count_events(session, "imi.component.registered") == 6


async def test_extra_keys_go_to_metadata_and_merge(session: AsyncSession) -> None:
    project = await make_project(session)
    body = """
    [components]
    bloodbank = { path = "bloodbank", kind = "submodule", enabled = true, owner = "ops", since = 2024-05-01, tags = ["bus"] }
    """  # noqa: E501
    await import_manifest(session, project_id=project.id, body=body)
    bloodbank = await get_component_by_name(session, project_id=project.id, name="bloodbank")
    assert bloodbank.meta == {"owner": "ops", "since": "2024-05-01", "tags": ["bus"]}

    # Metadata added by other means survives a re-import; the import is then unchanged.
    await update_component(session, bloodbank.id, ComponentUpdate(metadata={"note": "hi"}))
    again = await import_manifest(session, project_id=project.id, body=body)
    assert again.unchanged == ["bloodbank"]

    # A changed extra value is an update, merged into the stored metadata.
    report = await import_manifest(
        session, project_id=project.id, body=body.replace('"ops"', '"platform"')
    )
    assert report.updated == ["bloodbank"]
    [*_, payload] = await event_payloads(session, "imi.component.updated")
    assert payload["changed_fields"] == ["metadata"]
    assert report.components[0].meta == {
        "owner": "platform",
        "since": "2024-05-01",
        "tags": ["bus"],
        "note": "hi",
    }
    nested = await import_manifest(
        session, project_id=project.id, body=body.replace('["bus"]', '["bus", "amqp"]')
    )
    assert nested.updated == ["bloodbank"]


async def test_import_updates_a_component_registered_by_hand(session: AsyncSession) -> None:
    project = await make_project(session)
    made = await make_component(session, project, "hookd", kind=ComponentKind.EXTERNAL)
    report = await import_manifest(session, project_id=project.id, body=MANIFEST)
    assert report.updated == ["hookd"]
    assert report.components[1].id == made.id
    assert report.components[1].kind == "local"


async def test_defaults_and_empty_table(session: AsyncSession) -> None:
    project = await make_project(session)
    report = await import_manifest(
        session, project_id=project.id, body='[components]\nbare = {}\n"with space" = {}\n'
    )
    assert report.created == ["bare", "with space"]
    bare = report.components[0]
    assert (bare.path, bare.kind, bare.enabled) == (None, "local", True)
    empty = await import_manifest(session, project_id=project.id, body="[components]\n")
    assert (empty.created, empty.updated, empty.unchanged, empty.components) == ([], [], [], [])


async def test_unknown_project(session: AsyncSession) -> None:
    with pytest.raises(NotFound) as err:
        await import_manifest(session, project_id=uuid.uuid4(), body=MANIFEST)
    assert err.value.field == "project_id"


async def test_malformed_toml_reports_position(session: AsyncSession) -> None:
    project = await make_project(session)
    body = '[components]\nbloodbank = { path = "bloodbank", kind = submodule }\n'
    with pytest.raises(ValidationFailed) as err:
        await import_manifest(session, project_id=project.id, body=body)
    assert err.value.field == "body"
    assert "line 2" in err.value.message
    assert err.value.details["line"] == 2
    assert err.value.details["column"] > 1
    assert await count_events(session) == 0


@pytest.mark.parametrize(
    ("body", "words", "details"),
    [
        ("[other]\nx = 1\n", ["components"], {"key": "components"}),
        ("components = 3\n", ["components"], {"key": "components"}),
        ('[components]\nhookd = "hookd"\n', ["'hookd'", "table"], {"component": "hookd"}),
        (
            '[components]\niMi = { path = "iMi", kind = "library", enabled = true }\n',
            ["'iMi'", "kind", "library"],
            {"component": "iMi", "key": "kind"},
        ),
        (
            '[components]\nHeyMa = { path = "HeyMa", kind = "local", enabled = "yes" }\n',
            ["'HeyMa'", "enabled"],
            {"component": "HeyMa", "key": "enabled"},
        ),
        (
            "[components]\nhookd = { path = 7 }\n",
            ["'hookd'", "path"],
            {"component": "hookd", "key": "path"},
        ),
        ('[components]\n"  " = {}\n', ["name"], {}),
        ('[components]\na = {}\n" a " = {}\n', ["'a'", "twice"], {"component": "a"}),
    ],
)
async def test_invalid_documents(
    session: AsyncSession, body: str, words: list[str], details: dict[str, Any]
) -> None:
    project = await make_project(session)
    valid_first = '[components]\nfine = { path = "fine" }\n'
    await import_manifest(session, project_id=project.id, body=valid_first)
    with pytest.raises(ValidationFailed) as err:
        await import_manifest(session, project_id=project.id, body=body)
    assert err.value.field == "body"
    for word in words:
        assert word in err.value.message
    for key, value in details.items():
        assert err.value.details[key] == value
    # Nothing of a bad document is written: validation happens before any statement.
    assert (await list_components(session, project_id=project.id)).total == 1


async def test_statement_count_does_not_grow_with_the_document(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    project = await make_project(session)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    def document(n: int, kind: str) -> str:
        lines = [f'c{i} = {{ path = "c{i}", kind = "{kind}" }}' for i in range(n)]
        return "[components]\n" + "\n".join(lines) + "\n"

    counts = []
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        for body in (document(3, "local"), document(40, "local"), document(40, "external")):
            statements.clear()
            await import_manifest(session, project_id=project.id, body=body)
            counts.append(len(statements))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    # project check + select of existing rows + upsert + one outbox insert
    assert counts == [4, 4, 4]  # all new; 3 unchanged and 37 new; all updated
    statements.clear()
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await import_manifest(session, project_id=project.id, body=document(40, "external"))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 3  # nothing changed: no outbox insert


async def test_yaml_manifest(session: AsyncSession) -> None:
    pytest.importorskip("yaml")
    project = await make_project(session)
    report = await import_manifest(
        session, project_id=project.id, body=MANIFEST_YAML, format="yaml"
    )
    assert report.created == NAMES
    # The same components in TOML are the same document.
    again = await import_manifest(session, project_id=project.id, body=MANIFEST)
    assert again.unchanged == NAMES
    heyma = await get_component_by_name(session, project_id=project.id, name="HeyMa")
    assert heyma.enabled is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("components:\n  a: {path: [unclosed\n", "line"),
        ("projects:\n  a: {}\n", "components"),
        ("- just\n- a list\n", "components"),
        ("components:\n  hookd: {kind: local, enabled: maybe}\n", "enabled"),
    ],
)
async def test_invalid_yaml(session: AsyncSession, body: str, message: str) -> None:
    pytest.importorskip("yaml")
    project = await make_project(session)
    with pytest.raises(ValidationFailed) as err:
        await import_manifest(session, project_id=project.id, body=body, format="yaml")
    assert err.value.field == "body"
    assert message in err.value.message


def test_yaml_empty_components_and_unknown_format() -> None:
    pytest.importorskip("yaml")
    assert parse_manifest("components:\n", "yaml") == []
    with pytest.raises(ValidationFailed) as err:
        parse_manifest("[components]\n", "json")  # type: ignore[arg-type]
    assert err.value.field == "format"


def test_parse_manifest_keeps_document_order() -> None:
    entries = parse_manifest(MANIFEST)
    assert [e.name for e in entries] == NAMES
    assert entries[3].kind is ComponentKind.SUBMODULE
    assert entries[3].enabled is False


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        ("[components]\na = " + "[" * 5000 + "]" * 5000, "toml"),
        ("components:\n  a: " + "[" * 5000 + "]" * 5000, "yaml"),
        ('[components]\na = { path = "a", extra = ' + "[" * 40 + "]" * 40 + " }", "toml"),
    ],
)
def test_deeply_nested_manifests_are_refused(body: str, fmt: Any) -> None:
    """5,000 levels took the import down with a RecursionError (a 500)."""
    with pytest.raises(ValidationFailed) as err:
        parse_manifest(body, fmt)
    assert "deep" in err.value.message and err.value.field == "body"
