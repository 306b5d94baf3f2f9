# syntax=docker/dockerfile:1
# Proctor's container image: one image for every role (proctor serve, proctor worker,
# proctor gateway serve, proctor notify run, proctor db upgrade), chosen by its arguments.
#
#   docker build -t proctor:local .
#   docker run --rm proctor:local --version
#
# Two stages: "builder" builds the wheel with uv and installs it with its extras into a
# virtual environment; "runtime" copies only that environment onto a slim Python, with
# no compiler, no uv and no pip, and runs it as an unprivileged user. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
# The extras every role of the compose stack needs (docs/deploy.md).
ARG EXTRAS=server,postgres,redis,otel
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN uv build --wheel --out-dir /dist
# The environment is made with the image's own interpreter, at the path the runtime
# stage has too, so it runs there as built.
RUN uv venv /opt/proctor --python /usr/local/bin/python3.11 \
    && uv pip install --python /opt/proctor/bin/python "$(ls /dist/proctor_runtime-*.whl)[${EXTRAS}]" \
    && /opt/proctor/bin/proctor --version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="proctor" \
      org.opencontainers.image.description="Run LLM tool-using agents under explicit control" \
      org.opencontainers.image.licenses="Apache-2.0"
# pip and setuptools of the base image are build tools this image never uses.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && groupadd --system --gid 10001 proctor \
    && useradd --system --uid 10001 --gid proctor --home-dir /var/lib/proctor \
       --shell /usr/sbin/nologin proctor \
    && install -d -o proctor -g proctor -m 0700 /var/lib/proctor \
    && install -d -m 0755 /etc/proctor
COPY --from=builder /opt/proctor /opt/proctor
ENV PATH=/opt/proctor/bin:$PATH \
    PROCTOR_HOME=/var/lib/proctor \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/proctor
# Numeric, so an orchestrator's runAsNonRoot can tell it is not root.
USER 10001:10001
EXPOSE 8700 8701 8787
# Every role answers /readyz: proctor serve on 8700 by default; others say where with
# PROCTOR_HEALTH_URL (a worker's --health-port, the gateway's port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('PROCTOR_HEALTH_URL') or 'http://127.0.0.1:8700/readyz', timeout=4)"]
ENTRYPOINT ["proctor"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8700"]
