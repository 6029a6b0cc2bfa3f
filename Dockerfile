# syntax=docker/dockerfile:1
#
# One image recipe for all seven services; SERVICE picks which one:
#
#   docker build --build-arg SERVICE=ats-sync -t recruitcrm/ats-sync:latest .
#
# SERVICE is a directory name under services/ (gateway, candidates, campaigns, events,
# ats-sync, analytics, console). Its workspace package is crm-${SERVICE}; its import package is
# crm_${SERVICE with - as _}, whose `main:create_app` is the ASGI factory uvicorn runs.
#
# The builder installs only that service's locked dependency closure (crm-shared plus its
# third-party packages; never deploy/local's dev-stack tooling or the dev group) into
# /app/.venv, non-editable, so the runtime stage needs nothing but that virtualenv.

# Both stages use the same base image so the venv's interpreter path stays valid.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# Keep this pin in step with the uv that writes uv.lock (lock revision support).
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<service>" >&2; exit 1; }

# 1) Third-party dependencies only. uv needs every workspace member's pyproject.toml to load
#    the workspace (root members: shared, services/*, deploy/local), but no sources yet, so
#    this layer is rebuilt only when a pyproject.toml or uv.lock changes.
#    Adding a service means adding its line here (tests/unit/deploy checks that).
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY deploy/local/pyproject.toml deploy/local/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/candidates/pyproject.toml services/candidates/
COPY services/campaigns/pyproject.toml services/campaigns/
COPY services/events/pyproject.toml services/events/
COPY services/ats-sync/pyproject.toml services/ats-sync/
COPY services/analytics/pyproject.toml services/analytics/
COPY services/console/pyproject.toml services/console/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "crm-${SERVICE}"

# 2) The workspace packages this service needs: the shared library and the service itself,
#    installed as regular (non-editable) packages so the sources need not ship.
COPY shared/src shared/src
COPY services/${SERVICE}/src services/${SERVICE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "crm-${SERVICE}"

# "ats-sync" -> "crm_ats_sync"; fail the build if that package has no main module.
RUN package="crm_$(echo "${SERVICE}" | tr '-' '_')" \
 && /app/.venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1] + '.main') is None)" "${package}" \
 && echo "${package}" > /app/service-package

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE
LABEL org.opencontainers.image.title="recruitcrm-${SERVICE}"

RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin crm

WORKDIR /app
# Owned by root and read-only to the service user: the process cannot alter its own code.
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /app/service-package /app/service-package

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SERVICE_NAME=${SERVICE}

USER 10001:10001

EXPOSE 8000

# Liveness only; docker-compose.yml overrides this with /readyz so dependants wait for
# Kafka and MongoDB to be reachable too.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# --timeout-keep-alive: crm_shared.bootstrap.SERVER_KEEP_ALIVE_SECONDS (why it is that long).
# exec: uvicorn becomes PID 1 and receives SIGTERM directly for a graceful shutdown.
CMD ["/bin/sh", "-c", "exec uvicorn --factory \"$(cat /app/service-package).main:create_app\" --host 0.0.0.0 --port 8000 --timeout-keep-alive 75 --no-proxy-headers"]
