"""``trace`` for the planned executor: the same object as ``Trace.from_domain`` builds, with
its entities left as rows until a document selects them.

``Trace.from_domain`` turns every row of a trace into its Strawberry object (every field, its
global id) before the executor reads any of them; a document that asks for ids, types and a
few columns of each kind reads a fraction of that. Here the typed lists stay rows (the runner
reads them with their types' own readers) and a node's ``entity`` is built when it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imi.graphql.ids import to_global_id
from imi.graphql.planned.batches import root_of
from imi.graphql.trace import (
    _KINDS,
    Query,
    TraceDirection,
    TraceEdge,
    TraceEntityType,
    TraceNodeType,
    _domain_id,
    rows_by_kind,
    trace_edges,
)
from imi.links import service


@dataclass(slots=True)
class LazyNode:
    """Read as ``TraceNode``: ``id``, ``type``, and ``entity`` built on first read."""

    id: str
    type: TraceNodeType
    kind: str
    row: Any

    @property
    def entity(self) -> Any:
        return _KINDS[self.kind][1](self.row)


@dataclass(slots=True)
class LazyTrace:
    """Read as ``Trace``: its plain fields, with rows in the typed lists."""

    root: LazyNode
    direction: TraceDirection
    nodes: list[LazyNode]
    edges: list[TraceEdge]
    projects: list[Any]
    tickets: list[Any]
    work_items: list[Any]
    pull_requests: list[Any]
    deployments: list[Any]

    @classmethod
    def of(cls, trace: service.Trace) -> LazyTrace:
        """Mirrors ``Trace.from_domain`` (imi/graphql/trace.py) field for field."""
        rows = rows_by_kind(trace)
        nodes = {
            (kind, row.id): LazyNode(
                to_global_id(_KINDS[kind][0], row.id), TraceNodeType(kind), kind, row
            )
            for kind, items in rows.items()
            for row in items
        }
        edges = trace_edges(trace)
        return cls(
            root=nodes[(trace.root.type, trace.root.id)],
            direction=TraceDirection(trace.direction),
            nodes=[nodes[(n.type, n.id)] for n in trace.nodes if (n.type, n.id) in nodes],
            edges=edges,
            projects=rows["project"],
            tickets=rows["ticket"],
            work_items=rows["work_item"],
            pull_requests=rows["pull_request"],
            deployments=rows["deployment"],
        )


@root_of(Query, "trace")
async def planned_trace(
    info: Any, entity_type: TraceEntityType, entity_id: str
) -> LazyTrace | None:
    """``Query.trace`` (imi/graphql/trace.py), answering a :class:`LazyTrace`."""
    domain_id = _domain_id(entity_type, entity_id)
    result = await info.context.find(lambda s: service.trace(s, entity_type.value, domain_id))
    return LazyTrace.of(result) if result else None
