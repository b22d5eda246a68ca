# make demo: set up and run the tour.  make test: set up and run the test suite.
PYTHON ?= python3

.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh

demo: setup
	$(PYTHON) examples/demo.py

test: setup
	$(PYTHON) -m pytest -n 2 tests

bench: setup
	$(PYTHON) benchmarks/run.py
