"""Conduction-velocity tuning (organtwin.ep.tune_conductivity, `organtwin ep tune-cv`, case-file cv_l/cv_t/cv_n).

The claims: the strand CV grows with sigma; the tuned sigma reproduces the target on the strand within the tolerance
asked for (1%), and on an independent mesh of the same mean edge length (a 3-D slab of another shape, the wave measured
along its long axis) within 3% (the strand and the slab differ only in their lateral extent and the plane-wave fit); a
strand too coarse to conduct at the physiological conductivity gets a larger one that does; the case-file keys and the
CLI give one-line errors. Mitchell–Schaeffer keeps the strand runs fast; one ten Tusscher check is in
test_tentusscher_tuning_on_a_coarse_strand.
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from cli import one_error_line, run_cli

import organtwin.ep as ep
from organtwin.ionic import MitchellSchaeffer2003, TenTusscher2006
from organtwin.mesh import slab_mesh


@pytest.fixture(scope="module")
def ms_tuned():
    return ep.tune_conductivity(MitchellSchaeffer2003(), 0.5, 0.6, dtype=jnp.float64)


def test_strand_cv_grows_with_sigma():
    m = MitchellSchaeffer2003()
    cvs = [ep.strand_conduction_velocity(m, s, 0.6, dtype=jnp.float64) for s in (0.05, 0.1, 0.2)]
    assert 0 < cvs[0] < cvs[1] < cvs[2]
    # ~ sqrt(sigma) for a resolved cable: doubling sigma raises CV by 1.2-1.5x
    assert 1.2 < cvs[1] / cvs[0] < 1.5 and 1.2 < cvs[2] / cvs[1] < 1.5


def test_tuned_sigma_gives_the_target(ms_tuned):
    r = ms_tuned
    assert r.converged and abs(r.cv - 0.5) <= 0.005
    assert r.history[-1] == (r.sigma, r.cv) and len(r.history) <= 6
    again = ep.strand_conduction_velocity(MitchellSchaeffer2003(), r.sigma, 0.6, length=15.0, dtype=jnp.float64)
    assert abs(again - 0.5) <= 0.01


def test_tuned_sigma_on_an_independent_slab(ms_tuned):
    """A 12 x 2.4 x 1.2 mm slab (not a strand) with the strand's node spacing; plane wave from its x0 face."""
    a = ms_tuned.edge_length / 1.2386
    mesh = slab_mesh((12.0, 2.4, 1.2), a)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(ms_tuned.sigma), MitchellSchaeffer2003(), dtype=jnp.float64)
    res = ep.simulate_monodomain(
        tissue, [ep.Stimulus(ep.NamedSurface("x0"), 50_000.0)], 60.0, 0.02, diffusion=ep.ThetaScheme()
    )
    x, act = np.asarray(mesh.points[:, 0]), np.asarray(res.activation)
    mid = (x > 3.0) & (x < 9.0)
    cv = np.polyfit(act[mid], x[mid], 1)[0]
    assert abs(cv - 0.5) / 0.5 < 0.03, cv


def test_tentusscher_tuning_on_a_coarse_strand():
    """At a mean edge of 1.5 mm ten Tusscher 2006 does not conduct transversely at sigma 0.0176 S/m (Niederer's
    harmonic mean): the tuning raises sigma until the 0.2 m/s target is met."""
    m = TenTusscher2006.epicardial()
    assert ep.strand_conduction_velocity(m, 0.0176, 1.5) == 0.0
    r = ep.tune_conductivity(m, 0.2, 1.5, sigma0=0.0176)
    assert r.converged and abs(r.cv - 0.2) <= 0.002 and r.sigma > 0.0176
    assert r.history[0] == (0.0176, 0.0)


def test_bad_targets_are_errors():
    with pytest.raises(ValueError, match="must be positive"):
        ep.tune_conductivity(MitchellSchaeffer2003(), -1.0, 0.5)
    with pytest.raises(ValueError, match="edge length must be positive"):
        ep.tune_conductivity(MitchellSchaeffer2003(), 0.5, 0.0)


CASE = """
[mesh]
slab = { size = [6, 1.2, 1.2], dx = 0.6 }
[conductivity]
cv_l = "50 cm/s"
cv_t = "0.25 m/s"
[model]
name = "mitchell-schaeffer"
[[stimulus]]
kind = "surface"
name = "x0"
strength = "50000 uA/cm^3"
[simulation]
duration = "30 ms"
dt = "0.02 ms"
diffusion = "theta"
"""


def test_case_file_cv_keys(tmp_path, capsys):
    (tmp_path / "case.toml").write_text(CASE)
    rc, out, err = run_cli(capsys, "ep", "run", tmp_path / "case.toml", "--out", tmp_path / "out", "--no-progress")
    assert rc == 0, err
    assert "region 1: tuned sigma_l" in out
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    t = s["tuned_conductivity"]["1"]
    assert abs(t["sigma_l"]["cv_m_per_s"] - 0.5) <= 0.005 and abs(t["sigma_t"]["cv_m_per_s"] - 0.25) <= 0.0025
    assert t["sigma_t"]["sigma_S_per_m"] < t["sigma_l"]["sigma_S_per_m"]
    assert s["case"]["conductivity"]["cv_l"] == "0.5 m/s"


@pytest.mark.parametrize(
    "edit, words",
    [
        (('cv_t = "0.25 m/s"', 'cv_t = "0.25 mm"'), ["[conductivity] cv_t: '0.25 mm' is a length", "velocity in m/s"]),
        (
            ('cv_t = "0.25 m/s"', 'cv_t = "0.25 m/s"\nsigma_l = 0.1'),
            ["[conductivity] sigma_l: give either conduction velocities"],
        ),
        (('cv_l = "50 cm/s"\n', ""), ["[conductivity] missing required key 'cv_l'"]),
        (('cv_t = "0.25 m/s"', 'cv_n = "0.25 m/s"'), ["cv_n: needs cv_t"]),
    ],
)
def test_case_file_cv_errors(tmp_path, capsys, edit, words):
    text = CASE.replace(*edit)
    assert text != CASE
    (tmp_path / "case.toml").write_text(text)
    rc, out, err = run_cli(capsys, "ep", "check", tmp_path / "case.toml")
    assert rc == 1
    line = one_error_line(err, only=True)
    for w in words:
        assert w in line, line


def test_cli_tune_cv(tmp_path, capsys):
    rc, out, err = run_cli(
        capsys,
        "ep",
        "tune-cv",
        "mitchell-schaeffer",
        "--cv",
        "0.5",
        "--cv",
        "0.25",
        "--edge-length",
        "0.6",
        "-o",
        tmp_path / "t.json",
    )
    assert rc == 0, err
    d = json.loads((tmp_path / "t.json").read_text())
    assert [round(r["cv_target_m_per_s"], 3) for r in d["directions"]] == [0.5, 0.25]
    assert all(r["converged"] and abs(r["cv_m_per_s"] / r["cv_target_m_per_s"] - 1) <= 0.01 for r in d["directions"])
    assert "sigma S/m" in out
    rc, out, err = run_cli(
        capsys, "ep", "tune-cv", "mitchell-schaeffer", "--cv", "0.5", "--edge-length", "0.6", "--diffusion", "x"
    )
    assert rc == 2 and "--diffusion must be theta or explicit" in one_error_line(err, only=True)
