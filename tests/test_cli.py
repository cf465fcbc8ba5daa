"""The command line as a user runs it: outputs, one-line errors, exit codes."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from cli import one_error_line, run_cli

from organtwin.cli._main import main


@pytest.fixture(scope="module")
def slab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "slab.vtu"
    assert main(["mesh", "generate", "slab", "--dx", "1.0", "--size", "4,3,2", "--out", str(path)]) == 0
    return path


def test_generate_and_info_json(capsys, slab_file):
    rc, out, err = run_cli(capsys, "mesh", "info", slab_file, "--json")
    assert rc == 0, err
    info = json.loads(out)
    assert info["nodes"] == 5 * 4 * 3
    assert info["tets"] == 4 * 3 * 2 * 6
    # one region, the whole 4 x 3 x 2 mm box = 24 mm^3 = 0.024 mL (exact for a box, up to round-off)
    assert len(info["regions"]) == 1
    assert info["regions"][0]["volume_mL"] == pytest.approx(0.024, rel=1e-12)
    names = {s["name"] for s in info["surfaces"]}
    assert {"x0", "x1", "y0", "y1", "z0", "z1"} <= names


def test_info_text(capsys, slab_file):
    rc, out, err = run_cli(capsys, "mesh", "info", slab_file)
    assert rc == 0, err
    assert "60" in out and "mL" in out


def test_convert_regions_biv(capsys, tmp_path):
    from organtwin.mesh import builtin_mesh_path, read_mesh

    src = builtin_mesh_path("biv")
    dst = tmp_path / "lv_only.vtu"
    rc, out, err = run_cli(capsys, "mesh", "convert", src, "--out", dst, "--regions", "1")
    assert rc == 0, err
    lv = read_mesh(dst)
    full = read_mesh(src)
    assert lv.region_ids.tolist() == [1]
    assert lv.n_cells == int((full.regions == 1).sum())
    np.testing.assert_allclose(lv.cell_volumes().sum(), full.cell_volumes()[full.regions == 1].sum(), rtol=1e-12)
    assert "endo_lv" in lv.surfaces


def test_convert_scale_and_opencarp(capsys, tmp_path, slab_file):
    dst = tmp_path / "slab_um.pts"
    rc, _, err = run_cli(capsys, "mesh", "convert", slab_file, "-o", dst)
    assert rc == 0, err
    assert (tmp_path / "slab_um.elem").exists()
    first = (tmp_path / "slab_um.pts").read_text().splitlines()[1:]
    coords = np.array([[float(t) for t in ln.split()] for ln in first])
    assert coords.max() == pytest.approx(4000.0)  # µm on disk
    rc, out, err = run_cli(capsys, "mesh", "info", tmp_path / "slab_um.pts", "--json")
    assert rc == 0, err
    assert json.loads(out)["bounding_box"]["max"][0] == pytest.approx(4.0)  # back to mm


def test_render_png(capsys, tmp_path, slab_file):
    png = tmp_path / "slab.png"
    rc, _, err = run_cli(capsys, "mesh", "render", slab_file, "--out", png)
    assert rc == 0, err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_render_unknown_field_is_one_line(capsys, tmp_path, slab_file):
    rc, _, err = run_cli(capsys, "mesh", "render", slab_file, "--out", tmp_path / "x.png", "--field", "nope")
    assert rc == 1
    assert "nope" in one_error_line(err)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "argv, code, word",
    [
        (["mesh", "info", "/no/such/file.vtu"], 1, "file.vtu"),
        (["mesh", "generat"], 2, "generate"),
        (["mesh", "generate", "slab"], 2, "--out"),
        (["mesh", "generate", "slab", "--dx", "-1", "--out", "x.vtu"], 2, "positive"),
        (["mesh", "convert", "IN", "-o", "OUT", "--regions", "a,b"], 2, "regions"),
        (["mesh", "convert", "IN"], 2, "--out"),
    ],
)
def test_bad_command_lines_are_one_line(capsys, argv, code, word):
    rc, _, err = run_cli(capsys, *argv)
    assert rc == code
    assert word in one_error_line(err)


def test_garbage_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "garbage.vtu"
    bad.write_text("this is not a mesh\n")
    rc, _, err = run_cli(capsys, "mesh", "info", bad)
    assert rc == 1
    assert "garbage.vtu" in one_error_line(err)


def test_missing_region_is_one_line(capsys, tmp_path, slab_file):
    out = tmp_path / "o.vtu"
    rc, _, err = run_cli(capsys, "mesh", "convert", slab_file, "--out", out, "--regions", "7")
    assert rc == 1
    assert "7" in one_error_line(err)
    assert not out.exists()


def test_console_script_installed():
    exe = shutil.which("organtwin")
    cmd = [exe] if exe else [sys.executable, "-c", "from organtwin.cli import main; main()"]
    r = subprocess.run(cmd + ["mesh", "info", "/no/such.vtu"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("organtwin: error:")


def test_demo(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "demo", "--out", tmp_path / "demo")
    assert rc == 0, err
    for name in ("biv.vtu", "biv_regions.png", "biv_fibres.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000
    from organtwin.mesh import read_mesh

    m = read_mesh(tmp_path / "demo" / "biv.vtu")
    assert m.fibres is not None and np.allclose(np.linalg.norm(m.fibres, axis=1), 1.0, atol=1e-6)
    assert "LV" in out or "region" in out


def _command_paths(cmd, prefix=()):
    for name, sub in getattr(cmd, "commands", {}).items():
        yield prefix + (name,)
        yield from _command_paths(sub, prefix + (name,))


def test_every_command_prints_its_help(capsys):
    """`--help` of every command renders (rich markup in a help text, e.g. "[/endo_rv]", once crashed `activate --help`)."""
    import typer.main

    from organtwin.cli._main import app

    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("activate",) in paths and ("mesh", "surfaces") in paths and ("ep", "run") in paths
    for path in paths:
        rc, out, err = run_cli(capsys, *path, "--help")
        assert rc == 0 and "Usage" in out and not err.strip(), (path, err)


def test_version_and_short_help(capsys):
    """`organtwin --version` prints the package's version (written once, in pyproject.toml); `-h` is `--help` on every
    command (`ep tune-cv` included: its edge length is --edge-length only); flags show no value metavar."""
    from importlib.metadata import version

    import typer.main

    import organtwin
    from organtwin.cli._main import app

    rc, out, err = run_cli(capsys, "--version")
    assert (rc, out.strip(), err) == (0, f"organtwin {version('organtwin')}", "")
    assert organtwin.__version__ == version("organtwin")
    for path in [(), *_command_paths(typer.main.get_command(app))]:
        rc, out, err = run_cli(capsys, *path, "-h")
        assert rc == 0 and "Usage" in out and not err.strip(), (path, err)
        assert "<bool>" not in out, path
        rc, long_out, _ = run_cli(capsys, *path, "--help")
        assert long_out == out, path
    rc, out, _ = run_cli(capsys, "mesh", "convert", "-h")
    assert "SRC" in out and "DST" in out  # arguments in upper case, as the messages name them


def _options(path):
    import typer.main

    from organtwin.cli._main import app

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return {o: p for p in cmd.params for o in p.opts}


def test_one_argument_name_style():
    """Precision is `--dtype float32|float64` on every command that has one; a file written besides the printout is
    --out/-o; the old spellings are hidden aliases."""
    for path in [("cell",), ("activate",), ("flow", "zerod"), ("bench", "niederer")]:
        opts = _options(path)
        assert {e.value for e in opts["--dtype"].type_descriptor.annotation} == {"float32", "float64"}, path
    for path, old in [(("activate",), "--float64"), (("flow", "zerod"), "--float32")]:
        assert _options(path)[old].hidden, path
    for path in [("ep", "tune-cv"), ("bench", "niederer")]:
        opts = _options(path)
        assert opts["-o"] is opts["--out"] and opts["--json"].hidden, path
    assert "-h" not in _options(("ep", "tune-cv"))


def test_deprecated_aliases_still_work_with_a_note(capsys, tmp_path):
    note = "organtwin: note: --json is deprecated; use --out"
    rc, _, err = run_cli(capsys, "bench", "niederer", "-q", "--json", tmp_path / "no" / "r.json")
    assert rc == 2 and "--json" in one_error_line(err) and note in err
    rc, _, err = run_cli(capsys, "bench", "niederer", "-q", "--json", tmp_path / "a.json", "-o", tmp_path / "b.json")
    assert rc == 2 and "deprecated spelling of --out" in one_error_line(err)
    rc, _, err = run_cli(
        capsys, "ep", "tune-cv", "aliev-panfilov", "--cv", "0.5", "--edge-length", "1", "--json", tmp_path / "n" / "t"
    )
    assert rc == 1 and "--json" in one_error_line(err) and note in err
    data = "tests/data/zerod/pulsatile_rcr.json"
    rc, out, err = run_cli(capsys, "flow", "zerod", data, tmp_path / "z.csv", "--float32")
    assert rc == 0 and "float32" in out and "organtwin: note: --float32 is deprecated; use --dtype float32" in err
    assert "organtwin: note: the positional OUT.csv is deprecated; use --out OUT.csv" in err
    assert (tmp_path / "z.csv").stat().st_size > 1000


def test_outputs_are_out_everywhere():
    """Every command that writes a file or folder names it with --out/-o (`mesh convert SRC --out DST`, `flow zerod
    CONFIG.json --out OUT.csv`); the positional output of earlier versions is a hidden argument, out of the usage line."""
    import typer.main

    from organtwin.cli._main import app

    for path in [("mesh", "convert"), ("mesh", "fibres"), ("mesh", "surfaces"), ("flow", "zerod")]:
        opts = _options(path)
        assert opts["-o"] is opts["--out"], path
    root = typer.main.get_command(app)
    for path in _command_paths(root):
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        if getattr(cmd, "commands", None):
            continue
        outputs = [p for p in cmd.params if p.param_type_name == "argument" and not p.hidden]
        assert not [p.name for p in outputs if "out" in (p.name or "") or "dst" in (p.name or "")], path
        written = {o for p in cmd.params if p.param_type_name == "option" for o in p.opts}
        if path not in {("mesh", "info"), ("ep", "check")}:
            assert "--out" in written and "-o" in written, path
    assert _options(("mesh", "generate"))["--h"].hidden
    assert not _options(("mesh", "generate"))["--edge-length"].hidden


def test_positional_outputs_still_work_with_a_note(capsys, tmp_path, slab_file):
    """The old positional output (`mesh convert SRC DST`, `mesh surfaces`, `mesh fibres`, `flow zerod CONFIG OUT`) still
    works, with a one-line deprecation note on stderr; giving both is a usage error; giving neither names --out."""
    note = "organtwin: note: the positional DST is deprecated; use --out DST"
    rc, out, err = run_cli(capsys, "mesh", "convert", slab_file, tmp_path / "old.msh")
    assert rc == 0 and err.strip() == note and "wrote" in out and (tmp_path / "old.msh").exists()
    rc, out, err = run_cli(capsys, "mesh", "convert", slab_file, "--out", tmp_path / "new.msh")
    assert rc == 0 and not err.strip() and (tmp_path / "new.msh").read_bytes() == (tmp_path / "old.msh").read_bytes()
    rc, _, err = run_cli(capsys, "mesh", "convert", slab_file, tmp_path / "a.vtu", "-o", tmp_path / "b.vtu")
    assert rc == 2 and "DST and --out both name the output; give only --out DST" in one_error_line(err)
    assert not (tmp_path / "a.vtu").exists() and not (tmp_path / "b.vtu").exists()
    for cmd in (["mesh", "convert"], ["mesh", "fibres"], ["mesh", "surfaces"]):
        rc, _, err = run_cli(capsys, *cmd, slab_file)
        assert rc == 2 and "Missing option '--out' / '-o'" in one_error_line(err, only=True), cmd
    rc, _, err = run_cli(capsys, "flow", "zerod", "tests/data/zerod/pulsatile_rcr.json")
    assert rc == 2 and "Missing option '--out' / '-o'" in one_error_line(err, only=True)
    # mesh surfaces (a slab has named surfaces: nothing to compute) in both forms
    rc, out, err = run_cli(capsys, "mesh", "surfaces", slab_file, tmp_path / "s_old.vtu", "--no-png")
    assert rc == 0 and err.strip() == note and "x0" in out and (tmp_path / "s_old.vtu").exists()
    rc, out, err = run_cli(capsys, "mesh", "surfaces", slab_file, "-o", tmp_path / "s_new.vtu", "--no-png")
    assert rc == 0 and not err.strip() and (tmp_path / "s_new.vtu").exists()
    # mesh fibres: the picture may not be the mesh, named as the user gave it (checked before the Laplace solves)
    same = tmp_path / "f.vtu"
    rc, _, err = run_cli(capsys, "mesh", "fibres", slab_file, same, "--png", same)
    assert rc == 2 and note in err and "--png" in one_error_line(err) and "is DST too" in one_error_line(err)
    rc, _, err = run_cli(capsys, "mesh", "fibres", slab_file, "--out", same, "--png", same)
    assert rc == 2 and "is --out too" in one_error_line(err, only=True)


def test_mesh_fibres_out(capsys, tmp_path):
    from organtwin.mesh import builtin_mesh_path, read_mesh

    dst = tmp_path / "lv_fibres.vtu"
    rc, out, err = run_cli(capsys, "mesh", "fibres", builtin_mesh_path("lv_ellipsoid"), "-o", dst)
    assert rc == 0 and not err.strip(), err
    assert f"wrote {dst} with fibres and sheets" in out
    assert read_mesh(dst).fibres is not None


def test_generate_edge_length_and_its_old_spelling(capsys, tmp_path):
    """`mesh generate --edge-length` (mm) is the lv/biv element size; `--h` (next to -h, help) still works, with a note."""
    rc, _, err = run_cli(capsys, "mesh", "generate", "lv", "--edge-length", "-1", "--out", tmp_path / "a.vtu")
    assert rc == 2 and "--edge-length must be positive lengths in mm" in one_error_line(err, only=True)
    rc, _, err = run_cli(capsys, "mesh", "generate", "lv", "--h", "-1", "--out", tmp_path / "a.vtu")
    assert rc == 2 and "--h must be positive lengths in mm" in one_error_line(err)
    assert "organtwin: note: --h is deprecated; use --edge-length" in err
    rc, _, err = run_cli(capsys, "mesh", "generate", "lv", "--h", "2", "--edge-length", "2", "-o", tmp_path / "a.vtu")
    assert rc == 2 and "--h is the deprecated spelling of --edge-length" in one_error_line(err)
    assert not (tmp_path / "a.vtu").exists()


def test_one_progress_model(capsys, tmp_path, monkeypatch):
    """Every command that shows progress (`ep run`, `calibrate`, `bench niederer`) shows it on stderr when stderr is a
    terminal and takes --quiet/-q to silence it; `ep run`'s old --progress/--no-progress are hidden aliases, with a
    note (--progress still forces the bar: tests/test_ep_run.py)."""
    import sys

    from organtwin.cli._common import show_progress

    for path in [("ep", "run"), ("calibrate",), ("bench", "niederer")]:
        opts = _options(path)
        assert opts["-q"] is opts["--quiet"] and not opts["--quiet"].hidden, path
    assert _options(("ep", "run"))["--progress"].hidden
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert show_progress(False) is True and show_progress(True) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert show_progress(False) is False
    capsys.readouterr()
    missing = tmp_path / "missing.toml"
    rc, _, err = run_cli(capsys, "ep", "run", missing, "--out", tmp_path / "r", "--no-progress")
    assert rc == 1 and "missing.toml" in one_error_line(err)
    assert "organtwin: note: --no-progress is deprecated; use --quiet" in err
    rc, _, err = run_cli(capsys, "ep", "run", missing, "--out", tmp_path / "r", "--progress", "-q")
    assert rc == 2 and "give only --quiet" in one_error_line(err, only=True)
    rc, _, err = run_cli(capsys, "ep", "run", missing, "-o", tmp_path / "r", "-q")
    assert rc == 1 and "missing.toml" in one_error_line(err, only=True)


def test_help_reads_consistently(capsys):
    """Every command's help: option values as <type> or <choice|choice> (never <list[...]> or [a|b]), help text kept
    whole (rich markup once ate `ep run --fibres`'s "[fibres]"), units spelled in the help of the numbers that have
    them."""
    import re

    import typer.main

    from organtwin.cli._main import app

    for path in [(), *_command_paths(typer.main.get_command(app))]:
        rc, out, _ = run_cli(capsys, *path, "-h")
        assert rc == 0 and "<list[" not in out and not re.search(r"\s\[[a-z0-9]+\|", out), path
    for path in [("ep", "run"), ("ep", "check")]:
        rc, out, _ = run_cli(capsys, *path, "-h")
        assert "the case's [fibres] source" in " ".join(out.replace("│", " ").split()), path
    rc, out, _ = run_cli(capsys, "mesh", "generate", "-h")
    assert "--edge-length" in out and "--h " not in out and "mm" in out
