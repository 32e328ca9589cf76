"""A file upload with honest progress on stderr: bytes sent while the body goes out, then an
open-ended bar with the elapsed time while the server works (it reports no progress of its
own, so no percentage is invented for that part)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from imi.cli import render
from imi.cli.client import Client, ClientFailure

CHUNK_BYTES = 16 * 1024


def upload_with_progress(
    api: Client, path: str, file: Path, *, content_type: str, params: dict[str, str]
) -> httpx.Response:
    """POST ``file`` as the body of ``path``; the server's response, whatever its status."""
    size = file.stat().st_size
    screen = render.console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=screen,
        transient=True,  # the report replaces it
        disable=not screen.is_interactive,  # pipes and CI logs get no bar, only the result
    )
    with progress, file.open("rb") as source:
        sending = progress.add_task(f"sending {file.name}", total=size)

        def body() -> Iterator[bytes]:
            left = size  # as announced in Content-Length, even if the file grows meanwhile
            while left > 0 and (block := source.read(min(CHUNK_BYTES, left))):
                left -= len(block)
                progress.advance(sending, len(block))
                yield block
            progress.update(sending, description=f"sent {file.name}")
            progress.add_task("server working", total=None)

        try:
            return api.request(
                "POST",
                path,
                params=params,
                content=body(),
                headers={"Content-Type": content_type, "Content-Length": str(size)},
            )
        except ClientFailure as failure:
            if 0 < progress.tasks[0].completed < size:
                # The server answered (e.g. 413 on the announced size) and closed before
                # reading the rest; say what happened rather than a bare broken pipe.
                raise ClientFailure(
                    f"the server stopped reading {file.name} ({size} bytes) after "
                    f"{int(progress.tasks[0].completed)} bytes: {failure.message}"
                ) from None
            raise
