"""The broker fixtures of the messaging tests, for the metrics of published and consumed
messages."""

from tests.messaging.conftest import bus, rabbitmq_url  # noqa: F401  (fixtures, by name)
