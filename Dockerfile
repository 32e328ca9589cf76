# syntax=docker/dockerfile:1
# iMi service image. Configure with IMI_* variables (see README); without IMI_DATABASE_URL it
# runs an embedded PostgreSQL under IMI_DATA_DIR (/data: mount a volume to keep it).
# Two stages: `build` resolves the locked runtime dependencies with uv; `runtime` gets only the
# virtual environment and the project files (no uv, no build caches, no dev dependencies).

FROM python:3.12-slim AS build

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

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


FROM python:3.12-slim AS runtime

RUN useradd --create-home --uid 10001 imi \
    && mkdir /data \
    && chown imi:imi /data

WORKDIR /app
# Owned by root: the service user can read and run the code, not change it.
COPY --from=build /app /app

ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    IMI_DATA_DIR=/data \
    IMI_PORT=8080

USER imi
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('IMI_PORT', '8080')}/health\", timeout=4)"]

CMD ["imi", "serve", "--host", "0.0.0.0"]
