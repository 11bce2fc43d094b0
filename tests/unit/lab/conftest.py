"""The fixtures of simtest.py, for pytest."""
from simtest import installed, pg, sim  # noqa: F401  pylint: disable=unused-import
