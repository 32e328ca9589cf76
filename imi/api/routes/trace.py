"""`GET /trace/{entity_type}/{entity_id}`: the linked subgraph around one node."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from imi.api.deps import Session
from imi.api.envelope import Envelope, envelope_response, error_responses
from imi.api.schemas_links import TraceOut
from imi.compat.shapes_links import trace_view
from imi.links import service

router = APIRouter(tags=["trace"])

DESCRIPTION = """
Start at any node and get the linked subgraph as typed nodes and edges, in a fixed number of
SQL statements whatever its size.

`entity_type` / `entity_id`:
- `ticket`: the Plane ticket id, e.g. `PROJ-123`. Forward: ticket -> work items -> PRs ->
  deploys (other tickets of those work items are left out).
- `branch` (alias `work`): a work item id, or `<project_id>:<branch_name>` (the active work
  item on that branch, else the most recent); the branch may contain slashes:
  `/trace/branch/550e8400-e29b-41d4-a716-446655440000:feat/PROJ-123-login`.
- `pr`: the pull request's id or its url.
- `deploy`: the deploy id. Backward: deploy -> work items and PRs -> tickets.

The answer is `{root, direction, nodes, edges}`:
- each node is `{type, id, ...its fields}`, `type` one of `project`, `ticket`, `work_item`,
  `pull_request`, `deployment`; `root` is the start node, also `nodes[0]`. Every work item
  comes with its project.
- each edge is `{from, to, kind, link_kind}` where `from` and `to` are node **ids** (the `id`
  of a node in `nodes`; ids are UUIDs, unique across types). `kind`: `has_work` (project ->
  work_item), `links` (ticket -> work_item, `link_kind` closes | references), `has_pr`
  (work_item -> pull_request), `deployed_in` (work_item or pull_request -> deployment).

An unknown `entity_type` is 400 (`details.field = entity_type`); an unknown or malformed id
is 404.
"""


@router.get(
    "/trace/{entity_type}/{entity_id:path}",
    response_model=Envelope[TraceOut],
    responses=error_responses(400, 404),
    summary="Trace a ticket, branch, PR or deploy through the link graph",
    description=DESCRIPTION,
)
async def trace(
    session: Session,
    entity_type: Annotated[
        str,
        Path(
            description="ticket | branch (alias work) | pr | deploy",
            examples=["ticket", "branch", "pr", "deploy"],
        ),
    ],
    entity_id: Annotated[
        str,
        Path(
            description="Plane ticket id, work item id or `<project_id>:<branch>`, PR id or "
            "url, deploy id",
            examples=["PROJ-123", "550e8400-e29b-41d4-a716-446655440000:feat/PROJ-123-login"],
        ),
    ],
) -> Response:
    result = await service.trace(session, entity_type, entity_id)
    return envelope_response(trace_view(result))
