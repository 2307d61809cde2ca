PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= var/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench demo clean

$(BIN)/govgraph: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/govgraph

DEMO_SOURCES := $(wildcard govgraph/demo/*.py govgraph/demo/catalog/*.yaml govgraph/demo/catalog/departments/*.yaml)

# Rebuilt when the generator or the demo catalog changes, so a clone that pulled a new column serves it.
$(DEMO_DIR)/MANIFEST.json: $(DEMO_SOURCES) | $(BIN)/govgraph
	$(BIN)/govgraph demo generate --out $(DEMO_DIR)

demo: $(DEMO_DIR)/MANIFEST.json

run: $(BIN)/govgraph $(DEMO_DIR)/MANIFEST.json
	GOVGRAPH_DEMO_DIR=$(DEMO_DIR) $(BIN)/govgraph serve --host $(HOST) --port $(PORT)

test: $(BIN)/govgraph
	$(BIN)/ruff check govgraph tests bench
	$(BIN)/pytest

bench: $(BIN)/govgraph
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache
