# The two quick-start commands: `make demo` and `make test`. Both install what they
# need into ./.venv first (Python 3.11+ must be on PATH as python3).
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test check lint install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/batcher demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, mypy (with the pydantic plugin), then the whole test suite: what CI runs
lint: $(STAMP)
	$(VENV)/bin/ruff check batcher tests bench samples
	$(VENV)/bin/mypy

check: lint test

bench: $(STAMP)
	$(PY) bench/convert.py
	$(PY) bench/push.py
	$(PY) bench/upload.py
	$(PY) bench/reconcile.py
	$(PY) bench/ratelimit.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
