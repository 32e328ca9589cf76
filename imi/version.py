"""The installed package's version (one place; pages, health, logs and AsyncAPI show it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def imi_version() -> str:
    try:
        return version("imi")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
