"""Glob patterns for file reservations: matching a path, and whether two patterns overlap.

Semantics (paths and patterns are relative, ``/``-separated):

- a segment that is exactly ``**`` matches any number of whole path segments, zero included
  (``src/**`` matches ``src``, ``src/a`` and ``src/a/b.py``);
- ``*`` matches any run of characters within one segment (never ``/``), ``?`` exactly one;
- ``[a-z0-9_]`` a character class, ``[!x]`` or ``[^x]`` its complement (never ``/``); a ``]``
  right after ``[`` or ``[!`` is a member; ``\\`` escapes the next character;
- ``**`` inside a longer segment (``a**b``) is two ``*``.

Leading ``./`` and ``/``, repeated and trailing ``/`` are dropped; ``.`` and ``..`` segments,
empty patterns and classes matching nothing are refused.

Two patterns *overlap* when some path matches both. The answer is exact: a product of the two
patterns' automata, segment by segment (``overlap``) and character by character within a pair
of segments (``_segments_overlap``), each a search over pairs of positions, memoized. The
limits below (``MAX_*``) bound a pattern, but two of the longest patterns can still make a
quarter of a million pairs of positions (a third of a second): every search runs on a
:class:`Budget` of steps, and a search that runs out of it answers "they overlap", the safe
answer for a lock (a request is refused rather than two holders let in).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from imi.errors import ValidationFailed

MAX_PATTERN_LENGTH = 512
MAX_SEGMENTS = 32
MAX_WILDCARDS = 16  # *, ?, classes and ** segments together
MAX_RUNE = 0x10FFFF
SLASH = ord("/")

MAX_OVERLAP_STEPS = 20_000  # one comparison's budget unless the caller shares a larger one

Ranges = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive code point ranges
ANY_CHAR: Ranges = ((0, SLASH - 1), (SLASH + 1, MAX_RUNE))


@dataclass(frozen=True, slots=True)
class Token:
    """One step of a segment pattern: a star (any run) or one character out of ``chars``."""

    star: bool
    chars: Ranges = ()


STAR = Token(True)
Segment = tuple[Token, ...]
GLOBSTAR: Segment = ()  # the ``**`` segment (a real segment always has a token)


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    segments: tuple[Segment, ...]


def _normalize_ranges(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return tuple(out)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_RUNE:
        out.append((start, MAX_RUNE))
    return _intersect(tuple(out), ANY_CHAR)


def _literal(char: str) -> Token:
    return Token(False, ((ord(char), ord(char)),))


def _bad(text: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"invalid pattern {text[:80]!r}: {why}", field="path_pattern")


def _parse_class(seg: str, start: int, text: str) -> tuple[Token, int]:
    """The class starting at ``seg[start] == '['``; returns it and the index after ``]``."""
    i = start + 1
    negated = i < len(seg) and seg[i] in "!^"
    i += negated
    members: list[tuple[int, int]] = []
    first = True
    while True:
        if i >= len(seg):
            raise _bad(text, "unclosed character class")
        if seg[i] == "]" and not first:
            break
        first = False
        lo, i = _class_char(seg, i, text)
        if i + 1 < len(seg) and seg[i] == "-" and seg[i + 1] != "]":
            hi, i = _class_char(seg, i + 1, text)
            if hi < lo:
                raise _bad(text, "character range out of order")
            members.append((lo, hi))
        else:
            members.append((lo, lo))
    normalized = _normalize_ranges(members)
    chars = _complement(normalized) if negated else _intersect(normalized, ANY_CHAR)
    if not chars:
        raise _bad(text, "character class matches nothing")
    return Token(False, chars), i + 1


def _class_char(seg: str, i: int, text: str) -> tuple[int, int]:
    if seg[i] == "\\":
        if i + 1 >= len(seg):
            raise _bad(text, "dangling escape")
        return ord(seg[i + 1]), i + 2
    return ord(seg[i]), i + 1


def _parse_segment(seg: str, text: str) -> tuple[Segment, int]:
    """A segment's tokens and how many wildcards it holds."""
    tokens: list[Token] = []
    wildcards = 0
    i = 0
    while i < len(seg):
        char = seg[i]
        if char == "*":
            wildcards += 1
            if not tokens or tokens[-1] != STAR:  # ``**`` inside a segment is one star
                tokens.append(STAR)
            i += 1
        elif char == "?":
            wildcards += 1
            tokens.append(Token(False, ANY_CHAR))
            i += 1
        elif char == "[":
            wildcards += 1
            token, i = _parse_class(seg, i, text)
            tokens.append(token)
        elif char == "\\":
            if i + 1 >= len(seg):
                raise _bad(text, "dangling escape")
            tokens.append(_literal(seg[i + 1]))
            i += 2
        else:
            tokens.append(_literal(char))
            i += 1
    return tuple(tokens), wildcards


def _split(text: str) -> list[str]:
    while text.startswith("./"):
        text = text[2:]
    return [part for part in text.split("/") if part]


@lru_cache(maxsize=4096)
def parse(text: str) -> Pattern:
    """A validated pattern; ``ValidationFailed`` (field ``path_pattern``) when malformed."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise _bad(text, f"longer than {MAX_PATTERN_LENGTH} characters")
    if "\x00" in text:
        raise _bad(text, "NUL characters are not allowed")
    parts = _split(text)
    if not parts:
        raise _bad(text, "empty")
    if len(parts) > MAX_SEGMENTS:
        raise _bad(text, f"more than {MAX_SEGMENTS} segments")
    segments: list[Segment] = []
    wildcards = 0
    for part in parts:
        if part in (".", ".."):
            raise _bad(text, "'.' and '..' segments are not allowed")
        if part == "**":
            wildcards += 1
            if not segments or segments[-1] != GLOBSTAR:  # ``**/**`` is one ``**``
                segments.append(GLOBSTAR)
            continue
        tokens, count = _parse_segment(part, text)
        wildcards += count
        segments.append(tokens)
    if wildcards > MAX_WILDCARDS:
        raise _bad(text, f"more than {MAX_WILDCARDS} wildcards")
    return Pattern("/".join(parts), tuple(segments))


class Budget:
    """Steps overlap searches may still take (one per pair of positions visited); shared by
    the comparisons of one request so that all of them together stay bounded."""

    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_OVERLAP_STEPS) -> None:
        self.left = steps

    def spend(self) -> bool:
        """Take one step; False once the budget is spent."""
        self.left -= 1
        return self.left >= 0


def _segments_overlap(a: Segment, b: Segment, budget: Budget) -> bool:
    """Whether two segment patterns match a common (non-empty) string: a search over pairs of
    token positions; a star may stay in place while the other side consumes a character."""
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        if not budget.spend():
            return True  # out of budget: assume they overlap (the safe answer)
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        # A star may match nothing: skip it.
        if i < len(a) and a[i].star:
            stack.append((i + 1, j))
        if j < len(b) and b[j].star:
            stack.append((i, j + 1))
        if i == len(a) or j == len(b):
            continue
        # Both consume one common character (a star consumes it and stays).
        chars_a = ANY_CHAR if a[i].star else a[i].chars
        chars_b = ANY_CHAR if b[j].star else b[j].chars
        if _intersect(chars_a, chars_b):
            stack.append((i if a[i].star else i + 1, j if b[j].star else j + 1))
    return False


def patterns_overlap(a: Pattern, b: Pattern, budget: Budget | None = None) -> bool:
    """Whether some path matches both patterns (symmetric; exact within ``budget``, which
    defaults to ``MAX_OVERLAP_STEPS``: past it the answer is True)."""
    budget = budget if budget is not None else Budget()
    pair_cache: dict[tuple[int, int], bool] = {}

    def segment_pair(i: int, j: int) -> bool:
        if (i, j) not in pair_cache:
            pair_cache[(i, j)] = _segments_overlap(a.segments[i], b.segments[j], budget)
        return pair_cache[(i, j)]

    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    len_a, len_b = len(a.segments), len(b.segments)
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        if not budget.spend():
            return True
        seen.add((i, j))
        if i == len_a and j == len_b:
            return True
        star_a = i < len_a and a.segments[i] == GLOBSTAR
        star_b = j < len_b and b.segments[j] == GLOBSTAR
        # A ``**`` may match no segment at all.
        if star_a:
            stack.append((i + 1, j))
        if star_b:
            stack.append((i, j + 1))
        if i == len_a or j == len_b or (star_a and star_b):
            # Two ``**`` facing each other: one of them ends first, covered by the skips.
            continue
        if star_a:
            # ``**`` absorbs the segment b's pattern matches (every segment pattern matches
            # some segment: empty classes are refused) and stays.
            stack.append((i, j + 1))
        elif star_b:
            stack.append((i + 1, j))
        elif segment_pair(i, j):
            stack.append((i + 1, j + 1))
    return False


def overlap(a: str, b: str) -> bool:
    """Whether two pattern strings overlap (``ValidationFailed`` when one is malformed)."""
    return patterns_overlap(parse(a), parse(b))


def literal_pattern(path: str) -> str:
    """A pattern that matches exactly ``path``: its wildcard characters escaped."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in path)


def matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches ``pattern``."""
    return overlap(pattern, literal_pattern(path))
