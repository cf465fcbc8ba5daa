"""A calibration case whose circulation is an svZeroDSolver configuration (issue 26 item 4): ``[circulation] model =
"config.json"`` / ``"svzerod:NAME"``, free parameters named BLOCK.PARAM in the configuration's units, data made by
svzerod itself (live) from the same configuration with other values, the name and observable errors, the units, the
coupled path's refusal and the preset's timing warning."""

import copy
import json
import tomllib
import warnings

import numpy as np
import pytest

from organtwin._errors import CalibrationWarning
from organtwin.io import CaseError
from organtwin.io._calibration import build_problem, parse_calibration_case, run_calibration
from organtwin.io._svzerod_case import CONFIGS_DIR, shipped_configs

MMHG = 1333.2238741499998  # dyn/cm^2
CGS = CONFIGS_DIR / "lv_loop_cgs.json"  # organtwin's single-ventricle loop in cgs (shipped)
TRUTH = {"LV.Emax": 1.2 * 3666.37, "SYS.C": 0.75 * 0.000900075}


def _svzerod_beat(config: dict, points: int = 3201) -> dict:
    """The last of 30 beats, as svzerod (live) writes it: {series: values} and the beat's times (ms from its start)."""
    svzerod = pytest.importorskip("svzerod")
    c = copy.deepcopy(config)
    c["simulation_parameters"].update(
        output_variable_based=True,
        number_of_cardiac_cycles=30,
        number_of_time_pts_per_cardiac_cycle=points,
        absolute_tolerance=1e-2,
        maximum_nonlinear_iterations=100,
    )
    df = svzerod.simulate(c)
    T = c["simulation_parameters"]["cardiac_period"]
    out = {}
    for name, g in df.groupby("name"):
        t = np.asarray(g["time"], float)
        last = t >= t[-1] - T * (1 - 1e-9)
        out[str(name)] = (1000.0 * (t[last] - t[last][0]), np.asarray(g["y"], float)[last])
    return out


def _set(config: dict, values: dict) -> dict:
    c = copy.deepcopy(config)
    for name, v in values.items():
        block, p = name.split(".")
        for sec, key, vals in (("chambers", "name", "values"), ("boundary_conditions", "bc_name", "bc_values")):
            for e in c.get(sec, []):
                if e[key] == block and p in e[vals]:
                    e[vals][p] = v
    return c


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """LV volume (25 samples, 2 mL noise) and aortic-root pressure (40 samples, 2 mmHg noise; svzerod's
    pressure:AV:aorta in dyn/cm^2 / 1333.22) of the shipped cgs loop at TRUTH, made by svzerod."""
    d = tmp_path_factory.mktemp("svzerod_case")
    config = json.loads(CGS.read_text())
    beat = _svzerod_beat(_set(config, TRUTH))
    rng = np.random.default_rng(4)
    t, v = beat["Vc:LV"]
    tv = np.linspace(0.0, 780.0, 25)
    vv = np.interp(tv, t, v) + rng.normal(0.0, 2.0, tv.size)
    (d / "lv.csv").write_text("time_ms,LV_volume_ml\n" + "".join(f"{a:g},{b:.4f}\n" for a, b in zip(tv, vv)))
    t, p = beat["pressure:AV:aorta"]
    tp = np.linspace(0.0, 790.0, 40)
    pp = np.interp(tp, t, p) / MMHG + rng.normal(0.0, 2.0, tp.size)
    (d / "ao.csv").write_text("time_ms,aorta_pressure_mmhg\n" + "".join(f"{a:g},{b:.4f}\n" for a, b in zip(tp, pp)))
    (d / "loop.json").write_text(CGS.read_text())
    (d / "cuff.json").write_text(json.dumps({"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0}))
    return d


CASE = """
title = "svZeroD config fit"
[mesh]
builtin = "lv-ellipsoid"
[circulation]
model = "loop.json"
cycles = 8
points = 51
[[free]]
name = "LV.Emax"
lower = 1500.0
upper = 8000.0
[[free]]
name = "SYS.C"
lower = 2e-4
upper = 3e-3
[[data]]
kind = "volume-curve"
file = "lv.csv"
noise_sd = 2.0
[[data]]
kind = "pressure-trace"
file = "ao.csv"
site = "aorta"
noise_sd = 2.0
[fit]
max_steps = 5
rtol = 1e-4
atol = 1e-4
"""


def _case(text, d, name="case.toml"):
    return parse_calibration_case(tomllib.loads(text), text=text, source=d / name, base_dir=d)


def _error(text, d) -> str:
    with pytest.raises(CaseError) as e:
        build_problem(_case(text, d))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_the_configs_beat_in_mmhg_is_svzeroDs_beat_in_cgs(data_dir):
    """The units, without a fit: the case's model at the truth (cgs values set through the free parameters) gives the
    beat svzerod gives for the same configuration, converted to mmHg and mL (the fitted model's pressures / 1333.22),
    within 1 % of the pulse and 1 % of the volume range (40 cycles from the configuration's periodic state: 8 leave
    ~0.5 mL of the move to the truth's periodic state)."""
    case = _case(CASE.replace("cycles = 8", "cycles = 40"), data_dir)
    problem = build_problem(case)
    model = problem.model
    for p in problem.free.parameters:
        model = p.set(model, TRUTH[p.name])
    curves = problem.simulate_reverse(model)["curves"]
    beat = _svzerod_beat(_set(json.loads(CGS.read_text()), TRUTH))
    t_ms = np.asarray(curves.times_ms)
    for ours, (key, scale) in (
        (curves.volume_ml["LV"], ("Vc:LV", 1.0)),
        (curves.pressure_mmhg["aorta"], ("pressure:AV:aorta", MMHG)),
    ):
        t, y = beat[key]
        ref = np.interp(t_ms, t, y) / scale
        assert np.max(np.abs(np.asarray(ours) - ref)) < 0.01 * np.ptp(ref), key
    assert any("units cgs" in n for n in problem.notes)


@pytest.mark.slow
def test_a_cgs_config_fitted_to_mmhg_data_from_svzerod_recovers_the_truth(data_dir):
    """Data from svzerod at Emax x1.2 and C x0.75 (cgs), in mmHg, mL, ms with noise; the case starts at the
    configuration's values: both come back within 3 SD (SDs below 15 %), and the run says which units it assumed and
    how it converted. Slow: ~1 min of CPU, 3-5 min on the shared 2-core machine (three XLA compilations of the 0D
    loop: the periodic start, the forward-mode Jacobian, the report); the units alone are checked by the test above."""
    lines = []
    out = run_calibration(_case(CASE, data_dir), progress=False, say=lines.append)
    text = "\n".join(lines)
    assert "units cgs (dyn/cm², mL, s; named in the configuration's comment)" in text
    assert "pressures / 1333.22 -> mmHg" in text
    rep = out.report
    assert rep.units["LV.Emax"] == "dyn/cm²/mL" and rep.units["SYS.C"] == "cm⁵/dyn"
    for name, truth in TRUTH.items():
        i = rep.names.index(name)
        v, sd = float(rep.values[i]), float(rep.sd[i])
        assert abs(v - truth) < 3 * sd and sd < 0.15 * truth, (name, v, truth, sd)


def _config(d, name="v.json", **changes) -> str:
    """The shipped cgs loop with chamber LV renamed / its activation changed / the period changed, written to d."""
    c = json.loads(CGS.read_text())
    if "rename" in changes:
        c["chambers"][0]["name"] = changes["rename"]
        for v in c["valves"]:
            for k in ("upstream_block", "downstream_block"):
                if v["params"][k] == "LV":
                    v["params"][k] = changes["rename"]
        c["initial_condition"] = {
            k.replace(":LV", ":" + changes["rename"]): v for k, v in c["initial_condition"].items()
        }
    if "activation" in changes:
        c["chambers"][0]["activation_function"] = changes["activation"]
    if "period" in changes:
        c["simulation_parameters"]["cardiac_period"] = changes["period"]
    (d / name).write_text(json.dumps(c))
    return name


def test_free_and_params_names_are_checked_against_the_config_with_the_nearest_names(data_dir):
    cases = [
        (
            CASE.replace('name = "LV.Emax"', 'name = "LV.Emx"'),
            "'LV.Emx': block LV has no parameter 'Emx' (nearest: Emax",
        ),
        (CASE.replace('name = "LV.Emax"', 'name = "LVV.Emax"'), "no block 'LVV' (nearest: LV"),
        (
            CASE.replace('name = "LV.Emax"', 'name = "circulation.model.blocks.LV.e_active"'),
            "with an svZeroD configuration name its parameters as BLOCK.PARAM",
        ),
        (
            CASE.replace('model = "loop.json"', 'model = "svzerod:lv_loop"'),
            "no shipped svZeroD configuration 'lv_loop'",
        ),
        (CASE.replace('model = "loop.json"', 'model = "nothere.json"'), "[circulation] model: file not found"),
        (
            CASE.replace("cycles = 8", "cycles = 8\nparams = { SYS = { Cc = 1e-3 } }"),
            "block SYS has no parameter 'Cc' (nearest: C",
        ),
        (
            CASE.replace("cycles = 8", 'cycles = 8\nobserve = { aorto = "pressure:AV:aorta" }'),
            "observe.aorto: unknown observable (nearest: aorta)",
        ),
        (
            CASE.replace("cycles = 8", 'cycles = 8\nreference_config = "loop.json"'),
            "reference_config: only with the built-in preset",
        ),
    ]
    for text, want in cases:
        with pytest.raises(CaseError) as e:
            _case(text, data_dir)
        msg = str(e.value)
        assert want in msg and "\n" not in msg, (want, msg)
    assert "lv_loop_cgs" in str(pytest.raises(CaseError, _case, cases[3][0], data_dir).value)  # the shipped ones listed
    assert {"lv_loop_cgs", "regazzoni2022"} <= set(shipped_configs())


def test_an_observable_the_config_lacks_is_refused_before_anything_is_compiled(data_dir):
    text = CASE.replace('site = "aorta"', 'site = "pulmonary_artery"')
    msg = _error(text, data_dir)
    assert "the data need the pulmonary_artery pressure but the configuration loop.json has no pulmonary_artery" in msg
    _config(data_dir, "renamed.json", rename="V1")
    msg = _error(CASE.replace("loop.json", "renamed.json").replace("LV.Emax", "V1.Emax"), data_dir)
    assert "need the LV volume" in msg and "chambers: V1" in msg and 'observe = { LV = "CHAMBER" }' in msg


def test_units_come_from_the_case_or_the_configs_comment_else_cgs(tmp_path):
    from organtwin.io._svzerod_case import _guess_units

    assert _guess_units(json.loads(CGS.read_text()))[0] == "cgs"
    assert _guess_units(json.loads((CONFIGS_DIR / "regazzoni2022.json").read_text()))[0] == "mmHg"
    units, how = _guess_units({"simulation_parameters": {}})
    assert units == "cgs" and "assumed" in how
    (tmp_path / "l.csv").write_text("time_ms,LV_volume_ml\n0,100\n100,90\n")
    text = CASE.replace('model = "loop.json"', 'model = "svzerod:regazzoni2022"\nunits = "SI"').replace(
        "SYS.C", "SYS_AR.C"
    )
    case = _case(text.split("[[data]]")[0] + '[[data]]\nkind = "volume-curve"\nfile = "l.csv"\n', tmp_path)
    circ = case.circulation
    assert circ is not None and circ["units"] == "SI" and "given in the case" in circ["units_how"]
    from organtwin.io._svzerod_case import config_parameter_unit

    assert config_parameter_unit(circ, "SYS_AR.C") == "m³/Pa" and config_parameter_unit(circ, "LV.Emax") == "Pa/m³"
    assert config_parameter_unit({**circ, "units": "cgs"}, "AV.Rmax") == "dyn·s/cm⁵"
    assert config_parameter_unit(circ, "LV.contract_duration") == "s"
    with pytest.raises(CaseError, match=r"units.*one of|units.*expected"):
        _case(text.replace('units = "SI"', 'units = "furlongs"'), tmp_path)


def test_coupled_needs_a_piecewise_cosine_chamber_for_the_lv(data_dir):
    """The refusals, one line each, before anything is compiled: no chamber LV; an LV whose activation is not a
    piecewise_cosine twitch."""
    head = '[eikonal]\nvelocity = 0.5\n[[eikonal.site]]\nname = "apex"\nposition = [0.0, 0.0, -18.0]\n'
    text = CASE.replace("cycles = 8", "cycles = 8\ncoupled = true").replace("[circulation]", head + "[circulation]")
    _config(data_dir, "renamed.json", rename="V1")
    text_v1 = text.replace("loop.json", "renamed.json").replace("LV.Emax", "V1.Emax")
    text_v1 = text_v1.replace('kind = "volume-curve"\nfile = "lv.csv"', 'kind = "cuff"\nfile = "cuff.json"')
    msg = _error(text_v1.replace("cycles = 8", 'cycles = 8\nobserve = { aorta = "pressure:AV:aorta" }'), data_dir)
    assert "coupled = true needs a ChamberElastanceInductor or LinearElastanceChamber named LV" in msg
    assert "chambers V1" in msg
    _config(data_dir, "halfcos.json", activation={"type": "half_cosine", "t_active": 0.2, "t_twitch": 0.3})
    msg = _error(text.replace("loop.json", "halfcos.json"), data_dir)
    assert "LV chamber's activation_function to be a piecewise_cosine" in msg and "HalfCosine" in msg


def test_the_preset_with_a_reference_config_names_the_timings_that_differ(tmp_path):
    name = _config(
        tmp_path,
        period=1.0,
        activation={
            "type": "piecewise_cosine",
            "contract_start": 0.02,
            "relax_start": 0.32,
            "contract_duration": 0.3,
            "relax_duration": 0.136,
        },
    )
    (tmp_path / "l.csv").write_text("time_ms,LV_volume_ml\n0,100\n100,90\n")
    text = f"""
[mesh]
builtin = "lv-ellipsoid"
[circulation]
reference_config = "{name}"
[[free]]
name = "circulation.model.blocks.LV.e_active"
lower = 0.5
upper = 6.0
[[data]]
kind = "volume-curve"
file = "l.csv"
"""
    with pytest.warns(CalibrationWarning) as rec:
        problem = build_problem(_case(text, tmp_path))
    lines = [str(w.message) for w in rec if issubclass(w.category, CalibrationWarning)]
    assert len(lines) == 1 and "\n" not in lines[0]
    line = lines[0]
    assert "chamber timings differ from reference_config v.json" in line
    assert (
        "period 0.8 s vs 1 s" in line
        and "LV relaxation 0.12 s vs 0.136 s" in line
        and "LV onset 0 s vs 0.02 s" in line
        and "LV contraction 0.272 s vs 0.3 s" in line
    )
    assert any("chamber timings differ" in n for n in problem.notes)
    same = {"type": "piecewise_cosine", "contract_start": 0.0, "relax_start": 0.272, "contract_duration": 0.272}
    _config(tmp_path, "same.json", activation={**same, "relax_duration": 0.12})  # the preset's LV: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        build_problem(_case(text.replace(name, "same.json"), tmp_path))


COUPLED = """
[mesh]
generate = "biv"
h = 6.0
[eikonal]
velocity = { "1" = 0.5, "2" = 0.5 }
[[eikonal.site]]
name = "lv"
position = [0.0, 0.0, -60.0]
[circulation]
model = "svzerod:regazzoni2022"
cycles = 3
points = 51
coupled = true
[[free]]
name = "LV.Emax"
lower = 0.5
upper = 6.0
[[data]]
kind = "volume-curve"
file = "lv.csv"
"""


@pytest.mark.slow
def test_a_configs_ventricles_contract_as_the_activation_reaches_them(tmp_path):
    """The shipped four-chamber configuration coupled to the eikonal activation of a coarse BiV paced from the LV
    apex: the LV and RV twitches spread over the activation times, so the LV ejects less (a higher end-systolic
    volume) than the same loop uncoupled (measured 52.0 vs 48.8 mL), and the beat stays finite. Slow: a BiV mesh,
    the eikonal and two compilations of the loop (~2 min on the shared machine)."""
    (tmp_path / "lv.csv").write_text("time_ms,LV_volume_ml\n0,100\n100,90\n")
    esv = {}
    for coupled in (True, False):
        text = COUPLED.replace("coupled = true", f"coupled = {str(coupled).lower()}")
        problem = build_problem(_case(text, tmp_path))
        v = np.asarray(problem.simulate_reverse(problem.model)["curves"].volume_ml["LV"])
        assert np.all(np.isfinite(v))
        esv[coupled] = float(v.min())
    assert esv[True] > esv[False] + 1.0


def test_a_rerun_refuses_a_configuration_that_changed_since_the_fit(data_dir, tmp_path):
    """fit.json's provenance keeps the configuration's SHA-256; a re-run of a case whose configuration changed is
    refused in one line (the check a re-run makes before anything is built)."""
    from organtwin.io._calibration import _check_rerun_files, _sha256
    from organtwin.mesh import builtin_mesh_path

    for f in ("lv.csv", "ao.csv", "loop.json"):
        (tmp_path / f).write_text((data_dir / f).read_text())
    case = _case(CASE, tmp_path)
    prov = {
        "data": {d.name: {"path": str(d.file), "sha256": _sha256(d.file)} for d in case.data},
        "mesh": {"builtin": "lv-ellipsoid", "sha256": _sha256(builtin_mesh_path("lv_ellipsoid"))},
        "circulation": {
            "config": str(tmp_path / "loop.json"),
            "sha256": _sha256(tmp_path / "loop.json"),
            "units": "cgs",
        },
    }
    _check_rerun_files(tmp_path / "fit.json", prov, case)  # unchanged: fine
    (tmp_path / "loop.json").write_text((data_dir / "loop.json").read_text().replace("3666.37", "3000.0"))
    with pytest.raises(CaseError) as e:
        _check_rerun_files(tmp_path / "fit.json", prov, case)
    assert "svZeroD configuration" in str(e.value) and "changed since the fit" in str(e.value)
