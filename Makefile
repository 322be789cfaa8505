# The two commands of the README: `make demo` and `make test`. Needs only python3 and make.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint docs bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/batchrelay demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# The tests start their own Redis when none answers on 127.0.0.1:6379 (tests/support/redis.py).
test: lint docs
	$(PY) -m pytest

# Everything but the tests marked slow (process-level runs): under a minute on 2 cores.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow" -q -n 2

bench: $(STAMP)
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .batchrelay .mypy_cache .ruff_cache .pytest_cache site
