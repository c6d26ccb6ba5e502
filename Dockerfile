# syntax=docker/dockerfile:1
# One image for web, worker and beat; docker-compose.yml picks the command for each.
#   docker build -t collections .

# --- build: resolve the locked runtime dependencies into /app/.venv -------------------------------
FROM python:3.11-slim AS build

# The interpreter is the image's own (never one uv downloads), so the venv works in the final stage,
# which has the same Python at the same path.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# Same uv range as the Makefile, so the image reads uv.lock the way `make install` does.
RUN pip install --no-cache-dir "uv>=0.5,<1"

WORKDIR /app
# Only the dependency manifests first: code changes then rebuild from the layer below, not this one.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev

# --- runtime ---------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings

RUN groupadd --system --gid 10001 collections \
    && useradd --system --uid 10001 --gid collections --home-dir /app --no-create-home collections

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY . .

# Static files are hashed and compressed into the image (WhiteNoise serves them; no CDN on a bank
# intranet). The production settings as they run (DEBUG off, so the strict manifest storage):
# tests/config/test_production_serving.py runs this very command with these variables, then serves
# pages from the result with gunicorn. Settings refuse to load without a secret key when DEBUG is
# off; collectstatic signs nothing, so a throwaway value that exists only in this RUN is enough.
# var/ is where the filesystem broker would live if REDIS_URL were unset; the app user must own it.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --no-input \
    && mkdir -p var \
    && chown collections:collections var

# The code and the static files stay owned by root: the app user can read them, not change them.
USER collections

EXPOSE 8000

# No access log: query strings can carry search terms (names, phone numbers) and the logs must never
# hold personal data; the TLS proxy in front keeps the request log. /dev/shm for gunicorn's heartbeat
# files, because a container's /tmp may be on a slow overlay disk. A 120 s worker timeout: a supervisor's
# bulk action (at most 1,000 cases, each through its service) runs in its request.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-tmp-dir", "/dev/shm", "--timeout", "120"]
