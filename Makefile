# make demo: set up and run the tour.  make test: set up and run the test suite.
# make lint: run the linter (ruff; settings in ruff.toml).  make bench: run the benchmarks.
PYTHON ?= python3

.PHONY: demo test lint bench
demo:
	bash scripts/setup.sh demo
	$(PYTHON) examples/demo.py

test:
	bash scripts/setup.sh test
	$(PYTHON) -m pytest -n 2 tests

lint:
	bash scripts/setup.sh lint
	$(PYTHON) -m ruff check autodiff tests examples benchmarks scripts

bench:
	bash scripts/setup.sh test
	$(PYTHON) benchmarks/run.py
