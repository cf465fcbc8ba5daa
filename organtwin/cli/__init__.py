"""The `organtwin` command line."""


def main() -> None:
    """The console script: SIGINT/SIGTERM/SIGHUP handlers first, then the imports (`organtwin.cli._signals.console_entry`).

    A signal that arrives before `organtwin.cli._signals` has installed its handlers (it imports threading, re, ...)
    is only recorded here and raised again once they are in place, so even a Ctrl-C in the first milliseconds exits
    130/143/129 with its one line instead of Python's KeyboardInterrupt traceback. (The interpreter's own start-up,
    before this function runs, is out of our reach.)"""
    import signal

    early: list[int] = []

    def record(signum, frame):
        early.append(signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, record)
    from ._signals import console_entry

    console_entry(early=early)


def __getattr__(name: str):
    # `app` and the in-process `main` load on first use, so that the console script takes Ctrl-C before the imports
    if name in ("app", "_main_impl"):
        from . import _main

        return {"app": _main.app, "_main_impl": _main.main}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
