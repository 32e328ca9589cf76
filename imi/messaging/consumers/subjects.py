"""The subjects a consumed message is about, as ``kind:value`` keys (see ``ordering``).

Read from the parsed message alone (no database), the way the handlers read the same fields,
so two messages that would touch the same entity get the same key. A message whose fields a
handler would refuse (dead-lettered or skipped without an effect) needs no place in any order.
"""

from __future__ import annotations

from imi.errors import ValidationFailed
from imi.projects.origin import normalize_remote_origin
from imi.work.matching import branch_of_ref


def path_key(path: object) -> str | None:
    """A worktree path, as ``matching.work_at_path`` compares it (no trailing slash)."""
    if not isinstance(path, str) or not path.strip():
        return None
    return "path:" + (path.strip().rstrip("/") or "/")


def branch_key(remote: str | None, ref: str | None) -> str | None:
    """A repository's branch: the remote in its normalized identity, the branch of the ref."""
    if not remote or not ref:
        return None
    branch = branch_of_ref(ref)
    if branch is None:
        return None
    try:
        origin = normalize_remote_origin(remote)
    except ValidationFailed:
        return None  # no project can match it: the handler skips the message
    return f"branch:{origin}#{branch}"


def keys(*candidates: str | None) -> frozenset[str]:
    return frozenset(key for key in candidates if key)
