"""The seven orchestration record kinds of intermute, as data: one table drives the service,
the queries, the wire shapes and the REST routes (``internal/core/domain.go``).

Each kind lists its fields in intermute's JSON order (``id`` and ``project`` lead, also for
CUJs, where intermute puts ``spec_id`` between them: JSON clients do not read key order).
``omit_empty`` mirrors Go's ``omitempty``: an empty value is left out of the JSON, as
intermute's clients see it.
Input bounds live here, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["text", "list", "number", "steps"]

# Input bounds (characters unless said otherwise), checked before any work.
MAX_ID = 200  # record ids and references: ids travel in URL paths, so no '/'
MAX_PROJECT = 200
MAX_SHORT = 200  # status, agent, name, source, category, filters
MAX_TITLE = 500
MAX_URL = 2048
MAX_LONG = 20_000  # vision, users, problem, description, body
MAX_LIST_ITEMS = 100  # acceptance_criteria entries
MAX_LIST_ITEM = 2_000
MAX_STEPS = 100  # a CUJ's steps; each step's text as MAX_LIST_ITEM, its alternatives as lists
DEFAULT_LIMIT = 500
MAX_LIMIT = 1_000


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType = "text"
    required: bool = False
    max_length: int = MAX_SHORT
    omit_empty: bool = True
    choices: tuple[str, ...] = ()  # the allowed values (status); the first is the default
    example: object = None

    @property
    def default(self) -> str | None:
        return self.choices[0] if self.choices else None

    @property
    def json(self) -> bool:
        """Stored as jsonb (lists of strings, CUJ steps)."""
        return self.type in ("list", "steps")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: one object per kind
class Kind:
    name: str  # spec
    plural: str  # specs: the path /api/specs and the OpenAPI tag
    table: str
    fields: tuple[Field, ...]
    filters: dict[str, str]  # query parameter -> column
    order: str  # the list order (intermute's, with the id as tie-break)
    versioned: bool = True  # optimistic concurrency by `version`
    started: bool = False  # sessions: started_at instead of created_at
    updatable: bool = True  # insights have no PUT in intermute
    references: tuple[str, ...] = field(default=())  # the fields naming other records

    @property
    def created_column(self) -> str:
        return "started_at" if self.started else "created_at"

    @property
    def has_updated_at(self) -> bool:
        return self.versioned or self.started

    @property
    def columns(self) -> tuple[str, ...]:
        """Every stored column, in wire order."""
        tail = ("version",) if self.versioned else ()
        times = (self.created_column, "updated_at") if self.has_updated_at else ("created_at",)
        return ("id", "project", *(f.name for f in self.fields), *tail, *times)


def _status(*values: str) -> Field:
    return Field("status", choices=values, omit_empty=False, example=values[0])


def _title(example: str) -> Field:
    return Field("title", required=True, max_length=MAX_TITLE, omit_empty=False, example=example)


def _ref(name: str, example: str, *, required: bool = False) -> Field:
    return Field(
        name, required=required, max_length=MAX_ID, omit_empty=not required, example=example
    )


SPEC = Kind(
    "spec",
    "specs",
    "specs",
    (
        _title("Agent coordination"),
        Field("vision", max_length=MAX_LONG, example="One service knows who works on what"),
        Field("users", max_length=MAX_LONG, example="coding agents and their operators"),
        Field("problem", max_length=MAX_LONG, example="agents edit the same files"),
        _status("draft", "research", "validated", "archived"),
    ),
    {"status": "status"},
    "updated_at DESC, project, id",
)
EPIC = Kind(
    "epic",
    "epics",
    "epics",
    (
        _ref("spec_id", "spec-1"),
        _title("File reservations"),
        Field("description", max_length=MAX_LONG, example="advisory locks on globs"),
        _status("open", "in_progress", "done"),
    ),
    {"spec": "spec_id"},
    "updated_at DESC, project, id",
    references=("spec_id",),
)
STORY = Kind(
    "story",
    "stories",
    "stories",
    (
        _ref("epic_id", "epic-1", required=True),
        _title("Exclusive reservations conflict"),
        Field(
            "acceptance_criteria",
            type="list",
            max_length=MAX_LIST_ITEM,
            example=["a second exclusive request gets 409"],
        ),
        _status("todo", "in_progress", "review", "done"),
    ),
    {"epic": "epic_id"},
    "updated_at DESC, project, id",
    references=("epic_id",),
)
TASK = Kind(
    "task",
    "tasks",
    "tasks",
    (
        _ref("story_id", "story-1"),
        _title("Write the overlap check"),
        Field("agent", example="agent-7"),
        Field("session_id", max_length=MAX_ID, example="session-1"),
        _status("pending", "running", "blocked", "done"),
    ),
    {"status": "status", "agent": "agent"},
    "updated_at DESC, project, id",
    references=("story_id", "session_id"),
)
INSIGHT = Kind(
    "insight",
    "insights",
    "insights",
    (
        _ref("spec_id", "spec-1"),
        Field("source", required=True, omit_empty=False, example="pollard"),
        Field("category", required=True, omit_empty=False, example="competitor"),
        _title("Others lock whole directories"),
        Field("body", max_length=MAX_LONG, example="Per-file globs are finer"),
        Field("url", max_length=MAX_URL, example="https://example.com/post"),
        Field("score", type="number", omit_empty=False, example=0.8),
    ),
    {"spec": "spec_id", "category": "category"},
    "score DESC, created_at DESC, project, id",
    versioned=False,
    updatable=False,
    references=("spec_id",),
)
SESSION = Kind(
    "session",
    "sessions",
    "coordination_sessions",
    (
        Field("name", required=True, omit_empty=False, example="imi-dev"),
        Field("agent", required=True, omit_empty=False, example="agent-7"),
        _ref("task_id", "task-1"),
        _status("running", "idle", "error"),
    ),
    {"status": "status"},
    "started_at DESC, project, id",
    versioned=False,
    started=True,
    references=("task_id",),
)


def _strings(name: str, example: str) -> Field:
    return Field(name, type="list", max_length=MAX_LIST_ITEM, example=[example])


# Critical user journeys. intermute lists them by `priority ASC` (text: high, low, medium);
# here high, medium, low as meant. Their feature links: records_cujs.
CUJ = Kind(
    "cuj",
    "cujs",
    "cujs",
    (
        _ref("spec_id", "spec-1", required=True),
        _title("Reserve files before editing"),
        Field("persona", max_length=MAX_TITLE, example="coding agent"),
        Field("priority", choices=("medium", "high", "low"), omit_empty=False, example="high"),
        Field("entry_point", max_length=MAX_TITLE, example="agent starts a task"),
        Field("exit_point", max_length=MAX_TITLE, example="files reserved"),
        Field(
            "steps",
            type="steps",
            max_length=MAX_LIST_ITEM,
            example=[
                {
                    "order": 1,
                    "action": "POST /api/reservations",
                    "expected": "201",
                    "alternatives": ["409 on conflict"],
                }
            ],
        ),
        _strings("success_criteria", "no two agents edit one file"),
        _strings("error_recovery", "retry after the holder releases"),
        _status("draft", "validated", "archived"),
    ),
    {"spec": "spec_id"},
    "CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, updated_at DESC, "
    "project, id",
    references=("spec_id",),
)

KINDS: tuple[Kind, ...] = (SPEC, EPIC, STORY, TASK, INSIGHT, SESSION, CUJ)
BY_NAME = {kind.name: kind for kind in KINDS}
