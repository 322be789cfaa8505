# syntax=docker/dockerfile:1
#
# One image for every batchrelay role: worker (default), beat, flower, exporter, gateway,
# emulator.
#   docker build -t batchrelay .
#   docker run --rm -e BATCHRELAY_REDIS_URL=redis://host:6379/0 batchrelay            # worker
#   docker run --rm ... batchrelay batchrelay beat                                    # another role
#
# Stage 1 installs the project into a virtualenv; stage 2 copies only that virtualenv, so the
# runtime image carries no build frontend, no source tree and no pip cache.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Metadata first, then the packages (see .dockerignore for what stays out of the context).
COPY pyproject.toml README.md ./
COPY producers/ producers/
COPY worker/ worker/
COPY emulator/ emulator/
COPY gateway/ gateway/
RUN pip install --upgrade pip setuptools wheel \
 && pip install '.[worker,emulator,gateway]' \
 && batchrelay --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="batchrelay" \
      org.opencontainers.image.description="Queue single LLM requests in Redis; Celery workers pack them into OpenAI Batch API jobs and deliver every result to its own callback." \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Fixed uid/gid so Kubernetes can check runAsNonRoot and volumes can be chowned by number.
RUN groupadd --system --gid 10001 batchrelay \
 && useradd --system --uid 10001 --gid batchrelay --create-home --home-dir /home/batchrelay \
        --shell /usr/sbin/nologin batchrelay
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/batchrelay
# Celery turns SIGTERM into a warm shutdown: running tasks finish, unacked ones go back to the
# broker. Give it time: compose sets stop_grace_period, Kubernetes terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
# Documentation only; each role binds its own port: flower 5555, exporter 9808, emulator 8089,
# gateway 8090.
EXPOSE 5555 9808 8089 8090
# No HEALTHCHECK here: the right probe depends on the role (see docker-compose.yml / deploy/).
CMD ["batchrelay", "worker"]
