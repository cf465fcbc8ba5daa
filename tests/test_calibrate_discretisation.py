"""The discretisation term of a fit's uncertainty (issue 26, item 1): the model re-fitted on a finer resolution from
the optimum, the shift per parameter, sd_total = sqrt(sd_stat² + (2·shift)²), a warning when |shift| > sd_stat, and
the JSON saying for every SD whether it includes the term. Tiny meshes: a slab activation fit and a 0D fit."""

import json
import shutil
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from organtwin import CalibrationWarning, ep
from organtwin.calibrate import (
    ActivationMap,
    ActivationTimeLoss,
    Bounded,
    FreeParameter,
    FreeParameters,
    Term,
    combine_sd,
    discretisation_check,
    fit_least_squares,
    fit_report,
    joint_residuals,
    refine_mesh,
    richardson_factor,
)
from organtwin.mesh import slab_mesh

ROOT = Path(__file__).resolve().parents[1]
SIZE = (8.0, 4.0, 1.0)  # mm
TRUE_V = 0.6  # m/s
SITE = np.zeros(3)


def _volumes(mesh):
    p = mesh.points[mesh.tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0


def test_refine_mesh_halves_the_edges_and_keeps_volume_regions_and_surfaces():
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    r = refine_mesh(m)
    assert (r.n_cells, r.n_nodes) == (8 * m.n_cells, 225)
    np.testing.assert_allclose(r.points[: m.n_nodes], m.points)  # the original nodes keep their indices
    v = _volumes(r)
    assert np.all(v > 0) and v.sum() == pytest.approx(_volumes(m).sum(), rel=1e-12)
    assert np.all(r.regions == np.repeat(m.regions, 8)) and np.allclose(r.fibres, np.repeat(m.fibres, 8, axis=0))
    for k, s in m.surfaces.items():
        assert r.surfaces[k].n_faces == 4 * s.n_faces and r.surfaces[k].tag == s.tag
    edges = lambda mesh: np.linalg.norm(mesh.points[mesh.tets[:, 0]] - mesh.points[mesh.tets[:, 1]], axis=1).max()
    assert edges(r) == pytest.approx(0.5 * edges(m))


def test_rule_is_richardson_first_order_in_quadrature():
    assert richardson_factor(1) == 2.0 and richardson_factor(2) == pytest.approx(4 / 3)
    np.testing.assert_allclose(combine_sd([0.3, 1.0], [0.2, 0.0]), [0.5, 1.0])


def _isotropic_slab(h):
    """The slab without fibres: one isotropic velocity, velocity[0, 0] (a case's fibres = "none")."""
    from organtwin.mesh import choose_fibres

    return choose_fibres(slab_mesh(SIZE, h), "none", source="test", needs_fibres=False)[0]


def _slab_problem(mesh, amap, noise):
    model = {"tissue": ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))}
    free = FreeParameters([FreeParameter("tissue.velocity[0, 0]", Bounded(0.2, 1.5))], model)
    term = Term("map", ActivationTimeLoss.from_map(mesh, amap, fit_offset=False, noise_sd=noise), lambda s: s["act"])
    site = (ep.EikonalSite(SITE, 0.0, radius=0.0),)
    sim = lambda m: {"act": ep.simulate_eikonal(m["tissue"], site, forward_mode=True).activation}
    return model, free, term, sim


def test_the_shift_measures_a_known_mesh_bias_and_the_total_sd_covers_the_truth():
    """Data made on a mesh 4x finer than the fitted one (0.25 vs 1 mm, the same isotropic slab, a point source at a
    corner; 200 surface nodes, 0.1 ms noise): the fit's velocity is biased several statistical SDs; the re-fit on the
    fitted mesh refined (h/2) moves it back towards the truth by a good part of the bias (the bias at h/2 is about
    0.4 of that at h: first order, measured by scanning the velocity), and the truth is within 3 total SDs."""
    with jax.enable_x64(True):
        noise = 0.1  # ms
        fine = _isotropic_slab(0.25)
        truth_tissue = ep.EikonalTissue.from_mesh(fine, ep.ConductionVelocity(TRUE_V))
        act = ep.simulate_eikonal(truth_tissue, (ep.EikonalSite(SITE, 0.0, radius=0.0),)).activation
        amap = ActivationMap.synthetic(fine, act, 200, noise_ms=noise, seed=1)
        coarse = _isotropic_slab(1.0)
        model, free, term, sim = _slab_problem(coarse, amap, noise)
        fit = fit_least_squares(joint_residuals([term], sim), free, model, max_steps=20, progress=False)
        rep = fit_report(fit, free, model, [term], shared=sim)
        model2, free2, term2, sim2 = _slab_problem(refine_mesh(coarse), amap, noise)
        with pytest.warns(CalibrationWarning, match=r"tissue.velocity\[0, 0\]: the discretisation shift .* exceeds"):
            chk = discretisation_check(
                joint_residuals([term2], sim2), free2, model2, fit.u, rep.sd, names=rep.names, what="mesh h/2"
            )
    bias = float(rep.values[0] - TRUE_V)
    shift, sd, total = float(chk.shift[0]), float(rep.sd[0]), float(chk.sd_total[0])
    print(f"bias {bias:+.4g}, shift {shift:+.4g}, sd_stat {sd:.3g}, sd_total {total:.3g}")
    assert abs(bias) > 3 * sd  # the statistical SD alone misses the truth
    assert np.sign(shift) == -np.sign(bias) and 0.3 * abs(bias) < abs(shift) < 1.5 * abs(bias)
    assert abs(bias) < 3 * total
    assert bool(chk.exceeds[0]) and chk.richardson == 2.0
    d = rep.with_discretisation(chk).to_dict()["parameters"]["tissue.velocity[0, 0]"]
    assert d["sd_includes_discretisation"] is True and d["discretisation_shift"] == pytest.approx(shift)
    assert d["sd_total"] == pytest.approx(total) and d["sd_statistical"] == pytest.approx(sd)
    plain = rep.with_discretisation(None, skipped="switched off")
    p = plain.to_dict()
    assert p["parameters"]["tissue.velocity[0, 0]"]["sd_includes_discretisation"] is False
    assert p["parameters"]["tissue.velocity[0, 0]"]["discretisation_shift"] is None
    assert p["parameters"]["tissue.velocity[0, 0]"]["sd_total"] == pytest.approx(sd)
    assert p["discretisation"] == {"checked": False, "reason": "switched off"}
    assert "not checked (switched off)" in plain.summary()


def test_a_0d_case_checks_its_integrator_tolerance_and_the_json_says_so(tmp_path):
    """A volume-curve + cuff fit of the 0D loop (the built-in case's data, one free elastance): the check re-fits at
    rtol/atol / 10; the shift is tiny beside the SD, no warning, and fit.json/report.json carry every field."""
    from organtwin.io import load_calibration_case, run_calibration, write_calibration

    src = ROOT / "calibration" / "c_volume_cuff"
    for f in ("lv_volume.csv", "cuff.json"):
        shutil.copy(src / f, tmp_path / f)
    text = (src / "case.toml").read_text()
    head, rest = text.split("[[free]]", 1)
    first_free = "[[free]]" + rest.split("[[free]]")[0]
    data = "[[data]]" + rest.split("[[data]]", 1)[1]
    text = head.replace("cycles = 20", "cycles = 4") + first_free + data.replace("max_steps = 30", "max_steps = 8")
    (tmp_path / "case.toml").write_text(text)
    case = load_calibration_case(tmp_path / "case.toml")
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        outcome = run_calibration(case, progress=False, say=lines.append, discretisation=True)
    assert any("0D integrator rtol/atol / 10" in line for line in lines)
    rep = outcome.report
    shift, sd = float(rep.discretisation["shift"][0]), float(rep.sd[0])
    print(f"0D: e_active {rep.values[0]:.5g}, shift {shift:+.3g}, sd_stat {sd:.3g}")
    assert abs(shift) < 0.01 * sd
    write_calibration(outcome, tmp_path / "out")
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    name = "circulation.model.blocks.LV.e_active"
    for p in (fit["uncertainty"]["parameters"][name], report["parameters"][name]):
        assert p["sd_includes_discretisation"] is True
        assert p["sd_total"] >= p["sd_statistical"] and p["discretisation_shift"] == pytest.approx(shift)
    assert fit["uncertainty"]["discretisation"]["checked"] is True
    assert "0D integrator" in report["discretisation"]["what"]
    assert "discretisation check (" in (tmp_path / "out" / "summary.txt").read_text()


def test_the_command_line_checks_by_default_and_can_be_told_not_to(capsys, monkeypatch):
    from cli import run_cli

    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the help to the terminal
    rc, out, _ = run_cli(capsys, "calibrate", "--help")
    assert rc == 0 and "--no-discretisation-check" in out and "[default: discretisation-check]" in out
