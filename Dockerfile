# syntax=docker/dockerfile:1
# azs-backup-bot: one image, three processes (`web`, `worker`, `socket` as the command).
# Everything installed comes from a hash-checked lock (--require-hashes, wheels only): the dependencies
# from requirements.lock, the build backend from requirements-build.lock; the base image is pinned by
# digest. Same inputs, same image, whatever the package index or the tag says today.

# The base, by digest: python:3.11-slim-bookworm as of 2026-08-25 (Python 3.11.16), the multi-platform
# index digest listed in the official images' repo-info (docker-library/repo-info,
# repos/python/remote/3.11-slim-bookworm.md, commit 33a22f41ac7bf613bc03380b0317536a9a7fb5e8).
# Python 3.11 because the tests run on 3.11 (tests/test_deploy.py checks the two agree).
# Refresh: `bash scripts/base-image-digest` prints the tag's current digest (`--update` writes it here);
# it needs crane or docker buildx and the registry. A mirrored base (disconnected sites) keeps its digest:
#   --build-arg PYTHON_IMAGE=registry.example.com/library/python:3.11-slim-bookworm@sha256:<same digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

# --- builder: resolve nothing, verify everything, build the project's wheel ---------------------
FROM ${PYTHON_IMAGE} AS builder
# An internal package mirror for disconnected sites, read by pip as is; unset, pip uses its default index.
# The hashes in the locks still decide what is installed, so a mirror cannot change the image. Only the
# builder sees these (they stay out of the final image), but do not put a password in them: build
# arguments are kept in the build cache and metadata (docs/deploy.md has the alternative).
#   --build-arg PIP_INDEX_URL=https://pypi-mirror.example.com/simple
#   --build-arg PIP_TRUSTED_HOST=pypi-mirror.example.com   (plain HTTP, or a certificate pip does not trust)
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The build backend (setuptools) in a virtualenv of its own that never reaches the final image.
COPY requirements-build.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --only-binary=:all: -r requirements-build.lock
# requirements.lock holds the dependencies and the `report` extra (matplotlib: the monthly report's chart,
# drawn headless), so the image's reports carry their chart; scripts/lock writes it that way.
COPY requirements.lock ./
RUN python -m venv /opt/azs-bot \
    && /opt/azs-bot/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
# The wheel is built by the locked backend (no isolated build environment fetched from the index), then
# installed from that file alone. The runtime virtualenv's own setuptools (bundled by `venv`, unlocked,
# unused at run time) goes.
RUN /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /tmp/dist . \
    && /opt/azs-bot/bin/pip install --no-deps --no-index /tmp/dist/azs_backup_bot-*.whl \
    && /opt/azs-bot/bin/pip uninstall --yes setuptools \
    && /opt/azs-bot/bin/azs-bot --help > /dev/null

# --- final: the virtualenv only; no compilers, no pip cache, no build files -----------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="azs-backup-bot" \
      org.opencontainers.image.description="Slack ChatOps bot that starts, tracks and reports Azure Stack Hub infrastructure backups" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
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
# Liveness only (/livez: the process's loop turns; never Redis or Slack, which a restart cannot cure): `web`
# answers on PORT, `worker` and `socket` on AZS_METRICS_PORT. PID 1 is azs-bot, so its command line says which
# one this container runs. A 503 raises, so the check fails. No proxy: urlopen would send even 127.0.0.1 to
# HTTP_PROXY when NO_PROXY does not list it, and the check would fail.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as r;a=open('/proc/1/cmdline','rb').read().split(b'\\0');p=os.environ['PORT' if b'web' in a else 'AZS_METRICS_PORT'];r.build_opener(r.ProxyHandler({})).open(f'http://127.0.0.1:{p}/livez',timeout=4)"]
ENTRYPOINT ["azs-bot"]
CMD ["web"]
