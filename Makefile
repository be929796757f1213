# The two commands of the README. Both set up .venv first (idempotent, seconds when up to date).
.PHONY: setup serve test lint
setup:
	./scripts/setup.sh

serve: setup
	.venv/bin/llava-serve serve $(ARGS)

test: setup
	.venv/bin/pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check server tests scripts
	.venv/bin/ruff format --check server tests scripts
	.venv/bin/mypy
