"""Typed mutation errors and the helper every mutation runs its service call through.

A mutation returns a union of its payload and ``ValidationError | NotFoundError |
ConflictError``: domain errors are data for the client, never raised GraphQL errors. The
helper owns the transaction (DESIGN principle 2): one ``info.context.transaction()`` per
mutation, committed when the call succeeds, rolled back when it raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

import pydantic
import strawberry
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.utils.str_converters import to_camel_case

from imi.db import domain_error_from_database
from imi.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from imi.graphql.context import Context
from imi.logging import get_logger

log = get_logger(__name__)

Info = strawberry.Info[Context, None]
T = TypeVar("T")


@strawberry.interface(description="Why a mutation did not happen.")
class MutationError:
    message: str
    field: str | None = strawberry.field(
        description="The input field at fault, as named in the input type, when there is one."
    )


@strawberry.type(description="The input is malformed or breaks a rule about its shape.")
class ValidationError(MutationError):
    pass


@strawberry.type(description="Something the input refers to does not exist.")
class NotFoundError(MutationError):
    pass


@strawberry.type(description="The input contradicts existing state (duplicate, illegal move).")
class ConflictError(MutationError):
    pass


Failure = ValidationError | NotFoundError | ConflictError


def graphql_field(name: str | None, renames: Mapping[str, str] | None = None) -> str | None:
    """A domain field name (``work_item_ids``, ``source.type``) as the client spelled it."""
    if name is None:
        return None
    if renames and name in renames:
        return renames[name]
    return ".".join(to_camel_case(part) for part in name.split("."))


def to_failure(
    error: DomainError, renames: Mapping[str, str] | None = None, target: str | None = None
) -> Failure:
    """The typed error for a domain error; a NotFound without a field blames ``target``."""
    field = graphql_field(error.field, renames)
    if isinstance(error, NotFound):
        return NotFoundError(message=error.message, field=field or target)
    if isinstance(error, Conflict):
        return ConflictError(message=error.message, field=field)
    if isinstance(error, ValidationFailed):
        return ValidationError(message=error.message, field=field)
    if isinstance(error, Forbidden):
        # Only row-level security raises it here (scopes are checked before execution): the
        # row belongs to a project this key does not see, which for it does not exist.
        return NotFoundError(message=error.message, field=field or target)
    raise error  # an unknown kind of domain error: masked like any unexpected exception


def invalid_input(
    error: pydantic.ValidationError, renames: Mapping[str, str] | None = None
) -> ValidationError:
    """The first problem pydantic found in a domain input, named as the client knows it."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    field = graphql_field(".".join(location) or None, renames)
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    return ValidationError(message=message, field=field)


async def run_in_transaction(
    info: Info,
    call: Callable[[AsyncSession], Awaitable[T]],
    *,
    renames: Mapping[str, str] | None = None,
    target: str | None = None,
) -> T | Failure:
    """Run ``call`` in one transaction; its result, or the typed error for what went wrong.

    ``renames`` maps domain field names to input field names where they differ beyond
    camelCase; ``target`` is the input field a bare NotFound refers to (the node to change).
    A constraint the services did not anticipate is a ConflictError, a value the database
    refuses (e.g. a NUL byte) a ValidationError; anything else propagates and is masked.
    """
    try:
        async with info.context.transaction() as session:
            return await call(session)
    except DomainError as error:
        return to_failure(error, renames, target)
    except pydantic.ValidationError as error:
        return invalid_input(error, renames)
    except DBAPIError as error:
        translated = domain_error_from_database(error)
        if translated is None:
            raise
        log.warning("database refused the mutation", error=str(error.orig)[:500])
        return to_failure(translated, renames, None)


def sent(input: Any, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The input's fields the client sent (not UNSET), by Python name, for a domain model
    whose ``model_fields_set`` tells absent from null."""
    return {
        f.name: value
        for f in dataclasses.fields(input)
        if f.name not in exclude and (value := getattr(input, f.name)) is not strawberry.UNSET
    }


def json_object(value: Any) -> Any:
    """Absent metadata is an empty object; anything else goes to the domain to validate."""
    return {} if value is None else value
