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
        raise ValidationFailed(f"Invalid branch name {branch!r}", field=field)
    return branch


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
