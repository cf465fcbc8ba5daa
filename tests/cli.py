"""Running the command line inside the tests, as a user would (shared by the CLI test modules)."""

from __future__ import annotations

from organtwin.cli._main import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``organtwin ARGV...`` in-process: (exit status, stdout, stderr)."""
    rc = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str, *, only: bool = False) -> str:
    """The single ``organtwin: error: ...`` line of ``err``; every other line must be a one-line ``organtwin:`` message
    (a warning), never a traceback. ``only``: no other line at all."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("organtwin: error:")]
    assert len(errors) == 1, err
    assert all(ln.startswith("organtwin: ") for ln in lines), err
    if only:
        assert len(lines) == 1, err
    return errors[0]
