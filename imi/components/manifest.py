"""Import a meta-repo's component manifest (``components.toml``, or ``components.yaml``).

The TOML form (33GOD)::

    [components]
    bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
    iMi       = { path = "iMi", kind = "submodule", enabled = true }

The array-of-tables form is read too, each entry naming itself::

    [[components]]
    name = "bloodbank"
    path = "bloodbank"
    kind = "submodule"

The YAML form is a top-level ``components:`` mapping of the same entries (or a list of
entries with a ``name``). Each key is a component name (case kept); ``path`` (string),
``kind`` (submodule | local | external, default local) and ``enabled`` (bool, default true)
are columns; any other key of an entry is kept in
the component's metadata so nothing in the document is lost.

The import is an upsert keyed on (project, name): new names are registered, changed entries
updated, identical ones left untouched (no event). Components of the project that the document
does not mention are left alone: the import never deletes or disables anything.
"""

from __future__ import annotations

import math
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from sqlalchemy import Boolean, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.components.models import Component, ComponentKind
from imi.components.service import UNIQUE_NAME, component_payload, require_project
from imi.errors import ValidationFailed
from imi.models_base import check_metadata
from imi.outbox import PendingEvent, emit
from imi.serialize import jsonable

ManifestFormat = Literal["toml", "yaml"]
COLUMNS = ("path", "kind", "enabled")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    name: str
    path: str | None
    kind: ComponentKind
    enabled: bool
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Names per outcome, in document order, and every component of the document."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)


def _invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, field="body", **details)


def _load_toml(body: str) -> Any:
    try:
        return tomllib.loads(body)
    except RecursionError:
        raise _invalid("the manifest nests too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        position = _TOML_POSITION.search(str(exc))
        where = {"line": int(position[1]), "column": int(position[2])} if position else {}
        raise _invalid(f"invalid TOML: {exc}", **where) from None


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases: a few nested aliases expand exponentially."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases are not allowed in a manifest", event.start_mark
            )
        return super().compose_node(parent, index)


def _load_yaml(body: str) -> Any:
    try:
        return yaml.load(body, Loader=_NoAliasLoader)
    except RecursionError:
        raise _invalid("the manifest nests too deeply") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise _invalid(f"invalid YAML: {str(exc)[:200]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise _invalid(f"invalid YAML: {exc}") from None
        line, column = mark.line + 1, mark.column + 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise _invalid(
            f"invalid YAML: {problem} (at line {line}, column {column})", line=line, column=column
        ) from None


def _entry(name: Any, value: Any) -> ManifestEntry:
    if not isinstance(name, str) or not name.strip():
        raise _invalid(f"component name {name!r} must be a non-empty string", component=name)
    name = name.strip()
    if not isinstance(value, dict):
        raise _invalid(
            f"component {name!r}: entry must be a table of path, kind and enabled",
            component=name,
        )
    path = value.get("path")
    if path is not None and not isinstance(path, str):
        raise _invalid(f"component {name!r}: path must be a string", component=name, key="path")
    kind = value.get("kind", ComponentKind.LOCAL.value)
    if not isinstance(kind, str) or kind not in {k.value for k in ComponentKind}:
        allowed = ", ".join(k.value for k in ComponentKind)
        raise _invalid(
            f"component {name!r}: kind {kind!r} is not one of {allowed}",
            component=name,
            key="kind",
        )
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _invalid(
            f"component {name!r}: enabled must be true or false, got {enabled!r}",
            component=name,
            key="enabled",
        )
    extra = {str(k): v for k, v in value.items() if k not in COLUMNS}
    _check_storable(name, {"name": name, "path": path, **extra})
    try:
        check_metadata(extra)  # the metadata bounds: depth and size
    except ValueError as exc:
        raise _invalid(f"component {name!r}: {exc}", component=name) from None
    return ManifestEntry(name, path, ComponentKind(kind), enabled, jsonable(extra))


def _check_storable(name: str, value: Any) -> None:
    """PostgreSQL stores no NUL character in text or JSONB, and JSON has no nan/inf."""
    if isinstance(value, bytes | bytearray):
        raise _invalid(f"component {name!r}: binary values cannot be stored", component=name)
    if isinstance(value, str) and "\x00" in value:
        raise _invalid(f"component {name!r}: text must not contain NUL characters", component=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(f"component {name!r}: {value} is not a storable number", component=name)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_storable(name, key)
            _check_storable(name, item)
    elif isinstance(value, list):
        for item in value:
            _check_storable(name, item)


# Bounds: a manifest lists a meta-repo's components (33GOD has a few dozen), not a data dump.
MAX_MANIFEST_BYTES = 256 * 1024
MAX_MANIFEST_ENTRIES = 1000


def parse_manifest(body: str, format: ManifestFormat = "toml") -> list[ManifestEntry]:
    """The entries of a manifest document, in document order. Raises ValidationFailed."""
    try:
        size = len(body.encode())
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON "\ud800" escape
        raise _invalid("the manifest holds characters that are not valid Unicode") from None
    if size > MAX_MANIFEST_BYTES:
        raise _invalid(f"the manifest is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    if format == "toml":
        document = _load_toml(body)
    elif format == "yaml":
        document = _load_yaml(body)
    else:
        raise ValidationFailed("format must be toml or yaml", field="format")
    if not isinstance(document, dict) or "components" not in document:
        raise _invalid("the manifest has no components table", key="components")
    table = document["components"]
    if table is None and format == "yaml":
        table = {}  # `components:` with nothing under it
    if isinstance(table, list):
        pairs = _named_items(table)
    elif isinstance(table, dict):
        pairs = list(table.items())
    else:
        raise _invalid(
            "components must be a table of name = { ... } entries or a list of entries with a "
            "name ([[components]])",
            key="components",
        )
    if len(pairs) > MAX_MANIFEST_ENTRIES:
        raise _invalid(f"the manifest lists more than {MAX_MANIFEST_ENTRIES} components")
    entries = [_entry(name, value) for name, value in pairs]
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise _invalid(f"component {entry.name!r} appears twice", component=entry.name)
        seen.add(entry.name)
    return entries


def _named_items(items: list[Any]) -> list[tuple[Any, Any]]:
    """``[[components]]`` (TOML) or a YAML list: entries that carry their ``name``."""
    if len(items) > MAX_MANIFEST_ENTRIES:
        raise _invalid(f"the manifest lists more than {MAX_MANIFEST_ENTRIES} components")
    pairs: list[tuple[Any, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise _invalid(f"components entry {index + 1} must be a table with a name", index=index)
        pairs.append((item["name"], {k: v for k, v in item.items() if k != "name"}))
    return pairs


def _upsert(project_id: uuid.UUID, entries: list[ManifestEntry]) -> Any:
    """``INSERT .. ON CONFLICT DO UPDATE .. WHERE <changed> RETURNING component, inserted``."""
    upsert = insert(Component).values(
        [
            {
                "id": uuid.uuid4(),
                "parent_project_id": project_id,
                "name": e.name,
                "path": e.path,
                "kind": e.kind.value,
                "enabled": e.enabled,
                "meta": e.metadata,
            }
            for e in entries
        ]
    )
    new = upsert.excluded
    merged = col(Component.meta).op("||")(new["metadata"])
    return upsert.on_conflict_do_update(
        constraint=UNIQUE_NAME,
        set_={
            "path": new.path,
            "kind": new.kind,
            "enabled": new.enabled,
            "metadata": merged,
            "updated_at": func.now(),
        },
        where=or_(
            col(Component.path).is_distinct_from(new.path),
            col(Component.kind).is_distinct_from(new.kind),
            col(Component.enabled).is_distinct_from(new.enabled),
            merged.is_distinct_from(col(Component.meta)),
        ),
    ).returning(Component, literal_column("xmax = 0", Boolean).label("inserted"))


def _state(component: Component) -> dict[str, Any]:
    return {
        "path": component.path,
        "kind": component.kind,
        "enabled": component.enabled,
        "metadata": dict(component.meta),
    }


async def _by_name(
    session: AsyncSession, project_id: uuid.UUID, names: list[str]
) -> dict[str, Component]:
    stmt = select(Component).where(
        col(Component.parent_project_id) == project_id, col(Component.name).in_(names)
    )
    return {c.name: c for c in (await session.scalars(stmt)).all()}


async def import_manifest(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    body: str,
    format: ManifestFormat = "toml",
) -> ImportReport:
    """Upsert the manifest's components under ``project_id``; idempotent.

    The document is validated completely before anything is written. Then a fixed number of
    statements whatever its size: the project check, one ``SELECT`` of the components already
    there (for ``changed_fields``), one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE <changed>
    RETURNING`` (``xmax = 0`` tells an insert from an update; unchanged rows are not returned)
    and one outbox insert when something changed. The upsert decides atomically, so
    concurrent imports of one document create each component once. Extra keys are merged
    into the stored metadata (keys set by other means are kept).
    """
    entries = parse_manifest(body, format)
    await require_project(session, project_id, "project_id")
    if not entries:
        return ImportReport()
    names = [e.name for e in entries]
    existing = await _by_name(session, project_id, names)
    before = {name: _state(c) for name, c in existing.items()}
    result = await session.execute(
        _upsert(project_id, entries), execution_options={"populate_existing": True}
    )
    written: dict[str, tuple[Component, bool]] = {c.name: (c, bool(i)) for c, i in result.all()}
    missing = [n for n in names if n not in written and n not in existing]
    if missing:  # inserted by a concurrent transaction after our SELECT; rare
        existing.update(await _by_name(session, project_id, missing))

    report = ImportReport()
    events: list[PendingEvent] = []
    for name in names:
        if name not in written:
            report.unchanged.append(name)
            report.components.append(existing[name])
            continue
        component, inserted = written[name]
        report.components.append(component)
        if inserted:
            report.created.append(name)
            payload = component_payload(component, source="manifest")
            events.append(
                PendingEvent("imi.component.registered", "component", component.id, payload)
            )
        else:
            report.updated.append(name)
            after, old = _state(component), before.get(name, {})
            changed = sorted(k for k in after if after[k] != old.get(k))
            payload = component_payload(component, source="manifest", changed_fields=changed)
            events.append(PendingEvent("imi.component.updated", "component", component.id, payload))
    await emit(session, *events)
    return report
