# syntax=docker/dockerfile:1
# azs-backup-bot: one image, three processes (`web`, `worker`, `socket` as the command).
# Dependencies come only from requirements.lock, checked against its hashes (--require-hashes).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- builder: resolve nothing, verify everything, build the project's wheel ---------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/azs-bot
COPY requirements.lock ./
RUN /opt/azs-bot/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN /opt/azs-bot/bin/pip install --no-deps . \
    && /opt/azs-bot/bin/azs-bot --help > /dev/null

# --- final: the virtualenv only; no compilers, no pip cache, no build files -----------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="azs-backup-bot" \
      org.opencontainers.image.description="Slack ChatOps bot that starts, tracks and reports Azure Stack Hub infrastructure backups" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH=/opt/azs-bot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    AZS_METRICS_PORT=9102
RUN groupadd --system --gid 10001 azs-bot \
    && useradd --system --uid 10001 --gid azs-bot --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin azs-bot
COPY --from=builder /opt/azs-bot /opt/azs-bot
USER 10001:10001
WORKDIR /tmp
EXPOSE 3000 9102
# `web` answers /healthz on PORT; `worker` and `socket` on AZS_METRICS_PORT. PID 1 is azs-bot, so its
# command line says which one this container runs. A 503 raises, so the check fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as r;a=open('/proc/1/cmdline','rb').read().split(b'\\0');p=os.environ['PORT' if b'web' in a else 'AZS_METRICS_PORT'];r.urlopen(f'http://127.0.0.1:{p}/healthz',timeout=4)"]
ENTRYPOINT ["azs-bot"]
CMD ["web"]
