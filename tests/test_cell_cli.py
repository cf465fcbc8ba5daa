"""`organtwin cell` (organtwin/cli/_cell.py): figures printed, trace CSV and PNG written atomically, one-line errors.

The command is a plain typer function; these tests register it in a small local typer app (and, once the lead has
registered it in organtwin.cli._main, also run it through the real entry point).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from organtwin.cli._cell import cell, model_name
from organtwin.ionic import MODEL_NAMES, model_from_name, simulate_cell

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("cell")(cell)

    @app.command("other")
    def _other():  # a second command so that "cell" stays a subcommand, as in the real app
        pass

    return app


def _invoke(*args):
    return runner.invoke(_app(), ["cell", *map(str, args)])


def _figure(out: str, label: str) -> float:
    m = re.search(rf"{label}\s+(-?[0-9.]+)", out)
    assert m, out
    return float(m.group(1))


def test_model_names_are_the_library_registry():
    """The command takes its names from organtwin.ionic.MODEL_NAMES (no copy): each is accepted (any case), and a wrong
    one is refused with the registry's names listed."""
    assert all(model_name(n.upper()) == n for n in MODEL_NAMES)
    with pytest.raises(typer.BadParameter) as e:
        model_name("hodgkin-huxley")
    assert str(e.value) == "'hodgkin-huxley' is not one of " + ", ".join(map(repr, MODEL_NAMES)) + "."


def test_cell_prints_figures_and_writes_csv_and_png(tmp_path):
    csv = tmp_path / "trace.csv"
    png = tmp_path / "trace.png"
    csv.write_text("old content\n")  # replaced atomically
    res = _invoke("fenton-karma", "--bcl", 1000, "--beats", 2, "--out", csv, "--png", png)
    assert res.exit_code == 0, res.output
    ref = simulate_cell(model_from_name("fenton-karma"), bcl=1000.0, beats=2).features()
    assert _figure(res.output, "rest") == pytest.approx(ref["rest_mV"], abs=0.01)
    assert _figure(res.output, "peak") == pytest.approx(ref["peak_mV"], abs=0.01)
    assert _figure(res.output, "dV/dt max") == pytest.approx(ref["dvdt_max_V_per_s"], abs=0.1)
    assert _figure(res.output, "APD90") == pytest.approx(ref["apd90_ms"], abs=0.1)
    lines = csv.read_text().splitlines()
    assert lines[0] == "t_ms,V_mV"
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert data.shape == (2 * 10_000, 2)  # 0.1 ms samples over 2 beats
    assert data[0, 0] == 0.0 and data[0, 1] == pytest.approx(-85.0)
    assert np.all(np.diff(data[:, 0]) > 0) and data[:, 1].max() > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.csv", "trace.png"]  # no temporary files left


def test_cell_float32_and_options(tmp_path):
    res = _invoke("mitchell-schaeffer", "--beats", 2, "--dt", 0.05, "--dtype", "float32", "--record-every", 20,
                  "--stim-amplitude", 12, "--stim-duration", 2, "--out", tmp_path / "ms.csv")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "float32" in res.output
    data = np.loadtxt(tmp_path / "ms.csv", delimiter=",", skiprows=1)
    assert data.shape == (2 * 1000, 2) and data[1, 0] == pytest.approx(1.0)
    assert _figure(res.output, "APD90") == pytest.approx(285.0, abs=3.0)


def test_cell_bad_arguments_are_usage_errors(tmp_path):
    for args, message in [
        (("fenton-karma", "--bcl", -5), "--bcl must be a positive"),
        (("fenton-karma", "--beats", 0), "--beats must be at least 1"),
        (("fenton-karma", "--dt", 0), "--dt must be a positive"),
        (("fenton-karma", "--out", tmp_path / "missing" / "t.csv"), "does not exist"),
        (("no-such-model",), "no-such-model"),
    ]:
        res = _invoke(*args)
        assert res.exit_code == 2, (args, res.output)
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.output).split())  # typer may draw a box around the message
        assert message in flat, (args, res.output)


def test_cell_library_errors_are_one_line_value_errors():
    res = _invoke("fenton-karma", "--dt", 0.03, "--beats", 1)
    assert isinstance(res.exception, ValueError)
    assert "\n" not in str(res.exception) and "whole multiple of dt" in str(res.exception)


def _registered() -> bool:
    from organtwin.cli._main import app

    return any(c.name == "cell" for c in app.registered_commands)


@pytest.mark.skipif(not _registered(), reason="`cell` is not yet registered in organtwin.cli._main")
def test_through_the_organtwin_entry_point(capsys, tmp_path):
    from organtwin.cli._main import main

    rc = main(["cell", "mitchell-schaeffer", "--beats", "1", "--out", str(tmp_path / "t.csv")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "APD90" in out and (tmp_path / "t.csv").exists()
    rc = main(["cell", "mitchell-schaeffer", "--dt", "0.03", "--beats", "1"])
    out, err = capsys.readouterr()
    assert rc == 1
    errors = [ln for ln in err.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("organtwin: error:") and "whole multiple of dt" in errors[0]


def test_plot_cell_trace_alone(tmp_path):
    from organtwin.viz import plot_cell_trace

    trace = simulate_cell(model_from_name("mitchell-schaeffer"), beats=1)
    assert plot_cell_trace(trace, tmp_path / "c.png", title="mitchell-schaeffer") == tmp_path / "c.png"
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(list(tmp_path.iterdir())) == 1
