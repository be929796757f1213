# The two commands of the README. Both set up .venv first (idempotent, seconds when up to date).
.PHONY: setup serve test lint bench train-demo eval-demo lock image-test
setup:
	./scripts/setup.sh

# On CPU, vLLM would otherwise size its KV cache to nearly all free memory; 4 GiB as in the
# CPU image (ignored on GPUs). Set VLLM_CPU_KVCACHE_SPACE to override.
serve: setup
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-4} .venv/bin/llava-serve serve $(ARGS)

test: setup lint
	.venv/bin/pytest $(PYTEST_ARGS)

# The same checks as .pre-commit-config.yaml, plus mypy (strict; its files in pyproject.toml).
LINT_PATHS = server llava_demo tests benchmarks scripts
lint: setup
	.venv/bin/ruff check $(LINT_PATHS)
	.venv/bin/ruff format --check $(LINT_PATHS)
	.venv/bin/mypy
	.venv/bin/codespell $(LINT_PATHS) docs docker README.md Makefile pyproject.toml

# Side-by-side with vLLM's own server (docs/benchmarks.md); MODEL=bench-llava-hf-336 for the 336 px one.
MODEL ?= tiny-llava-hf
bench: setup
	.venv/bin/python -m benchmarks.run --model $(MODEL) $(BENCH_ARGS)

# The demo model (docs/demo-model.md): train it here on CPU, or measure a served one through
# the API, e.g. make eval-demo DEMO_ARGS="--base-url http://127.0.0.1:8000/v1".
train-demo: setup
	.venv/bin/python -m llava_demo train $(DEMO_ARGS)

eval-demo: setup
	.venv/bin/python -m llava_demo eval $(DEMO_ARGS)

# Regenerate requirements/*.lock from requirements/*.in (uv's resolver).
lock:
	./scripts/lock.sh

# Build the CPU image and run it as users do (docs/deploy.md). Docker is started (and installed)
# if needed. IMAGE_TEST_ARGS=--clean builds without the layer cache; --gpu builds the GPU image.
image-test: setup
	.venv/bin/python scripts/image_test.py $(IMAGE_TEST_ARGS)
