"""Readable generated agent names (``name`` empty at registration), e.g. ``quiet-falcon-7f3a``.

Names are labels, not keys: agents are addressed by id or name, and the random suffix (16
bits) keeps two generated names in one project from colliding in practice.
"""

from __future__ import annotations

import secrets

ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "daring",
    "eager",
    "gentle",
    "golden",
    "keen",
    "lively",
    "lucid",
    "mellow",
    "nimble",
    "patient",
    "quiet",
    "rapid",
    "silver",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "wise",
    "zesty",
)
NOUNS = (
    "badger",
    "comet",
    "falcon",
    "fern",
    "harbor",
    "heron",
    "lantern",
    "maple",
    "meadow",
    "otter",
    "pebble",
    "quartz",
    "raven",
    "river",
    "sparrow",
    "summit",
    "thistle",
    "tide",
    "willow",
    "wren",
)


def generate_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{secrets.token_hex(2)}"
