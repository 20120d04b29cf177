# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
VENV := $(shell scripts/bootstrap.sh --print-venv)
BIN := $(VENV)/bin

.PHONY: install demo test lint format lock services-up services-down bench clean

install:
	@scripts/bootstrap.sh >/dev/null

demo: install
	$(BIN)/profilegraph demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-pin every package after editing pyproject.toml's dependencies.
lock: install
	$(BIN)/pip install -q -e '.[dev]'
	( echo '# Exact versions for the cached virtualenv; regenerate with `make lock` after changing pyproject.toml.'; \
	  $(BIN)/pip freeze --exclude-editable | sort -f ) > requirements.lock

services-up: install
	$(BIN)/profilegraph services up

services-down: install
	$(BIN)/profilegraph services down

clean:
	rm -rf .pytest_cache .ruff_cache out build *.egg-info
