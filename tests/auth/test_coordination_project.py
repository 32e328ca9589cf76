"""Which intermute project a coordination request works in, for each kind of caller."""

from __future__ import annotations

import uuid

import pytest

from imi.auth.models import Scope
from imi.auth.policy import coordination_project
from imi.auth.principal import Principal
from imi.errors import DomainError, Forbidden

ONE, TWO = uuid.uuid4(), uuid.uuid4()


def principal(*projects: uuid.UUID) -> Principal:
    return Principal(
        subject="key:test",
        kind="key",
        scope=Scope.WRITE,
        project_ids=frozenset(projects) if projects else None,
    )


def test_unrestricted_callers_use_any_project_and_default_to_the_empty_one() -> None:
    assert coordination_project(principal(), "autarch") == "autarch"
    assert coordination_project(principal(), "  autarch ") == "autarch"
    assert coordination_project(principal(), None) == ""
    assert coordination_project(principal(), "") == ""


def test_a_restricted_key_takes_its_project_when_none_is_named() -> None:
    assert coordination_project(principal(ONE), None) == str(ONE)
    assert coordination_project(principal(ONE), str(ONE)) == str(ONE)


def test_a_restricted_key_may_not_name_another_project() -> None:
    with pytest.raises(DomainError) as refused:
        coordination_project(principal(ONE), "autarch")
    assert isinstance(refused.value, Forbidden)
    with pytest.raises(DomainError):
        coordination_project(principal(ONE), str(TWO))


def test_a_key_of_several_projects_must_name_one() -> None:
    assert coordination_project(principal(ONE, TWO), str(TWO)) == str(TWO)
    with pytest.raises(DomainError) as refused:
        coordination_project(principal(ONE, TWO), None)
    assert "name one" in str(refused.value)
