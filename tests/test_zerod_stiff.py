"""Stiff svZeroD networks (issue 25 item 3): `run_svzerod`'s default reads the network's stiffness at the start (the
spectral radius of the right-hand side's Jacobian, `spectral_radius`) and integrates a stiff one implicitly
(Kvaerno3 at a tenth of the output step; implicit Euler there where its Newton fails, as on stiff_rc.json), a non-stiff
one with explicit Tsit5.

``stiff_rc.json`` (ours): one capacitor of 1e-12 behind resistances of 100 (time constant 1e-10 s) under a pulsatile
inflow. Explicit Tsit5 needs steps of ~3.5e-10 s there; the default runs it and agrees with svzerod run live at 1001
points per cycle (converged: the capacitor follows the inflow, P_out = 100 Q(t)). At the config's own 11 points
svzerod's generalized-α step is itself the error (flow 9.94 instead of 7.35 at t = 0.1 s), so the peer is compared
converged."""

import io
import json
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from organtwin._errors import NetworkError
from organtwin.flow import zerod as z
from organtwin.flow.zerod._solve import Integrator
from organtwin.flow.zerod._svzerod_json import _initial_state, default_svzerod_integrator

DATA = Path(__file__).parent / "data" / "zerod"


def _config(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def _chosen(name: str):
    jax.config.update("jax_enable_x64", True)
    cfg = z.read_svzerod(_config(name))
    model = cfg.network.compile()
    y0 = _initial_state(cfg, model, jnp.float64)
    return default_svzerod_integrator(model, jnp.float64, cfg.dt, y0=y0, t_end=cfg.period * cfg.cycles).solver


def test_the_default_is_implicit_only_where_the_network_is_stiff():
    assert isinstance(_chosen("stiff_rc"), diffrax.Kvaerno3)
    for name in ("bifurcation", "closed_loop_rcr"):  # spectral radius 256 and 26 /s at the start
        assert isinstance(_chosen(name), diffrax.Tsit5), name


def test_stiff_rc_fails_explicitly_and_runs_by_default_as_svzerod_converged():
    svzerod = pytest.importorskip("svzerod")
    jax.config.update("jax_enable_x64", True)
    cfg = z.read_svzerod(_config("stiff_rc"))
    explicit = Integrator(diffrax.Tsit5(), diffrax.PIDController(rtol=1e-8, atol=1e-10), cfg.dt / 10, max_steps=2000)
    with pytest.raises(NetworkError, match="maximum number of solver steps"):
        z.run_svzerod(cfg, integrator=explicit)
    got = z.run_svzerod(cfg)
    peer_cfg = _config("stiff_rc")
    peer_cfg.pop("_comment")
    peer_cfg["simulation_parameters"]["number_of_time_pts_per_cardiac_cycle"] = 1001
    ref = svzerod.simulate(peer_cfg).iloc[::100]
    frame = pd.read_csv(io.StringIO(z.svzerod_csv(got)))
    assert len(frame) == len(ref) == 11
    for col in (
        "flow_in",
        "flow_out",
        "pressure_in",
        "pressure_out",
    ):  # (svzerod writes its initial state, 0, at t = 0)
        a, b = ref[col].to_numpy(float)[1:], frame[col].to_numpy(float)[1:]
        assert np.linalg.norm(b - a) / np.linalg.norm(a) < 1e-6, col
    # and P_out = 100 Q(t) exactly (the capacitor's 1e-10 s lag is below round-off)
    q = frame["flow_in"].to_numpy(float)[1:]
    np.testing.assert_allclose(frame["pressure_out"].to_numpy(float)[1:], 100.0 * q, rtol=1e-9, atol=1e-9)
