"""The `organtwin` command line."""


def main() -> None:
    """The console script: SIGINT/SIGTERM handlers first, then the imports (`organtwin.cli._signals.console_entry`)."""
    from ._signals import console_entry

    console_entry()


def __getattr__(name: str):
    # `app` and the in-process `main` load on first use, so that the console script takes Ctrl-C before the imports
    if name in ("app", "_main_impl"):
        from . import _main

        return {"app": _main.app, "_main_impl": _main.main}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
