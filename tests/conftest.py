"""Shared test setup: the helper modules in tests/support (the op table, closed forms)
are importable from every test folder."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "support"))
