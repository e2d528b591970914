# Flux: `make demo` runs the example incident end to end; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest extension bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check flux_lsp tests bench examples
	$(BIN)/ruff format --check flux_lsp tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy flux_lsp

pytest: $(STAMP)
	sh scripts/ensure-editors.sh
	sh scripts/ensure-postgres.sh
	$(BIN)/pytest -q

# The VS Code extension: npm ci from package-lock.json, tsc --noEmit, esbuild, unit tests, .vsix.
extension:
	bash scripts/build_extension.sh

test: lint typecheck extension pytest

# Every benchmark; each prints its figures (see BENCHMARKS.md). lsp_latency builds a
# 1,000,000-execution recorder first and takes several minutes.
bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) examples/shop/.flux
