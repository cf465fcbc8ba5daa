"""The fit report: Laplace covariance against the exact linear-Gaussian posterior, the delta method through bounds,
flat directions of a product that only the data's product determines, stuck-at-bound flags, the files it writes; the
report a researcher reads (issue 26 item 5): the verdict rule on hand-made numbers, the table in report.json, report.html
and report.png, the residual plots of every kind of data, and the discretisation check's case key and flag."""

import json
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin.calibrate import (
    Bounded,
    FreeParameter,
    FreeParameters,
    MeasurementLoss,
    Normal,
    Positive,
    Term,
    Unbounded,
    fit_least_squares,
    fit_report,
    joint_residuals,
)
from organtwin.io import write_fit_report


class Line(eqx.Module):
    a: jnp.ndarray
    b: jnp.ndarray


T = np.linspace(0.0, 1.0, 40)
RNG = np.random.default_rng(0)
SIGMA = 0.1
TRUE_A, TRUE_B = 1.5, 2.0
Y = TRUE_A + TRUE_B * T + SIGMA * RNG.standard_normal(T.size)


def _fit(forward, free_params, start, noise_sd=SIGMA, truth=None):
    term = Term("y", MeasurementLoss(Y, noise_sd), forward)
    free = FreeParameters(free_params, start)
    res = fit_least_squares(joint_residuals([term]), free, start, max_steps=100, progress=False)
    return res, fit_report(res, free, start, [term], truth=truth)


def test_laplace_covariance_is_the_exact_posterior_of_a_linear_gaussian_model():
    res, rep = _fit(
        lambda m: m.a + m.b * T, ["a", "b"], Line(jnp.asarray(1.0), jnp.asarray(1.0)), truth={"a": TRUE_A, "b": TRUE_B}
    )
    X = np.stack([np.ones_like(T), T], 1)
    beta = np.linalg.lstsq(X, Y, rcond=None)[0]
    chi2 = np.sum(((X @ beta - Y) / SIGMA) ** 2)
    s2 = max(1.0, chi2 / (T.size - 2))
    C = s2 * SIGMA**2 * np.linalg.inv(X.T @ X)
    np.testing.assert_allclose(rep.values, beta, rtol=1e-6)  # LM converges to the least-squares solution
    np.testing.assert_allclose(rep.sd, np.sqrt(np.diag(C)), rtol=1e-6)
    np.testing.assert_allclose(rep.correlation[0, 1], C[0, 1] / np.sqrt(C[0, 0] * C[1, 1]), rtol=1e-6)
    assert rep.identified == ["a", "b"] and not rep.flat_directions and not rep.at_bounds
    assert rep.chi2 == pytest.approx(chi2, rel=1e-8) and rep.n_residuals == T.size
    d = rep.to_dict()
    assert d["parameters"]["b"]["truth"] == TRUE_B
    assert abs(d["parameters"]["b"]["relative_error"]) < 3 * rep.sd[1] / TRUE_B


def test_the_delta_method_carries_the_covariance_through_a_bound_transform():
    # the same line with b fitted through a sigmoid: the SD of b must not depend on the parametrisation
    _, plain = _fit(lambda m: m.a + m.b * T, ["a", "b"], Line(jnp.asarray(1.0), jnp.asarray(1.0)))
    _, bounded = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Bounded(0.0, 10.0))], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    np.testing.assert_allclose(bounded.values, plain.values, rtol=1e-5)
    np.testing.assert_allclose(bounded.sd, plain.sd, rtol=1e-4)


def test_a_product_of_two_parameters_is_flagged_as_a_flat_direction():
    # y = a·b·t + c: the data fix a·b but not a and b apart; the flat direction is +log a − log b
    model = {"a": jnp.asarray(1.0), "b": jnp.asarray(1.0), "c": jnp.asarray(1.0)}
    _, rep = _fit(
        lambda m: m["a"] * m["b"] * T + m["c"],
        [FreeParameter("a", Positive()), FreeParameter("b", Positive()), "c"],
        model,
    )
    assert set(rep.not_identified) == {"a", "b"} and rep.identified == ["c"]
    assert len(rep.flat_directions) == 1
    comp = rep.flat_directions[0]["components"]
    assert set(comp) == {"a", "b"} and comp["a"] == pytest.approx(-comp["b"], abs=1e-6)
    assert rep.singular_values.min() < 1e-6 * rep.singular_values.max()
    assert "NOT identified" in rep.summary() and "flat directions" in rep.summary()


def test_a_prior_narrows_the_posterior_but_not_the_data_only_sd():
    model = {"a": jnp.asarray(1.0), "b": jnp.asarray(1.0), "c": jnp.asarray(1.0)}
    _, rep = _fit(
        lambda m: m["a"] * m["b"] * T + m["c"],
        [FreeParameter("a", Positive(), Normal(1.0, 0.01)), FreeParameter("b", Positive()), "c"],
        model,
    )
    i = rep.names.index("a")
    assert rep.sd[i] < 0.011  # the prior's 0.01 (the data add nothing to a alone)
    assert rep.sd_data[i] > 1.0  # ... but the data alone do not determine it: still flagged
    assert "a" in rep.not_identified


def test_a_parameter_pushed_to_its_bound_is_reported():
    # the data want b = 2 but the bound stops it at 1.2
    _, rep = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Bounded(0.5, 1.2))], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    assert len(rep.at_bounds) == 1 and rep.at_bounds[0].startswith("b at its upper bound 1.2")


def test_the_report_files_are_valid_json_and_a_readable_summary(tmp_path):
    _, rep = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Unbounded())], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    paths = write_fit_report(rep, tmp_path / "out")
    d = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(d["parameters"]) == {"a", "b"} and d["terms"]["y"]["n"] == T.size
    assert d["terms"]["y"]["rms_residual"] == pytest.approx(np.sqrt(rep.chi2 / T.size) * SIGMA, rel=1e-6)
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert "parameter" in text and "chi2" in text
    assert not list((tmp_path / "out").glob("*.tmp")) and len(paths) == 2


# ------------------------------------------------------------------------------------ the report a researcher reads
def test_the_verdict_rule_gives_each_of_its_three_verdicts_on_hand_made_numbers():
    from organtwin.calibrate import IDENTIFIED, NOT_IDENTIFIABLE, VERDICTS, WITHIN_MESH_ERROR, verdict

    assert VERDICTS == ("identified", "identified within mesh error", "not identifiable from these data")
    # a velocity 0.6 m/s; the limit is 5 % of it, 0.03 m/s
    v, why = verdict(0.6, 0.01, 0.012, 0.0108, 0.002, unit="m/s")
    assert v == IDENTIFIED and "0.0108 m/s" in why and "5% of the value" in why
    v, why = verdict(0.6, 0.01, 0.012, 0.0108, None)  # not checked: identified on the statistical SD, and it says so
    assert v == IDENTIFIED and "statistical only" in why
    v, why = verdict(0.6, 0.004, 0.005, 0.0122, -0.0058, unit="m/s")  # |shift| > SD: the mesh, not the noise
    assert v == WITHIN_MESH_ERROR and "-0.0058 m/s" in why
    v, why = verdict(0.6, 0.2, 0.25, 0.2, 0.0)  # a huge data-only SD: the Laplace identifiability check
    assert v == NOT_IDENTIFIABLE and "data alone" in why
    v, why = verdict(0.6, 0.005, 0.4, 0.005, 0.0)  # the prior pins it, the data do not
    assert v == NOT_IDENTIFIABLE and "only the prior" in why
    v, why = verdict(0.6, 0.02, 0.025, 0.045, 0.02)  # data-only fine, shift = SD, but the total is over the limit
    assert v == NOT_IDENTIFIABLE and "total SD" in why
    v, _ = verdict(0.6, 0.001, 0.001, 0.001, 0.0, at_bound=True)
    assert v == NOT_IDENTIFIABLE
    v, _ = verdict(0.6, float("nan"), float("nan"))
    assert v == NOT_IDENTIFIABLE
    # an absolute tolerance (a position, mm) instead of a relative limit: 0.5 mm at 1 mm passes, 1.5 mm does not
    assert verdict(-60.0, 0.5, 0.6, 0.5, 0.1, tolerance=1.0, unit="mm")[0] == IDENTIFIED
    assert verdict(-60.0, 1.5, 1.6, 1.5, 0.1, tolerance=1.0, unit="mm")[0] == NOT_IDENTIFIABLE
    assert verdict(-60.0, 0.3, 0.4, 0.9, 0.4, tolerance=1.0)[0] == WITHIN_MESH_ERROR


def _checked(rep, shift, result):
    """``rep`` with a discretisation check of the given shifts (as `discretisation_check` would return it; ``result``
    how its re-fit ended)."""
    from organtwin.calibrate import DiscretisationCheck, combine_sd

    shift = np.asarray(shift, float)
    sd = np.asarray(rep.sd, float)
    chk = DiscretisationCheck(
        tuple(rep.names),
        "mesh h 1 -> 0.5 mm",
        rep.values,
        rep.values + shift,
        shift,
        sd,
        2.0,
        combine_sd(sd, shift),
        np.abs(shift) > sd,
        3,
        0.1,
        result,
        "3 steps",
    )
    return rep.with_discretisation(chk)


def test_the_report_json_html_and_pictures_carry_the_table_verdicts_and_data_fit(tmp_path):
    from types import SimpleNamespace

    from organtwin.calibrate._report import report_html
    from organtwin.viz import plot_report_table, report_pictures

    res, rep = _fit(lambda m: m.a + m.b * T, ["a", "b"], Line(jnp.asarray(1.0), jnp.asarray(1.0)))
    rep = _checked(rep, [0.0, 3.0 * rep.sd[1]], res.result)  # b's shift dominates its statistical SD
    d = rep.to_dict()
    a, b = d["parameters"]["a"], d["parameters"]["b"]
    for p in (a, b):
        assert {
            "value",
            "unit",
            "sd_statistical",
            "discretisation_shift",
            "sd_total",
            "verdict",
            "verdict_reason",
        } <= set(p)
        assert p["sd_includes_discretisation"] is True
    assert a["verdict"] == "identified" and b["verdict"] == "identified within mesh error"
    assert d["verdicts"] == {"a": "identified", "b": "identified within mesh error"} and "limit" in d["verdict_rule"]
    fit = d["data_fit"]["y"]
    assert fit["n"] == T.size and fit["dof"] == pytest.approx(T.size - 2)
    assert fit["chi2_per_dof"] == pytest.approx(rep.chi2 / (T.size - 2), rel=1e-9)
    assert fit["rms_residual"] == pytest.approx(np.sqrt(rep.chi2 / T.size) * SIGMA, rel=1e-6)
    assert fit["noise_sd"] == pytest.approx(SIGMA)
    assert "verdict per parameter" in rep.summary() and "b: identified within mesh error" in rep.summary()
    # sampled: the credible interval beside the Laplace one, R-hat and ESS (a stand-in for PosteriorSamples)
    post = SimpleNamespace(
        names=("a", "b"),
        interval_95=np.array([[1.3, 1.7], [1.8, 2.2]]),
        rhat=np.array([1.002, 1.004]),
        ess_bulk=np.array([850.0, 910.0]),
        ess_tail=np.array([700.0, 720.0]),
    )
    row = rep.to_dict(post)["parameters"]["a"]
    assert row["credible_95"] == [1.3, 1.7] and row["rhat"] == 1.002 and row["ess_bulk"] == 850.0
    assert row["laplace_95"] == pytest.approx([rep.values[0] - 1.96 * rep.sd[0], rep.values[0] + 1.96 * rep.sd[0]])
    json.dumps(rep.to_dict(post), allow_nan=False)
    page = report_html(rep, title="line", posterior=post, pictures=["report.png", "y_residuals.png"])
    assert "identified within mesh error" in page and "95% credible" in page and 'src="y_residuals.png"' in page
    assert 'src="report.png"' not in page  # the page has the table itself
    paths = report_pictures(rep, tmp_path, title="line")
    assert sorted(p.name for p in paths) == ["report.png", "y_residuals.png"]
    assert plot_report_table(rep, tmp_path / "sampled.png", posterior=post).stat().st_size > 5000
    assert all(p.stat().st_size > 5000 for p in paths)


def test_residual_plots_of_each_kind_of_data_are_written(tmp_path):
    from organtwin.calibrate._observables import ActivationObservables, ECGObservables, TraceObservables
    from organtwin.viz import plot_residuals

    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 800.0, 81)
    pts = rng.normal(size=(30, 3)) * 10
    cases = {
        "map": (ActivationObservables(np.zeros(4), pts, np.linspace(0, 80, 30), np.linspace(0, 80, 30) + 1), 30, "ms"),
        "ecg": (
            ECGObservables(t[:40], rng.normal(size=(40, 12)), rng.normal(size=(40, 12)), list("ABCDEFGHIJKL")),
            480,
            "mV",
        ),
        "volume": (TraceObservables(t, 100 + 0 * t, "LV volume (mL)", t[::8], 101 + 0 * t[::8]), t[::8].size, "mL"),
        "cuff": (
            TraceObservables(
                t, 90 + 0 * t, "aortic pressure (mmHg)", extra_lines={"cuff systolic": 120.0, "cuff diastolic": 80.0}
            ),
            2,
            "mmHg",
        ),
        "scalar": (None, 3, ""),
    }
    for name, (obs, n, unit) in cases.items():
        p = plot_residuals(obs, rng.normal(size=n), tmp_path / f"{name}.png", unit=unit, noise_sd=1.0, title=name)
        assert p.stat().st_size > 5000, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_case_key_switches_the_discretisation_check_and_stays_out_of_older_fit_options(tmp_path):
    from organtwin.io import CaseError
    from organtwin.io._calibration import _parse_fit
    from organtwin.io._case import _Section

    sec = lambda d: _Section("case.toml", "fit", d, tmp_path)
    assert "discretisation_check" not in _parse_fit(sec({}))  # a case without the key: the options as before
    assert _parse_fit(sec({"discretisation_check": False})).get("discretisation_check") is False
    with pytest.raises(CaseError, match=r"\[fit\] discretisation_check: expected true or false"):
        _parse_fit(sec({"discretisation_check": "no"}))


def test_the_command_line_flag_overrides_the_case_key_and_without_it_the_case_decides(tmp_path, capsys, monkeypatch):
    """What `organtwin calibrate` passes to `run_calibration` (stubbed: no fit): None without the flag (then the case's
    ``[fit] discretisation_check`` decides, true when absent), the flag's value with it."""
    from cli import run_cli

    import organtwin.io
    from organtwin._errors import InputError

    asked = []

    def stub(case, **kw):
        asked.append(kw["discretisation"])
        raise InputError("stub: no fit here")

    monkeypatch.setattr(organtwin.io, "run_calibration", stub)
    case = Path(__file__).resolve().parents[1] / "calibration" / "c_volume_cuff" / "case.toml"
    for flag in ([], ["--no-discretisation-check"], ["--discretisation-check"]):
        rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "out", "--quiet", *flag)
        assert rc == 1 and "stub: no fit here" in err
    assert asked == [None, False, True]
