"""A TCP proxy a test cuts and restores: an outage of whatever is behind it (PostgreSQL here).

Generalised from ``tests/messaging/conftest.py``'s RabbitMQ proxy: any target port, and the
local ports of its upstream links are kept, so a test can find (and terminate) the database
backends of exactly the app behind the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest


class TcpProxy:
    """Listens on ``port`` (reserved once, kept across cuts) and pipes to ``target_port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.upstream_ports: set[int] = set()
        self.live_ports: set[int] = set()  # upstream links still open
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones (the database "goes away")."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self._links):
            with contextlib.suppress(Exception):
                writer.transport.abort()  # a reset, as a dead peer or a firewall gives
        self._links.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        upstream_port = up_writer.get_extra_info("sockname")[1]
        self.upstream_ports.add(upstream_port)
        self.live_ports.add(upstream_port)
        self._links.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.live_ports.discard(upstream_port)


@contextlib.asynccontextmanager
async def proxied(target_port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


def database_port(database_url: str) -> int:
    """The TCP port of the test database (skips when it is reached over a Unix socket, as the
    embedded server is: there is no TCP link to cut)."""
    parts = urlsplit(database_url)
    if parts.hostname in (None, "") or "host" in dict(parse_qsl(parts.query)):
        pytest.skip("the test database is not reached over TCP (set IMI_TEST_DATABASE_URL)")
    return parts.port or 5432


def via(database_url: str, port: int) -> str:
    """``database_url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))
