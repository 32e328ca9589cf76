"""Property-based hostile input (Hypothesis): every parser and validator of outside input either
accepts it or raises the domain's ValidationFailed, whatever it is given, and never echoes a
long input back in full. (The HTTP surfaces are fuzzed by schemathesis in tests/api and
tests/graphql; these reach the edges no schema describes.)"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imi.api.params import metadata_filter
from imi.compat.bloodbank import BadMessage, parse_message
from imi.components.manifest import parse_manifest
from imi.errors import ValidationFailed
from imi.models_base import check_metadata
from imi.projects.origin import normalize_remote_origin
from imi.work.naming import check_branch_name, check_worktree_name, check_worktree_path

HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("/\\.:@[]{}\x00 \t\n%~^"), max_size=200),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 3000)),
    st.builds(lambda n: "9" * n, st.integers(0, 6000)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)
PROPERTY = settings(max_examples=60, deadline=None)


def _accepts_or_refuses(call: Any, value: Any) -> None:
    try:
        call(value)
    except ValidationFailed as exc:
        assert len(exc.message) < 1000, "the input was echoed back"


@PROPERTY
@given(HOSTILE_TEXT)
def test_origins(value: str) -> None:
    _accepts_or_refuses(normalize_remote_origin, value)


@PROPERTY
@given(HOSTILE_TEXT)
def test_branch_worktree_names_and_paths(value: str) -> None:
    _accepts_or_refuses(check_branch_name, value)
    _accepts_or_refuses(check_worktree_name, value)
    _accepts_or_refuses(check_worktree_path, value)


@PROPERTY
@given(st.one_of(HOSTILE_TEXT, JSON_VALUES.map(json.dumps)))
def test_metadata_filters(value: str) -> None:
    _accepts_or_refuses(metadata_filter, value)


@PROPERTY
@given(JSON_VALUES)
def test_metadata_values(value: Any) -> None:
    with contextlib.suppress(ValueError):
        check_metadata({"k": value})


@PROPERTY
@given(st.one_of(HOSTILE_TEXT, JSON_VALUES.map(lambda v: json.dumps({"components": v}))))
def test_manifests(value: str) -> None:
    _accepts_or_refuses(lambda body: parse_manifest(body, "toml"), value)
    _accepts_or_refuses(lambda body: parse_manifest(body, "yaml"), value)


@PROPERTY
@given(
    st.one_of(
        HOSTILE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    )
)
def test_consumed_message_bodies(body: bytes) -> None:
    with contextlib.suppress(BadMessage):
        parse_message(body, routing_key="x.y", amqp_message_id=None, amqp_correlation_id=None)
