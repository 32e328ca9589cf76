"""Git remote origins: validation and the normalized identity used for de-duplication.

``git@github.com:o/r.git``, ``https://github.com/o/r`` and ``ssh://git@github.com/o/r.git`` all
normalize to ``github.com/o/r``: user, port, scheme and a trailing ``.git`` are not part of a
repository's identity. Host and path are lower-cased (the big forges are case-insensitive).
Local ``file://`` remotes keep their case: they name a path on a case-sensitive filesystem.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from imi.errors import ValidationFailed

SCHEMES = ("ssh", "https", "git", "file")
FIELD = "remote_origin"
HINT = (
    "expected git@host:owner/repo.git, ssh://[user@]host[:port]/path, "
    "https://host/path, git://host/path or file:///path"
)

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@\s/:]+)@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>\S+)$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$|^\[[0-9A-Fa-f:.]+\]$")


def _invalid(origin: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid remote origin {origin[:200]!r}: {reason}", field=FIELD, constraint=HINT
    )


def _clean_path(origin: str, path: str, *, lower: bool) -> str:
    path = re.sub(r"/{2,}", "/", path).strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    if not path or any(part in {".", ".."} for part in path.split("/")):
        raise _invalid(origin, "missing or invalid repository path")
    return path.lower() if lower else path


def normalize_remote_origin(origin: str) -> str:
    """Validate ``origin`` and return its normalized identity; raise ValidationFailed if bad."""
    if not isinstance(origin, str) or not origin.strip():
        raise _invalid(str(origin), "must not be empty")
    origin = origin.strip()
    if any(c.isspace() for c in origin):
        raise _invalid(origin, "must not contain whitespace")

    if "://" in origin:
        try:
            parts = urlsplit(origin)
        except ValueError as exc:  # an unbalanced "[" (IPv6 host)
            raise _invalid(origin, "malformed URL") from exc
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise _invalid(origin, f"unsupported scheme {parts.scheme!r}")
        if scheme == "file":
            if parts.netloc not in {"", "localhost"}:
                raise _invalid(origin, "file:// remotes must be local (file:///path)")
            return "file:///" + _clean_path(origin, parts.path, lower=False)
        try:
            host = (parts.hostname or "").lower()
            _ = parts.port  # raises on a non-numeric port
        except ValueError as exc:
            raise _invalid(origin, "invalid port") from exc
        if not host or not _HOST.match(host):
            raise _invalid(origin, "missing or invalid host")
        if parts.query or parts.fragment:
            raise _invalid(origin, "must not have a query or fragment")
        return f"{_canonical_host(host)}/{_clean_path(origin, parts.path, lower=True)}"

    match = _SCP_LIKE.match(origin)
    if match is None:
        raise _invalid(origin, "not a recognized git remote")
    host = match["host"].lower()
    if not _HOST.match(host):
        raise _invalid(origin, "invalid host")
    return f"{_canonical_host(host)}/{_clean_path(origin, match['path'], lower=True)}"


def _canonical_host(host: str) -> str:
    """``www.github.com`` and ``github.com`` serve the same repositories: one host."""
    return host.removeprefix("www.")


def repository_name(normalized: str) -> str:
    """The last path segment: the default project name."""
    return normalized.rstrip("/").rsplit("/", 1)[-1]


def strip_credentials(origin: str) -> str:
    """Drop the userinfo of an https origin (a token often sits there, with or without a
    password); keep ssh's user (``git@``), which is not a secret. No secrets stored or sent."""
    origin = origin.strip()
    if "://" not in origin:
        return origin
    try:
        parts = urlsplit(origin)
    except ValueError:  # not a URL, so no userinfo to strip (validation refuses it anyway)
        return origin
    if parts.scheme.lower() == "https" and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{parts.username}@{netloc}").geturl()
    return origin
