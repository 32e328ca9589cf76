"""Answers and switches for the service's limits: the 429 of the rate limiter, CORS."""

from __future__ import annotations

import math

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware

from imi.api.errors import error_response
from imi.settings import Settings


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds: the wait rounded up, at least 1."""
    return max(1, math.ceil(wait))


def rate_limited_response(wait: float) -> JSONResponse:
    """429 ``RATE_LIMITED`` in the v2 error envelope, with ``Retry-After``; ``wait`` is what
    :func:`imi.auth.ratelimit.take` returned."""
    seconds = retry_after_seconds(wait)
    response = error_response(
        429,
        "RATE_LIMITED",
        f"Too many requests: retry after {seconds} s",
        {"retry_after": seconds},
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def install_cors(app: FastAPI, settings: Settings) -> bool:
    """Allow cross-origin browser calls from ``IMI_CORS_ORIGINS`` only; nothing when unset.

    Returns whether CORS was installed.
    """
    origins = settings.cors_origin_list
    if not origins:
        return False
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Correlation-ID"],
        expose_headers=["X-Correlation-ID", "Retry-After"],
        max_age=600,
    )
    return True
