"""Finite or refused (issue 18, item 2): no NaN/inf result is written or printed; a divergence names the time, the node
or cell (with its coordinates) and the field, and the likely cause; parameters that make a solve meaningless (a dt
that cannot sample the upstroke, velocities whose arrival times a dtype cannot hold, a scale <= 0) are refused with the
limit. Each through the library and through the command line (in-process `main`, exit code and the one error line),
with nothing written. Tiny meshes and single cells: the file runs in well under a minute."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import write_slab
from cli import one_error_line, run_cli

from organtwin import ep
from organtwin._errors import MeshError, MeshWarning
from organtwin.ionic import (
    AlievPanfilov1996,
    BuenoOrovio2008,
    MitchellSchaeffer2003,
    TenTusscher2006,
    check_time_step,
    simulate_cell,
    time_step_limits,
)
from organtwin.mesh import read_mesh, slab_mesh


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("finite")
    write_slab(d)  # slab.vtu: 4 x 1 x 1 mm at 0.5 mm
    return d


def _nothing_but(folder, *names):
    """Only these entries in the folder (no output, no temporary file left behind)."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


# ================================================================================================== --scale
@pytest.mark.parametrize("scale", [-1.0, 0.0, float("nan")])
def test_read_mesh_refuses_a_scale_that_is_not_positive(folder, scale):
    with pytest.raises(MeshError) as e:
        read_mesh(folder / "slab.vtu", scale=scale)
    msg = str(e.value)
    assert msg.startswith("--scale must be a positive factor (got ")
    if scale < 0:
        assert msg == "--scale must be a positive factor (got -1); a mirrored mesh would turn every tet inside out"
    read_mesh(folder / "slab.vtu", scale=1000.0)  # a positive factor is fine (m -> mm)


@pytest.mark.parametrize(
    "argv",
    [
        ["mesh", "convert", "{d}/slab.vtu", "{o}/out.vtu", "--scale", "-1"],
        ["mesh", "info", "{d}/slab.vtu", "--scale", "0"],
        ["mesh", "render", "{d}/slab.vtu", "--out", "{o}/out.png", "--scale", "-1"],
        ["activate", "{d}/slab.vtu", "--site", "0,0,0", "--cv-fibre", "0.6", "--out", "{o}/out.vtu", "--scale", "-2"],
    ],
)
def test_every_command_with_scale_refuses_it(folder, tmp_path, capsys, argv):
    rc, _, err = run_cli(capsys, *(a.format(d=folder, o=tmp_path) for a in argv))
    assert rc == 1
    line = one_error_line(err)
    assert "--scale must be a positive factor (got " in line
    _nothing_but(tmp_path)


# ================================================================================================== cell
def test_time_step_limits_are_fractions_of_the_upstroke():
    for model, tau in (
        (AlievPanfilov1996(), 14.0),
        (TenTusscher2006(), 0.33),
        (BuenoOrovio2008(), 0.42),
        (MitchellSchaeffer2003(), 2.5),
    ):
        good, bad = time_step_limits(model)
        assert (good, bad) == pytest.approx((tau / 5, tau / 2))
        assert model.default_dt <= good  # the model's own step samples its upstroke
    with pytest.raises(ValueError) as e:
        check_time_step(TenTusscher2006(), 2.0, where="dt")
    assert str(e.value) == (
        "dt 2 ms is too long for TenTusscher2006: its upstroke lasts ~0.33 ms ((peak - rest) / max dV/dt) and a step "
        "longer than half of it (0.165 ms) does not sample it (V overshoots or becomes NaN); use dt <= 0.066 ms"
    )
    with pytest.warns(MeshWarning, match=r"dt 0.1 ms samples the upstroke of TenTusscher2006 \(~0.33 ms\)"):
        assert check_time_step(TenTusscher2006(), 0.1) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_time_step(TenTusscher2006(), 0.05) is None


def test_cell_dt_beyond_the_upstroke_is_refused_before_the_run():
    with pytest.raises(
        ValueError,
        match=r"dt 50 ms is too long for AlievPanfilov1996: its upstroke lasts ~14 ms.*"
        r"use dt <= 2\.8 ms",
    ):
        simulate_cell(AlievPanfilov1996(), bcl=1000.0, beats=1, dt=50.0)


def test_cell_divergence_names_time_field_and_the_stimulus():
    with pytest.raises(RuntimeError) as e:
        simulate_cell(AlievPanfilov1996(), bcl=50.0, beats=1, stim_amplitude=1e6)
    msg = str(e.value)
    assert "\n" not in msg
    # dt 0.05 ms: 5e4 mV in the first step; the cubic current overflows a few steps later
    assert msg.startswith("AlievPanfilov1996 single cell: non-finite Vm")
    t = float(msg.split("at t = ")[1].split(" ms")[0])
    assert 0.05 <= t <= 1.0 and round(t / 0.05, 6).is_integer()
    assert "cell 0" in msg and "beat 1" in msg
    assert "stimulus of 1e+06 µA/µF adds 5e+04 mV per step of 0.05 ms" in msg and "single-cell stimulus is 5" in msg


def test_cell_cli_dt_50_is_an_error_and_writes_nothing(tmp_path, capsys):
    rc, out, err = run_cli(
        capsys,
        "cell",
        "aliev-panfilov",
        "--dt",
        "50",
        "--beats",
        "1",
        "--out",
        tmp_path / "v.csv",
        "--png",
        tmp_path / "v.png",
    )
    assert rc == 1 and "peak" not in out and "nan" not in out.lower()
    line = one_error_line(err)
    assert "dt 50 ms is too long" in line and "upstroke lasts ~14 ms" in line and "use dt <= 2.8 ms" in line
    _nothing_but(tmp_path)


def test_cell_cli_divergence_prints_no_figures_and_writes_nothing(tmp_path, capsys):
    rc, out, err = run_cli(
        capsys,
        "cell",
        "aliev-panfilov",
        "--bcl",
        "50",
        "--beats",
        "1",
        "--stim-amplitude",
        "1e6",
        "--out",
        tmp_path / "v.csv",
    )
    assert rc == 1 and "peak" not in out
    line = one_error_line(err)
    assert "non-finite Vm at t = " in line and "lower the stimulus strength" in line
    _nothing_but(tmp_path)


def test_cell_cli_outputs_are_checked_before_the_run(tmp_path, capsys):
    rc, out, err = run_cli(
        capsys,
        "cell",
        "aliev-panfilov",
        "--beats",
        "1",
        "--out",
        tmp_path / "v.csv",
        "--png",
        tmp_path / "missing" / "v.png",
    )
    assert rc == 2 and out == ""  # a bad command line: nothing ran
    assert "--png" in one_error_line(err) and "does not exist" in err
    _nothing_but(tmp_path)


def test_cell_cli_csv_and_png_both_or_neither(tmp_path, capsys, monkeypatch):
    import organtwin.viz

    class FullDisk:  # the figure is drawn, but saving it finds the disk full
        def savefig(self, *args, **kwargs):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(organtwin.viz, "cell_trace_figure", lambda *a, **k: FullDisk())
    rc, _, err = run_cli(
        capsys,
        "cell",
        "aliev-panfilov",
        "--bcl",
        "100",
        "--beats",
        "1",
        "--out",
        tmp_path / "v.csv",
        "--png",
        tmp_path / "v.png",
    )
    assert rc == 1 and "v.png" in one_error_line(err)
    _nothing_but(tmp_path)  # the CSV was not left without its picture
    monkeypatch.undo()
    rc, out, _ = run_cli(
        capsys,
        "cell",
        "aliev-panfilov",
        "--bcl",
        "100",
        "--beats",
        "1",
        "--out",
        tmp_path / "v.csv",
        "--png",
        tmp_path / "v.png",
    )
    assert rc == 0 and "wrote" in out
    _nothing_but(tmp_path, "v.csv", "v.png")
    assert np.isfinite(np.loadtxt(tmp_path / "v.csv", delimiter=",", skiprows=1)).all()


# ================================================================================================== activate
def _eikonal_tissue(v, dtype=jnp.float32):
    mesh = slab_mesh((4.0, 1.0, 1.0), 0.5)
    return ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(v), dtype=dtype)


def test_eikonal_velocity_too_slow_for_the_dtype():
    site = ep.EikonalSite(jnp.zeros(3), radius=0.6)
    diag = float(np.sqrt(16 + 1 + 1))
    with pytest.raises(ValueError) as e:
        ep.simulate_eikonal(_eikonal_tissue(1e-30), site)
    msg = str(e.value)
    assert msg.startswith("conduction velocity 1e-30 m/s (region 1, fibre) is too slow for this mesh")
    # float32: sqrt(3.4e38) / 1e3 = 1.84e16 ms holds; the limit is L / that
    assert "beyond what float32 activation times can hold (1.84e+16 ms)" in msg
    assert f"use velocities >= {diag / 1.8446744e16:.3g} m/s" in msg
    with pytest.raises(ValueError, match=r"float64 activation times can hold \(5e\+26 ms\)"):
        ep.simulate_eikonal(_eikonal_tissue(1e-30, jnp.float64), site)


def test_eikonal_velocity_too_fast_or_onsets_too_late_lose_precision():
    with pytest.raises(ValueError, match=r"conduction velocity 1e\+20 m/s .* too fast .* lose all precision"):
        ep.simulate_eikonal(_eikonal_tissue(1e20), ep.EikonalSite(jnp.zeros(3), radius=0.6))
    late = ep.EikonalSite(jnp.zeros(3), onset=jnp.asarray(1e9, jnp.float32), radius=0.6)
    with pytest.raises(ValueError, match=r"site onsets up to 1e\+09 ms leave float32 .* shift the onsets nearer 0"):
        ep.simulate_eikonal(_eikonal_tissue(0.6), late)


def test_eikonal_nan_activation_names_the_node_and_its_coordinates():
    import equinox as eqx

    t = _eikonal_tissue(0.6, jnp.float64)
    t = eqx.tree_at(lambda x: x.points, t, t.points.at[20].set(jnp.nan))
    with pytest.raises(RuntimeError) as e:
        ep.simulate_eikonal(t, ep.EikonalSite(jnp.zeros(3), radius=0.6))
    msg = str(e.value)
    assert msg.startswith("simulate_eikonal: non-finite activation_time (nan), node ")
    k = int(msg.split("node ")[1].split(" ")[0])
    assert " at (" in msg and "mm;" in msg and f"of {t.n_nodes} nodes" in msg and 0 <= k < t.n_nodes


@pytest.mark.slow  # a second compilation of the eikonal solver (~10 s)
def test_eikonal_nan_under_jit_raises_through_error_if():
    import equinox as eqx

    site = ep.EikonalSite(jnp.zeros(3), radius=0.6)
    t = _eikonal_tissue(0.6, jnp.float64)
    t = eqx.tree_at(lambda x: x.points, t, t.points.at[20].set(jnp.nan))
    with pytest.raises(Exception, match="simulate_eikonal: non-finite activation_time"):
        jax.block_until_ready(eqx.filter_jit(lambda tissue: ep.simulate_eikonal(tissue, site).activation)(t))


def test_activate_cli_refuses_a_velocity_whose_times_overflow(folder, tmp_path, capsys):
    rc, out, err = run_cli(
        capsys, "activate", folder / "slab.vtu", "--site", "0,0,0", "--cv-fibre", "1e-30", "--out", tmp_path / "act.vtu"
    )
    assert rc == 1 and "activation" not in out
    line = one_error_line(err)
    assert "1e-30 m/s" in line and "too slow" in line and "use velocities >= " in line
    _nothing_but(tmp_path)


# ================================================================================================== monodomain
def _slab_tissue(model, dtype=jnp.float64):
    mesh = slab_mesh((2.0, 1.0, 1.0), 0.5)
    return ep.Tissue.from_mesh(mesh, ep.Conductivity(0.13, 0.02), model, dtype=dtype)


def test_monodomain_divergence_names_time_node_coordinates_and_the_stimulus():
    tissue = _slab_tissue(AlievPanfilov1996())
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 5e9, duration=2.0)  # 3.6e6 µA/µF
    with pytest.warns(MeshWarning, match="far beyond an action potential"):
        with pytest.raises(RuntimeError) as e:
            ep.simulate_monodomain(tissue, [stim], 1.0, 0.02)
    msg = str(e.value)
    assert "\n" not in msg and "reduce dt" not in msg
    assert msg.startswith("the simulation diverged: non-finite Vm")
    t = float(msg.split("at t = ")[1].split(" ms")[0])
    node = int(msg.split("node ")[1].split(" ")[0])
    pts = np.asarray(tissue.points)
    assert 0.02 <= t <= 0.2 and pts[node, 0] <= 0.1  # a stimulated node, early
    assert f"at ({pts[node, 0]:.4g}, {pts[node, 1]:.4g}, {pts[node, 2]:.4g}) mm" in msg
    assert "stimulus 0 (" in msg and "adds 7.14e+04 mV per step of 0.02 ms" in msg


def test_monodomain_divergence_under_jit_raises_through_error_if():
    import equinox as eqx

    tissue = _slab_tissue(AlievPanfilov1996())
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 5e9, duration=2.0)
    run = eqx.filter_jit(lambda t: ep.simulate_monodomain(t, [stim], 1.0, 0.02).final.V)
    with pytest.raises(Exception, match=r"the simulation diverged \(non-finite Vm\); run it eagerly"):
        jax.block_until_ready(run(tissue))


def test_monodomain_unstable_explicit_step_names_the_stability_limit():
    mesh = slab_mesh((2.0, 1.0, 0.6), 0.2)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.13, 0.0176), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 50_000.0, duration=2.0)
    lim = float(ep.explicit_stability_limit(tissue))
    with pytest.raises(RuntimeError) as e:
        ep.simulate_monodomain(tissue, [stim], 40.0, 1.5 * lim, diffusion=ep.ExplicitLumped(check_stability=False))
    msg = str(e.value)
    assert "non-finite Vm at t = " in msg and "explicit stability limit" in msg and "check was off" in msg


def test_monodomain_dt_beyond_the_upstroke_is_refused_for_the_theta_scheme():
    tissue = _slab_tissue(BuenoOrovio2008())
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 50_000.0, duration=2.0)
    with pytest.raises(
        ValueError,
        match=r"dt 2 ms is too long for BuenoOrovio2008: its upstroke lasts ~0.42 ms.*"
        r"use dt <= 0.084 ms",
    ):
        ep.simulate_monodomain(tissue, [stim], 10.0, 2.0, diffusion=ep.ThetaScheme())


def test_theta_scheme_warns_when_the_front_outruns_the_time_step():
    # Aliev-Panfilov's upstroke (~14 ms) allows dt = 2 ms, but the front crosses a 0.5 mm edge in well under 2 steps
    mesh = slab_mesh((6.0, 0.5, 0.5), 0.5)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.2), AlievPanfilov1996(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.6, 1, 1)), 100_000.0, duration=4.0)
    # measured: 0.203 m/s, an edge (median 0.604 mm) in ~2.97 ms; the far end activates at 39.1 ms vs 32.8 at 0.05 ms
    with pytest.warns(
        MeshWarning,
        match=r"the wavefront \(~0.2 m/s, measured from the activation times\) crosses a "
        r"mesh edge \(median 0.6 mm\) in ~3 ms, under two time steps of 2 ms",
    ):
        ep.simulate_monodomain(tissue, [stim], 60.0, 2.0, diffusion=ep.ThetaScheme(), chunk_steps=10)
    with warnings.catch_warnings():  # one compiled chunk for both runs (dt is traced)
        warnings.simplefilter("error")
        ep.simulate_monodomain(tissue, [stim], 60.0, 0.5, diffusion=ep.ThetaScheme(), chunk_steps=10)


CASE = """
[mesh]
path = "slab.vtu"

[conductivity]
sigma_l = "0.3 S/m"
sigma_t = "1 mS/cm"

[model]
name = "{model}"

[[stimulus]]
kind = "surface"
name = "x0"
strength = "{strength}"
duration = "2 ms"

[simulation]
duration = "10 ms"
dt = "{dt}"
{diffusion}
"""


def _case(folder, name, **kw):
    args = dict(model="bueno-orovio-epi", strength="50000 uA/cm^3", dt="0.02 ms", diffusion="")
    args.update(kw)
    (folder / name).write_text(CASE.format(**args))
    return folder / name


@pytest.mark.parametrize("command", ["check", "run"])
def test_ep_theta_dt_2ms_is_refused_by_check_and_run(folder, tmp_path, capsys, command):
    case = _case(folder, "theta2.toml", dt="2 ms", diffusion='diffusion = "theta"')
    extra = ["--out", tmp_path / "r", "--no-progress"] if command == "run" else []
    rc, _, err = run_cli(capsys, "ep", command, case, *extra)
    assert rc == 1
    line = one_error_line(err)
    assert "[simulation] dt: 2 ms is too long for bueno-orovio-epi" in line
    assert "upstroke lasts ~0.42 ms" in line and "use dt <= 0.084 ms" in line
    _nothing_but(tmp_path)


def test_ep_run_huge_stimulus_names_when_where_and_why(folder, tmp_path, capsys):
    case = _case(folder, "huge.toml", model="aliev-panfilov", strength="5e9 uA/cm^3")
    rc, _, err = run_cli(capsys, "ep", "run", case, "--out", tmp_path / "r", "--no-progress")
    assert rc == 1
    line = one_error_line(err)
    assert "reduce dt" not in line
    assert "diverged: non-finite Vm" in line and "at t = 0.0" in line and " mm; " in line
    assert "node " in line and "stimulus 0 (surface 'x0')" in line and "lower the stimulus strength" in line
    assert "warning: stimulus 0 (surface 'x0')" in err  # said before the run too
    _nothing_but(tmp_path)
