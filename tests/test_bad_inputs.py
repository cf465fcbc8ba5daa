"""The bad-input catalogue (issue 18, item 6): every command, through the installed `organtwin` console script, refuses
what a user gets wrong with the right exit status, one `organtwin: error:` line that says what, where and how to fix,
no traceback, and nothing left in the output place (the user's own files there untouched).

The table is tests/bad_input_cases.py (also run by benchmarks/bad_inputs.py for the counts in RESULTS.md). The cases
selected for this session run once, four subprocesses at a time, in a module-scoped fixture; each test reads its
case's result.
"""

from __future__ import annotations

import bad_input_cases as B
import pytest


def _param(case: B.Case):
    marks = [pytest.mark.slow] if case.slow else []
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = B.make_inputs(tmp_path_factory.mktemp("inputs"))
    return folder, B.tree(folder)


@pytest.fixture(scope="module")
def catalogue(request, inputs, tmp_path_factory) -> dict[str, B.Result]:
    """Run, concurrently, the cases of every test_catalogue item this session kept (after -m / -k selection)."""
    chosen = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.originalname == "test_catalogue" and hasattr(item, "callspec")
    ]
    return B.run_all(chosen, inputs[0], tmp_path_factory.mktemp("cases"), workers=4)


@pytest.mark.parametrize("case", [_param(c) for c in B.CASES])
def test_catalogue(case, catalogue):
    r = catalogue[case.id]
    bad = B.problems(case, r)
    assert not bad, f"organtwin {' '.join(case.argv)}: " + "; ".join(bad) + f"\nstderr:\n{r.stderr[-2000:]}"


def test_shared_inputs_untouched(catalogue, inputs):
    # no case may write into, or delete from, the inputs every case reads
    folder, before = inputs
    assert B.tree(folder) == before


def _command_paths(app, prefix=()) -> set[str]:
    out = set()
    for cmd in app.registered_commands:
        out.add(" ".join((*prefix, cmd.name or cmd.callback.__name__.replace("_", "-"))))
    for group in app.registered_groups:
        out |= _command_paths(group.typer_instance, (*prefix, group.name))
    return out


def test_catalogue_covers_every_command_with_at_least_60_cases():
    from organtwin.cli._main import app

    commands = _command_paths(app)
    assert {"mesh info", "ep run", "flow zerod", "calibrate", "bench niederer"} <= commands
    covered = {c.command for c in B.CASES}
    assert commands <= covered, f"commands without a bad-input case: {sorted(commands - covered)}"
    default = [c for c in B.CASES if not c.slow]
    assert len(default) >= 60 and len(B.CASES) >= 80
    # the kinds the issue names are all there
    ids = " ".join(c.id for c in B.CASES)
    for kind in (
        "missing",
        "empty",
        "garbage",
        "folder",
        "nan",
        "inf",
        "negative",
        "zero",
        "huge",
        "outside",
        "not-in-mesh",
        "malformed",
        "unknown-key",
        "wrong-unit",
        "unknown-block",
        "out-is-a-file",
        "user-files",
        "under-a-file",
        "face-in-three-tets",
        "zero-fibres",
        "pinched",
    ):
        assert kind in ids, kind
