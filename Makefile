# make demo: set up and run the tour.  make test: set up and run the test suite.
# make lint: run the linter (ruff; settings in ruff.toml).  make bench: run the benchmarks.
# make docs: set up, build the API reference into docs/_build/html and run its examples.
PYTHON ?= python3

.PHONY: demo test lint bench docs
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

# Warnings are errors; -E re-reads every page, so a second run cannot pass by skipping the
# pages that warned. The doctest run reuses the pages read by the HTML build.
SPHINX = $(PYTHON) -m sphinx -W --keep-going -d docs/_build/doctrees
docs:
	bash scripts/setup.sh docs
	$(SPHINX) -q -E -b html docs docs/_build/html
	$(SPHINX) -q -b doctest docs docs/_build/doctest
	@sed -n 's/^ *\([0-9]* tests\)$$/examples run as doctests: \1, all passed/p' docs/_build/doctest/output.txt
	@echo "API reference: docs/_build/html/index.html"
