"""The executor class the schema runs operations with: queries it can plan run level-wise.

It replaces graphql-core's execution of one validated operation only: parsing, validation,
the scope rule, document limits and cost, the NUL guard, the outage mapping, error masking
and the execution timeout are Strawberry extensions and router code around it, unchanged.
Mutations, subscriptions, introspection, directives other than ``@skip``/``@include``, and
any field without a batch form run on the normal executor; so does an operation whose planned
run fails in any way (a domain error, a null in a non-null field, the database): the normal
executor then answers it, errors, paths and null propagation its own.
"""

from __future__ import annotations

import contextlib
from inspect import isawaitable
from typing import Any

from graphql import GraphQLObjectType, OperationType
from graphql.execution.collect_fields import collect_fields
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from imi.graphql.planned import trace as _trace  # noqa: F401  (registers its root form)
from imi.graphql.planned.batches import BATCHES, ROOTS
from imi.graphql.planned.plan import PlannedField, Planner, only_collected_directives
from imi.graphql.planned.run import Runner


class PlannedExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        plan = self.plan()
        if plan is None:
            return super().execute_operation(serially)
        return self.run_planned(plan, serially)

    def plan(self) -> list[PlannedField] | None:
        """The root fields' plan, or None when the normal executor must run this operation."""
        operation = self.operation
        if (
            operation.operation is not OperationType.QUERY
            or operation.directives
            or self.abort_signal is not None
            or (self.middleware_manager is not None and self.middleware_manager.middlewares)
        ):
            return None
        root = self.schema.query_type
        if root is None:
            return None
        try:
            if not only_collected_directives(operation) or not all(
                only_collected_directives(f) for f in self.fragment_definitions.values()
            ):
                return None
            collected = collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                root,
                operation,
                self.hide_suggestions,
            )
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                return None
            planner = Planner(self, BATCHES, ROOTS)
            return planner.fields(root, collected.grouped_field_set, root=True)
        except Exception:  # Unsupported, or what the normal executor reports as an error
            return None

    async def run_planned(self, plan: list[PlannedField], serially: bool | None) -> Any:
        root = self.schema.query_type
        assert root is not None
        runner = Runner(self.schema, self.context_value, self.call_root)
        try:
            data = (await runner.level(root, plan, [self.root_value]))[0]
        except Exception:
            await self.settle()
            result = super().execute_operation(serially)
            return await result if isawaitable(result) else result
        return self.build_response(data)

    async def call_root(self, planned: PlannedField, source: Any) -> Any:
        """A root field's own resolver, with the info and arguments Strawberry would pass."""
        field = planned.strawberry
        assert field is not None and field.base_resolver is not None
        assert planned.definition is not None
        parent = self.schema.query_type
        assert isinstance(parent, GraphQLObjectType)
        raw_info = self.build_resolve_info(
            planned.definition,
            [details.node for details in planned.details],
            parent,
            Path(None, planned.key, parent.name),
        )
        info = self.schema._strawberry_schema.config.info_class(_raw_info=raw_info, _field=field)  # type: ignore[attr-defined]
        if planned.root is not None:
            return await planned.root(info, **planned.kwargs)
        resolver = field.base_resolver
        args: list[Any] = [source] if resolver.self_parameter else []
        kwargs = dict(planned.kwargs)
        for parameter in (resolver.parent_parameter, resolver.root_parameter):
            if parameter is not None:
                kwargs[parameter.name] = source
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = info
        result = field.get_result(source, info, args, kwargs)
        return await result if isawaitable(result) else result

    async def settle(self) -> None:
        """After a failed planned run the normal run starts from a clean read session (a
        failed statement leaves its transaction unusable); if even that fails, the normal
        run meets the same failure and reports it."""
        read = getattr(self.context_value, "read", None)
        if read is None:
            return
        with contextlib.suppress(Exception):
            async with read() as session:
                if session.in_transaction():
                    await session.rollback()


__all__ = ["PlannedExecutor"]
