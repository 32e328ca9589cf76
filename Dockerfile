# syntax=docker/dockerfile:1
# iMi service image. Configure with IMI_* variables (see README); without IMI_DATABASE_URL it
# runs an embedded PostgreSQL under IMI_DATA_DIR (/data: mount a volume to keep it).
FROM python:3.12-slim

COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1

WORKDIR /app

# Dependencies first: this layer stays cached until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

# The project itself (editable, so alembic.ini and migrations/ are found next to imi/).
COPY README.md alembic.ini ./
COPY migrations ./migrations
COPY imi ./imi
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

RUN useradd --create-home --uid 10001 imi \
    && mkdir /data \
    && chown imi:imi /data

ENV PATH="/app/.venv/bin:$PATH" \
    IMI_DATA_DIR=/data \
    IMI_PORT=8080

USER imi
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('IMI_PORT', '8080')}/health\", timeout=4)"]

CMD ["imi", "serve", "--host", "0.0.0.0"]
