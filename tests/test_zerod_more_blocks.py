"""svZeroDSolver's remaining blocks and activations (issue 25 item 1): BloodVesselRC, ChamberElastanceInductorExponential,
ChamberSphere, CORONARY_VAR_RES, the ``wrapping_cosine`` and ``fourier`` activations, ValveTanh's ``valve_status`` and
Rmin = 0.

Our own configurations (tests/data/zerod, each with a ``_comment``):

* ``rc_charge`` — a constant inflow charging a BloodVesselRC into a held outlet: the inlet pressure is Q·Rpd·(1 −
  exp(−t/(Rpd·Cp))) exactly (measured: 1.3e-9 relative), the outlet flow the inlet flow;
* ``rc_chain``, ``coronary_var_res``, ``exponential_heart`` — against svzerod 3.2 (PyPI, which has these blocks) run
  live, every series of the last cycle in both CSV layouts within 1 % relative L2 (measured: 5e-5, 2e-4, 1.1e-3);
* ``sphere_rest`` — a passive ChamberSphere (no active stress) between two resistances at one pressure settles where P R
  = d0 S(R) (Caruel et al. 2013 at rest; measured 3e-10 relative) and its volume is 4/3 π (R³ − r0³) throughout.

svzerod 3.2's wheel takes ChamberSphere in another form than the peer's current sources (it refuses ``W1`` among the
values), so ChamberSphere is checked against the peer's own expected results instead, read from its repository where
one is at hand (``SVZERODSOLVER_REPO``: a clone or a bare git directory; otherwise the session mirror; skipped without),
like the other peer cases that use these blocks.
"""

import io
import json
import math
import os
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest

from organtwin._errors import NetworkError
from organtwin.flow import zerod as z
from organtwin.flow.zerod._activation import FOURIER_ELASTANCE

DATA = Path(__file__).parent / "data" / "zerod"


def _x64():
    jax.config.update("jax_enable_x64", True)


def _frame(csv: str):
    import pandas as pd

    return pd.read_csv(io.StringIO(csv))


def _run(config, integrator=None):
    _x64()
    return _frame(z.svzerod_csv(z.run_svzerod(z.read_svzerod(config), integrator=integrator)))


def _worst_l2(ref, got) -> tuple[float, str]:
    """Largest relative L2 difference over every (name, column) series of ``ref``; names must agree.

    ValveTanh's valve_status is compared by name only: svzerod's own series rings at each valve switch (its
    generalized-α step gives -0.5, 0.25, -0.125 after a closing, up to 0.49996 away from ½(1 + tanh(k ΔP)) of its own
    pressures in ``exponential_heart``), where ours is that expression exactly."""
    assert set(ref["name"]) == set(got["name"]), set(ref["name"]) ^ set(got["name"])
    cols = [c for c in ref.columns if c not in ("name", "time")]
    worst = (0.0, "")
    for name, g in ref.groupby("name"):
        if str(name).startswith("valve_status:"):
            continue
        h = got[got["name"] == name]
        assert len(h) == len(g), name
        np.testing.assert_allclose(h["time"].to_numpy(float), g["time"].to_numpy(float), rtol=1e-9, atol=1e-12)
        for c in cols:
            a, b = g[c].to_numpy(float), h[c].to_numpy(float)
            scale = np.linalg.norm(a)
            err = np.linalg.norm(b - a) / scale if scale > 0 else float(np.max(np.abs(b)))
            worst = max(worst, (err, f"{name}.{c}"))
    return worst


# ------------------------------------------------------------------------------------------------ analytic checks
def test_rc_charging_curve_is_exact():
    df = _run(json.loads((DATA / "rc_charge.json").read_text()))
    p = df[df["name"] == "pressure:INFLOW:rc"]
    t = p["time"].to_numpy()
    exact = 2.0 * 1000.0 * (1.0 - np.exp(-t / 1.0))  # Q Rpd (1 − exp(−t/(Rpd Cp)))
    assert np.max(np.abs(p["y"].to_numpy() - exact)) < 1e-6 * 2000.0
    for port in ("flow:INFLOW:rc", "flow:rc:OUT"):  # Q_out = Q_in: the capacitor stores pressure, not volume
        q = df[df["name"] == port]["y"].to_numpy()
        assert q[0] == 0.0  # t = 0 without a steady start: the configured initial value, as svZeroDSolver writes it
        np.testing.assert_allclose(q[1:], 2.0, rtol=1e-9)


def test_passive_sphere_settles_at_its_static_equilibrium():
    from scipy.optimize import brentq

    df = _run(json.loads((DATA / "sphere_rest.json").read_text()))
    r0, d0, w1, w2, p = 0.05, 0.01, 1e4, 40.0, 1000.0
    big = brentq(lambda r: p * r - d0 * 4 * (1 - (r0 / r) ** 6) * (w1 + (r / r0) ** 2 * w2), r0, 2 * r0)
    radius = df[df["name"] == "radius:sphere"]["y"].to_numpy()
    volume = df[df["name"] == "volume:sphere"]["y"].to_numpy()
    assert abs(radius[-1] - (big - r0)) < 1e-6 * (big - r0)
    np.testing.assert_allclose(volume, 4 / 3 * np.pi * ((r0 + radius) ** 3 - r0**3), rtol=1e-7, atol=1e-15)
    stress = df[df["name"] == "stress:sphere"]["y"].to_numpy()
    assert abs(stress[-1] - p * big / d0) < 1e-6 * p * big / d0  # at rest P R = d0 S
    np.testing.assert_allclose(df[df["name"] == "tau:sphere"]["y"].to_numpy(), 0.0)  # sigma_max = 0


def _peer_wrapping_cosine(t, period, tsa, tpwave):  # ActivationFunction.cpp, as written there
    ts, tp, s = period * tsa, period / tpwave, math.fmod(t, period)
    if s <= tp:
        return 0.5 * (1 - math.cos(2 * math.pi * (s - tp + ts) / ts))
    if period - ts + tp <= s < period:
        return 0.5 * (1 - math.cos(2 * math.pi * (s - tp - (period - ts)) / ts))
    return 0.0


def test_activations_follow_the_peer_definitions():
    _x64()
    period = 1.0169
    ts = np.linspace(0.0, 3 * period, 701)
    wrap = z.WrappingCosine(0.40742, 8.976868, period)
    got = np.asarray(jax.vmap(wrap)(ts))
    np.testing.assert_allclose(got, [_peer_wrapping_cosine(t, period, 0.40742, 8.976868) for t in ts], atol=1e-12)
    four = z.Fourier(period)
    k = np.arange(25)[:, None]
    raw = lambda s: (
        FOURIER_ELASTANCE[:, 0] @ np.cos(2 * np.pi * k * s / period)
        - FOURIER_ELASTANCE[:, 1] @ np.sin(2 * np.pi * k * s / period)
    )
    grid = raw(np.arange(10000) * period / 10000)
    expect = (raw(np.fmod(ts, period)) - grid.min()) / (grid.max() - grid.min())
    np.testing.assert_allclose(np.asarray(jax.vmap(four)(ts)), expect, atol=1e-12)
    assert 0.0 <= float(np.min(expect)) and float(np.max(expect)) <= 1.0 + 1e-12


# ------------------------------------------------------------------------------------------ svzerod 3.2, run live
@pytest.mark.parametrize("name", ["rc_chain", "coronary_var_res", "exponential_heart"])
def test_agrees_with_svzerod_live(name):
    svzerod = pytest.importorskip("svzerod", reason="svzerod is a test dependency: pip install -e '.[test]'")
    config = json.loads((DATA / f"{name}.json").read_text())
    for variable_based in (False, True):
        cfg = json.loads(json.dumps(config))
        cfg["simulation_parameters"]["output_variable_based"] = variable_based
        err, where = _worst_l2(svzerod.simulate(cfg), _run(cfg))
        assert err < 1e-2, (name, variable_based, where, err)


# ---------------------------------------------------------------------- the peer's own cases and expected results
def _peer_repo() -> Path | None:
    for p in (os.environ.get("SVZERODSOLVER_REPO"), "/work/.mirror/SimVascular+svZeroDSolver/repo"):
        if p and Path(p).exists():
            return Path(p)
    return None


def _peer_file(repo: Path, path: str) -> str:
    if (repo / path).exists():  # a checkout
        return (repo / path).read_text()
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
    ).stdout


_DECOMPOSED = pytest.mark.xfail(
    reason="runs (issue 25 item 3: the stiff default's implicit chain, its aortic valve at steepness 1e4 opening onto "
    "the point behind the LV's inductor) but is 6.6 % of range from the expected results and 6.3 % from the peer at "
    "10x its points, at the valve-switching instants (benchmarks/RESULTS.md, svZeroDSolver's own test suite)",
    strict=False,
)
_SPHERE = pytest.mark.xfail(
    reason="does not finish (issue 25): explicit Tsit5 reaches its step limit at 0.25 s and the implicit fallbacks "
    "run past 480 s here. The sphere between two closed valves is all but incompressible (an eigenvalue near -2e6/s), "
    "and its ValveTanh valves have Rmin = 0, so an open valve's conductance 1/R grows as exp(2 k |dP|) (not yet "
    "shown to be the cause); svZeroDSolver keeps the valve flow as an unknown of its DAE (P_in - P_out - R Q = 0)",
    strict=False,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "pulsatileFlow_R_coronary_varres",  # measured: 6.2e-5 relative L2, 7.8e-5 max over all 30 cycles
        pytest.param("closedLoopHeart_singleVessel_decomposed", marks=_DECOMPOSED),
        pytest.param("chamber_sphere", marks=_SPHERE),
    ],
)
def test_peer_case_agrees_with_its_expected_result(case):
    import pandas as pd

    repo = _peer_repo()
    if repo is None:
        pytest.skip("svZeroDSolver's repository is not here (set SVZERODSOLVER_REPO)")
    config = json.loads(_peer_file(repo, f"tests/cases/{case}.json"))
    ref = pd.read_json(io.StringIO(_peer_file(repo, f"tests/cases/results/result_{case}.json")))
    err, where = _worst_l2(ref, _run(config))
    assert err < 1e-2, (case, where, err)


# ------------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c["vessels"][1]["zero_d_element_values"].update(Rpd=0.0), ["rc", "resistance"]),
        (lambda c: c["vessels"][1]["zero_d_element_values"].update(R=1.0), ["rc", "'R'"]),
        (lambda c: c["vessels"][1]["zero_d_element_values"].pop("Cp"), ["rc", "'Cp'"]),
    ],
)
def test_rc_refusals_are_one_line(edit, words):
    cfg = json.loads((DATA / "rc_chain.json").read_text())
    edit(cfg)
    with pytest.raises(NetworkError) as e:
        z.read_svzerod(cfg).network.compile()
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize(
    "where, key, value, words",
    [
        ("bc", "Ca", 0.0, ["COR", "ca"]),
        ("bc", "T_vc", -1.0, ["COR", "t_vc"]),
        ("bc", "Ra2_mid", 1.0, ["COR", "'Ra2_mid'"]),
    ],
)
def test_coronary_var_res_refusals_are_one_line(where, key, value, words):
    cfg = json.loads((DATA / "coronary_var_res.json").read_text())
    cfg["boundary_conditions"][1]["bc_values"][key] = value
    with pytest.raises(NetworkError) as e:
        z.read_svzerod(cfg).network.compile()
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c["chambers"][0]["activation_function"].update(Tsa=0.0), ["wrapping_cosine", "Tsa"]),
        (lambda c: c["chambers"][1]["activation_function"].update(n=3), ["ventricle", "'n'"]),
        (lambda c: c["chambers"][0]["values"].pop("Kxv"), ["atrium", "'Kxv'"]),
        (lambda c: c["chambers"][0].update(type="ChamberElastanceInductorCubic"), ["atrium", "Cubic"]),
    ],
)
def test_chamber_refusals_are_one_line(edit, words):
    cfg = json.loads((DATA / "exponential_heart.json").read_text())
    edit(cfg)
    with pytest.raises(NetworkError) as e:
        z.read_svzerod(cfg)
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_sphere_refusals_are_one_line():
    cfg = json.loads((DATA / "sphere_rest.json").read_text())
    cfg["vessels"][1]["zero_d_element_values"]["radius0"] = 0.0
    with pytest.raises(NetworkError) as e:
        z.read_svzerod(cfg)
    assert "\n" not in str(e.value) and "sphere" in str(e.value) and "radius0" in str(e.value)
    cfg = json.loads((DATA / "sphere_rest.json").read_text())
    cfg["vessels"][1]["zero_d_element_values"]["C0"] = 1.0
    with pytest.raises(NetworkError, match="'C0'"):
        z.read_svzerod(cfg)
