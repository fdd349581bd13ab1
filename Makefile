# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Needs Python 3.11+, Java 17 and Maven; everything else is installed here, into .venv and the
# user cache (~/.cache/ytgraph: the resolved Neo4j jars and server homes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench browser-deps neo4j-start neo4j-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,eval,dev,spark]'
	touch $(STAMP)

# Debian's chromium drives the Browser tests (playwright cannot download a browser here).
# YTGRAPH_CHROMIUM names another Chromium binary (the tests honour it too).
browser-deps:
	@[ -n "$$YTGRAPH_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

demo: $(STAMP)
	$(BIN)/ytgraph neo4j start
	$(BIN)/ytgraph generate --users 3000 --videos 4000 --days 14 --seed 7 $(DEMO)/world
	$(BIN)/ytgraph reset --yes
	$(BIN)/ytgraph load $(DEMO)/world/events.csv.gz --videos $(DEMO)/world/videos.csv --rejects $(DEMO)/rejects.csv
	$(BIN)/ytgraph stats
	$(BIN)/ytgraph demo-recommend --users 3
	$(BIN)/ytgraph browse

test: $(STAMP) browser-deps
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m 'not slow and not browser'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_recommend.py
	$(BIN)/python bench/bench_api.py

neo4j-start: $(STAMP)
	$(BIN)/ytgraph neo4j start

neo4j-stop: $(STAMP)
	$(BIN)/ytgraph neo4j stop

clean:
	rm -rf $(VENV) $(DEMO) artifacts .pytest_cache .mypy_cache .ruff_cache
