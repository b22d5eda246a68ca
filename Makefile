# make demo: set up and run the tour.  make test: set up and run the test suite.
PYTHON ?= python3

.PHONY: demo test bench
demo:
	bash scripts/setup.sh demo
	$(PYTHON) examples/demo.py

test:
	bash scripts/setup.sh test
	$(PYTHON) -m pytest -n 2 tests

bench:
	bash scripts/setup.sh test
	$(PYTHON) benchmarks/run.py
