"""The glob engine of file reservations: semantics, limits, and overlap checked against an
independent reference matcher by brute force and by Hypothesis."""

from __future__ import annotations

import itertools
import random
import re
import time
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imi.coordination import globs
from imi.coordination.globs import (
    MAX_PATTERN_LENGTH,
    MAX_SEGMENTS,
    MAX_WILDCARDS,
    matches,
    overlap,
    parse,
)
from imi.errors import ValidationFailed

# --- an independent reference: per-segment regexes and a recursive matcher over segments ---

TOKENS = ("a", "b", "*", "?", "[ab]", "[!a]", "[a-b]", "[^b]")
ESCAPED = "\\*"  # a literal star: only in the Hypothesis tests (no path of the universe has one)


@cache
def _segment_regex(segment: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\":
            out += re.escape(segment[i + 1])
            i += 1
        elif char == "[":
            end = segment.index("]", i + 2)
            body = segment[i + 1 : end]
            out += "[^" + body[1:] + "]" if body[0] in "!^" else "[" + body + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out)


def reference(pattern: str, path: str) -> bool:
    segs = tuple(pattern.split("/"))
    parts = tuple(path.split("/"))

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(segs):
            return j == len(parts)
        if segs[i] == "**":
            return go(i + 1, j) or (j < len(parts) and go(i, j + 1))
        return (
            j < len(parts)
            and _segment_regex(segs[i]).fullmatch(parts[j]) is not None
            and go(i + 1, j + 1)
        )

    return go(0, 0)


# Every path of 1-4 segments over segments of 1-2 characters of "abc" ("c" is outside every
# literal and class of the generated patterns, so complements have a witness).
SEGMENTS = ["".join(p) for n in (1, 2) for p in itertools.product("abc", repeat=n)]
UNIVERSE = ["/".join(p) for n in (1, 2, 3, 4) for p in itertools.product(SEGMENTS, repeat=n)]


def _random_pattern(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.25:
            segments.append("**")
        else:
            segments.append("".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 2))))
    # At most two non-** segments, so any common path has at most four segments.
    while sum(s != "**" for s in segments) > 2:
        segments.remove(next(s for s in segments if s != "**"))
    return "/".join(segments)


def test_overlap_equals_brute_force_over_all_short_paths() -> None:
    rng = random.Random(16)
    patterns = sorted({_random_pattern(rng) for _ in range(70)} | {"**", "a/**", "**/b"})
    matched = {p: frozenset(path for path in UNIVERSE if reference(p, path)) for p in patterns}
    for a, b in itertools.combinations_with_replacement(patterns, 2):
        expected = bool(matched[a] & matched[b])
        assert overlap(a, b) is expected, (a, b)
    # And matching agrees with the reference, path by path.
    for pattern in patterns[:25]:
        for path in UNIVERSE[:: len(UNIVERSE) // 400]:
            assert matches(pattern, path) is reference(pattern, path), (pattern, path)


segment = st.one_of(
    st.just("**"),
    st.lists(st.sampled_from((*TOKENS, ESCAPED)), min_size=1, max_size=3).map("".join),
)
pattern = st.lists(segment, min_size=1, max_size=4).map("/".join)
path = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(pattern, pattern)
def test_overlap_is_symmetric(a: str, b: str) -> None:
    assert overlap(a, b) is overlap(b, a)


@settings(max_examples=200, deadline=None)
@given(pattern)
def test_a_pattern_overlaps_itself(a: str) -> None:
    assert overlap(a, a)


@settings(max_examples=300, deadline=None)
@given(pattern, pattern, path)
def test_a_path_matching_both_means_overlap(a: str, b: str, p: str) -> None:
    if reference(a, p) and reference(b, p):
        assert overlap(a, b)
    assert matches(a, p) is reference(a, p)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/**", "src/app/main.py", True),
        ("src/**", "src", True),  # ** matches zero segments
        ("src/**", "srcx/a", False),
        ("src/*.py", "src/**/test_*.py", True),
        ("src/*.py", "src/a/b.py", False),  # * stays inside one segment
        ("src/*.py", "lib/*.py", False),
        ("*.go", "*.py", False),
        ("**/*.md", "docs/guide/intro.md", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/b/**", "**/c/d", True),  # a/b/c/d
        ("x/**", "y/**", False),
        ("**", "anything/at/all", True),
        ("[a-c]x", "[!a-c]x", False),
        ("[a-c]x", "?x", True),
        ("[]]", "]", True),  # ] first in a class is a member
        ("\\*", "a", False),  # an escaped star is a literal
        ("\\*", "[*]", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a**b", "axyb", True),  # ** inside a segment is a star
        ("a**b", "ax/yb", False),
        ("./src//a.py/", "src/a.py", True),  # normalized
        ("dir/file.txt", "dir/file.txt", True),
        ("dir/file.txt", "dir/other.txt", False),
        ("*", "a/b", False),
        ("*/*", "**", True),
    ],
)
def test_overlap_table(a: str, b: str, expected: bool) -> None:
    assert overlap(a, b) is expected
    assert overlap(b, a) is expected


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("///", "empty"),
        ("a/[bc", "unclosed"),
        ("[z-a]", "out of order"),
        ("a\\", "dangling escape"),
        ("[a\\", "dangling escape"),
        ("a/../b", "'..'"),
        ("./.", "'.'"),
        ("[!\x00-\U0010ffff]", "NUL"),  # the only class that could match nothing
        ("a\x00b", "NUL"),
        ("x" * (MAX_PATTERN_LENGTH + 1), "longer than"),
        ("/".join("a" * (MAX_SEGMENTS + 1)), "segments"),
        ("*" + "/*" * MAX_WILDCARDS, "wildcards"),
    ],
)
def test_malformed_patterns_are_refused(bad: str, why: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(bad)
    assert why in caught.value.message
    assert caught.value.details["field"] == "path_pattern"


def test_the_limits_themselves_are_accepted_and_cheap() -> None:
    # Patterns at the limits, built to make the product search wide: alternating stars and
    # classes, and ** segments between them.
    wide = "/".join(["**", "*a*[ab]*b*", "**", "*?*[!c]*", "**", "*b*a*"])
    other = "/".join(["*a*b*", "**", "*[ab]*[ba]*", "**", "*?*?*", "**"])
    assert len(parse(wide).segments) <= MAX_SEGMENTS
    started = time.perf_counter()
    for _ in range(50):
        overlap(wide, other)
        overlap(wide + "/z", other + "/y")
    assert time.perf_counter() - started < 5.0
    long_literal = "/".join(["abcdefghij" * 1] * MAX_SEGMENTS)
    assert len(long_literal) <= MAX_PATTERN_LENGTH
    assert overlap(long_literal, "**/" + long_literal.rsplit("/", 1)[1].replace("j", "?"))


# Two of the longest patterns the limits allow, with a common path only in the last character
# of a 512-character segment: an exact search visits about a quarter of a million states.
HOSTILE_A = "*a" * 16 + "a" * 479 + "b"
HOSTILE_B = "*a" * 16 + "a" * 480


def test_a_hostile_pair_stays_within_its_budget_and_answers_overlap() -> None:
    a, b = globs.parse(HOSTILE_A), globs.parse(HOSTILE_B)
    budget = globs.Budget(1_000)
    # Past the budget the answer is the safe one for a lock.
    assert globs.patterns_overlap(a, b, budget) is True
    assert budget.left < 0
    started = time.process_time()
    assert globs.patterns_overlap(a, b) is True  # default budget: bounded work
    assert time.process_time() - started < 2.0  # 20,000 steps; ~0.34 s unbounded when measured


def test_a_budget_shared_by_many_comparisons_bounds_them_all() -> None:
    budget = globs.Budget(50)
    results = [
        globs.patterns_overlap(globs.parse("src/*.py"), globs.parse(f"lib{i}/x"), budget)
        for i in range(100)
    ]
    assert results[0] is False  # within the budget: exact
    assert results[-1] is True  # spent: assumed overlapping
    # An ordinary comparison is far from the default budget.
    plain = globs.Budget()
    assert globs.patterns_overlap(globs.parse("src/**/*.py"), globs.parse("src/a/b.py"), plain)
    assert plain.left > globs.MAX_OVERLAP_STEPS - 100
