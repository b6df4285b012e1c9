# The README names these targets. Everything runs inside .venv, made by scripts/setup.sh.
PY := .venv/bin/python

.PHONY: setup setup-dev run test test-fast lint bench clean-index

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh --dev

run: setup          ## build/refresh the index from corpus/ and serve the page on 127.0.0.1:7860
	$(PY) app.py

test: setup-dev     ## every test, the real-model, server and browser ones included
	$(PY) -m pytest

test-fast: setup-dev ## unit tests only (tests/unit: fakes, no model, store or server; < 60 s)
	$(PY) -m pytest tests/unit

lint: setup-dev
	$(PY) -m ruff check assistant tests bench app.py
	$(PY) -m mypy

bench: setup-dev
	$(PY) bench/ingest.py
	$(PY) bench/retrieval.py
	$(PY) bench/answer.py
	$(PY) bench/verify.py
	$(PY) bench/ui_load.py
	$(PY) bench/attacks.py

clean-index:
	rm -rf index/chroma index/*.sqlite3 index/bm25
