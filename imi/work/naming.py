"""Branch-name checks and the v2 worktree naming convention."""

from __future__ import annotations

import re

from imi.errors import ValidationFailed
from imi.work.models import WORK_TYPE_ALIASES, WorkType

# v2: branch prefix -> worktree name prefix (feat/x -> feat-x, pr-review/x -> pr-x).
_WORKTREE_PREFIXES = {
    "feat/": "feat-",
    "fix/": "fix-",
    "aiops/": "aiops-",
    "devops/": "devops-",
    "pr-review/": "pr-",
}
# The parts of git check-ref-format that matter for names people send us.
_BAD_BRANCH = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\])|(@\{)|(//)|([/.]$)|(\.lock$)")


def parse_work_type(value: str, field: str = "work_type") -> WorkType:
    """A v3 work type, accepting v2 spellings (``feat``). ``field`` is the name the caller
    sent it under (v2: ``type``), for the error."""
    key = (value or "").strip().lower()
    if key in WORK_TYPE_ALIASES:
        return WORK_TYPE_ALIASES[key]
    try:
        return WorkType(key)
    except ValueError:
        allowed = ", ".join([t.value for t in WorkType] + list(WORK_TYPE_ALIASES))
        raise ValidationFailed(
            f"Invalid work type {value[:80]!r}; expected one of {allowed}",
            field=field,
        ) from None


def check_branch_name(branch: str, field: str = "branch_name") -> str:
    branch = (branch or "").strip()
    if not branch or _BAD_BRANCH.search(branch):
        raise ValidationFailed(f"Invalid branch name {branch[:100]!r}", field=field)
    return branch


# A worktree name is one directory name: no separators, no "." or "..", no control characters.
_BAD_WORKTREE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^\.{1,2}$")


def check_worktree_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name or _BAD_WORKTREE_NAME.search(name):
        raise ValidationFailed(
            f"Invalid worktree name {name[:100]!r}: one directory name, without '/', '\\', "
            "'..' or control characters",
            field=field,
        )
    return name


def check_worktree_path(path: str | None, field: str = "worktree_path") -> str | None:
    """An absolute path without ``..`` components or control characters (None stays None)."""
    if path is None:
        return None
    path = path.strip()
    parts = path.replace("\\", "/").split("/")
    absolute = path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path) is not None
    if not absolute or ".." in parts or re.search(r"[\x00-\x1f\x7f]", path):
        raise ValidationFailed(
            f"Invalid worktree path {path[:100]!r}: an absolute path without '..' components",
            field=field,
        )
    return path


def worktree_name(branch: str) -> str:
    """The worktree name a branch gets when none is given."""
    for branch_prefix, name_prefix in _WORKTREE_PREFIXES.items():
        if branch.startswith(branch_prefix):
            return name_prefix + branch[len(branch_prefix) :].replace("/", "-")
    return branch.replace("/", "-")


def ticket_keys(pattern: str, *texts: str | None) -> list[str]:
    """Ticket keys (e.g. PROJ-123) found in the texts, in order, without duplicates."""
    found: list[str] = []
    for text in texts:
        for match in re.finditer(pattern, text or ""):
            key = match.group(0)
            if key not in found:
                found.append(key)
    return found
