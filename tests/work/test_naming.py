import pytest

from imi.errors import ValidationFailed
from imi.work.models import WorkType
from imi.work.naming import check_branch_name, parse_work_type, ticket_keys, worktree_name


def test_work_types_accept_v2_spelling() -> None:
    assert parse_work_type("feat") is WorkType.FEATURE
    assert parse_work_type("Feature") is WorkType.FEATURE
    assert parse_work_type("aiops") is WorkType.AIOPS
    with pytest.raises(ValidationFailed) as exc:
        parse_work_type("chore")
    assert exc.value.field == "work_type"
    assert "feature" in exc.value.message


@pytest.mark.parametrize(
    ("branch", "name"),
    [
        ("feat/user-auth", "feat-user-auth"),
        ("pr-review/42", "pr-42"),
        ("fix/a/b", "fix-a-b"),
        ("main", "main"),
        ("experiment/x", "experiment-x"),
    ],
)
def test_worktree_names_follow_v2_convention(branch: str, name: str) -> None:
    assert worktree_name(branch) == name


@pytest.mark.parametrize(
    "branch", ["", " ", "-x", "a..b", "a b", "a~1", "a^", "a:b", "x.lock", "a/", "/a", "a//b"]
)
def test_bad_branch_names_are_rejected(branch: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_branch_name(branch)
    assert exc.value.field == "branch_name"


def test_ticket_keys_found_in_order_without_duplicates() -> None:
    pattern = r"[A-Z][A-Z0-9]+-\d+"
    assert ticket_keys(pattern, "feat/PROJ-123-login", "PROJ-123", "OPS-7") == [
        "PROJ-123",
        "OPS-7",
    ]
    assert ticket_keys(pattern, "feat/login", None) == []
