"""Offline stand-in for the get-pip.py that ansible-test downloads from its own CI host.

ansible-test bootstraps pip into each sanity-test virtualenv with a get-pip script fetched
from a host this project cannot reach; it looks for a cached copy first. This stand-in
takes the same arguments, seeds pip from the interpreter's bundled ensurepip, then installs
the requested pins from the package registry.
"""
import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel", "--disable-pip-version-check"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call(
    [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    + [arg for arg in sys.argv[1:] if arg not in IGNORED]
)
