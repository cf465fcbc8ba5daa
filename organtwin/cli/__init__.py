"""The `organtwin` command line."""

from ._main import app as app, main as _main_impl, run as main
