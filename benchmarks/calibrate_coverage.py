"""Coverage of the calibration's intervals (issue 26, item 3): data made from a known truth by ANOTHER solver on ANOTHER
discretisation, N noise seeds per case, every seed fitted, and how often the 68 % and 95 % intervals contain the truth
for the plain Laplace SD, Laplace + the discretisation term, and the sampled posterior (NUTS; on the first
``--sample-seeds`` seeds only, within ``--sample-budget`` seconds: each NUTS run compiles anew).

Cases (truths: the built-in cases' truth.json):

* **a** activation map -> the built-in case a's 9 free values (LV/RV velocity, LV and RV site positions, RV onset).
  Data: fim-python 1.2.2 (`fimpy.solver.create_fim_solver`, CPU, active list; the velocity tensor v² I per tet, the
  source balls' nodes given organtwin's own relaxed-source times) on `biv_mesh(h=--data-h)` (2.0 mm: 18,883 nodes);
  ``--points`` (300) map points on the data mesh's tagged surface nodes, +23 ms reference, Gaussian noise 2 ms.
  Fitted: case a's case.toml with ``[mesh] generate = "biv", h = --fit-h`` (5 mm: 2,271 nodes, a different and coarser
  gmsh mesh); the discretisation term from the re-fit at h/2 (regenerated, 2.5 mm: what `organtwin calibrate` does).
  At h = 5 mm the 5 mm source balls hold a node or two and the sites are not identifiable (the report flags them);
  ``--fit-h 3.5`` (5,017 nodes, re-fit at 1.75 mm) identifies all 9 values (benchmarks/RESULTS.md has both).
* **c** LV volume curve + cuff -> case c's 4 free values (LV e_active, systemic R and C, RA e_active), case.toml as it
  is (smooth tanh valves, 20 cycles). Data: svZeroDSolver (`svzerod` 3.2, PyPI) on the Regazzoni 2022 preset
  translated to svZeroD JSON (tests/data/zerod/closed_loop_heart.json with every chamber value and timing, resistance,
  capacitance, inductance and valve value replaced by the preset's, the truth put in: it agrees with organtwin's
  piecewise-valve preset to 0.004 mL, measured here each run), 40 cycles of 3201 points; 40 frames at fixed random
  times of the last cycle, volume noise 3 mL, cuff (aortic max / min) noise 2 mmHg. The discretisation term: the 0D
  integrator's rtol/atol / 10 (`organtwin.io._discretisation.refined_case`).

Per seed: noise drawn (default_rng(1000 + seed)), the measured arrays put into the case's data terms, and the fit run
from the case's start by ONE compiled Levenberg–Marquardt function (`organtwin.calibrate._coverage.compiled_refit`:
the data are a jit argument, so no seed recompiles; rtol = atol = 1e-6, the case's max_steps), the Laplace SD by
`fit_report`'s rule (`laplace_summary`), then the discretisation re-fit on the finer problem from the optimum (ONE
compiled function again: 5 LM steps at rtol = atol = 1e-8, as `discretisation_check`) and sd_total =
sqrt(sd² + (2 shift)²) (`combine_sd`). NUTS: `organtwin.calibrate.sample_posterior` through its current signature
(reverse-mode gradients through the eikonal for case a, forward-mode for the 0D case, the fit's noise scale), its
equal-tailed 16–84 % and 2.5–97.5 % intervals. Intervals of Laplace kinds: value ± SD and ± 1.96 SD. Coverage with its
binomial SE sqrt(p(1 − p)/n), and the mean |value − truth| / SD; "identified": the share of seeds where the report
would call the value identified (data-only SD ≤ 5 % of the value, or ≤ the case's absolute tolerance).

    python benchmarks/calibrate_coverage.py --seeds 20 --json benchmarks/results_calibrate_coverage_2026-12-07.json
    python benchmarks/calibrate_coverage.py --quick          # 4 seeds, 1 sampled seed, short chains
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, pin_threads, write_figures

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
ap.add_argument("--cases", nargs="*", default=["a", "c"])
ap.add_argument("--seeds", type=int, default=20)
ap.add_argument("--quick", action="store_true", help="4 seeds, 1 sampled seed, 60 draws: a smoke run")
ap.add_argument("--fit-h", type=float, default=5.0, help="mm, the fitted biv mesh (case a)")
ap.add_argument("--data-h", type=float, default=2.0, help="mm, fim-python's biv mesh (case a)")
ap.add_argument("--points", type=int, default=300)
ap.add_argument("--sample-seeds", type=int, default=2, help="seeds per case with a sampled posterior")
ap.add_argument("--sample-budget", type=float, default=900.0, help="s, all NUTS runs together (then skipped)")
ap.add_argument("--draws", type=int, default=200)
ap.add_argument("--chains", type=int, default=2)
ap.add_argument("--warmup", type=int, default=100)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--json", default=None)
ARGS = ap.parse_args()
if ARGS.quick:
    ARGS.seeds, ARGS.sample_seeds, ARGS.draws, ARGS.warmup = min(ARGS.seeds, 4), 1, 60, 50
pin_threads(ARGS.threads)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import equinox as eqx  # noqa: E402
import numpy as np  # noqa: E402

from organtwin.calibrate import combine_sd, joint_residuals, sample_posterior  # noqa: E402
from organtwin.calibrate._coverage import (  # noqa: E402
    LEVELS,
    NOMINAL,
    compiled_refit,
    coverage_rows,
    laplace_summary,
)
from organtwin.calibrate._report import _element_names, _element_tolerances  # noqa: E402
from organtwin.io import load_calibration_case  # noqa: E402
from organtwin.io._calibration import build_problem, tolerances  # noqa: E402
from organtwin.io._discretisation import refined_case  # noqa: E402

FIELDS = ("measured_ms", "measured_ml", "measured_mmhg")
T_START = time.perf_counter()


def load() -> float:
    return os.getloadavg()[0]


def say(*a):
    print(f"[{time.perf_counter() - T_START:7.1f} s, load {load():.1f}]", *a, flush=True)


def with_measured(terms, measured: dict):
    """The case's data terms with each term's measured array replaced (the noise draw)."""
    out = []
    for t in terms:
        field = next(f for f in FIELDS if hasattr(t.loss, f))
        arr = jax.numpy.asarray(measured[t.name], getattr(t.loss, field).dtype)
        out.append(eqx.tree_at(lambda t, f=field: getattr(t.loss, f), t, arr))
    return tuple(out)


# ------------------------------------------------------------------------------------------------ case a: fim-python
def fim_activation(mesh, velocity: dict, sites) -> np.ndarray:
    """fim-python's activation on ``mesh``: per-tet velocity tensor v² I (mm/ms)², the nodes in each site's ball
    started at onset + |x − p| · sqrt(mean over the node's cells of 1/v²) (organtwin's relaxed source)."""
    from fimpy.solver import create_fim_solver

    pts = np.asarray(mesh.points, np.float64)
    tets = np.asarray(mesh.tets, np.int64)
    v = np.array([velocity[int(r)] for r in np.asarray(mesh.regions)], np.float64)
    D = (v**2)[:, None, None] * np.eye(3)[None]
    inv2 = np.bincount(tets.ravel(), np.repeat(1.0 / v**2, 4), minlength=len(pts))
    inv2 /= np.maximum(np.bincount(tets.ravel(), minlength=len(pts)), 1)
    t0 = np.full(len(pts), np.inf)
    for pos, onset, radius in sites:
        d = np.linalg.norm(pts - np.asarray(pos), axis=1)
        inside = d <= radius
        t0[inside] = np.minimum(t0[inside], onset + d[inside] * np.sqrt(inv2[inside]))
    x0 = np.flatnonzero(np.isfinite(t0))
    solver = create_fim_solver(pts, tets, D, precision=np.float64, device="cpu", use_active_list=True)  # pyright: ignore[reportArgumentType]
    return np.asarray(solver.comp_fim(x0, t0[x0]), np.float64)


def setup_a(tmp: Path) -> dict:
    from organtwin import ep
    from organtwin.calibrate import ActivationMap
    from organtwin.io import write_activation_map_csv
    from organtwin.mesh import biv_mesh

    src = ROOT / "calibration" / "a_activation_map"
    truth = json.loads((src / "truth.json").read_text())
    vel = {1: truth["tissue.velocity[0, 0]"], 2: truth["tissue.velocity[1, 0]"]}
    sites = [
        ([truth[f"sites.lv.position[{i}]"] for i in range(3)], 0.0, 5.0),
        ([truth[f"sites.rv.position[{i}]"] for i in range(3)], truth["sites.rv.onset"], 5.0),
    ]
    t0 = time.perf_counter()
    mesh = biv_mesh(h=ARGS.data_h)
    say(f"a: data mesh biv h={ARGS.data_h} mm: {mesh.n_nodes} nodes ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    act = fim_activation(mesh, vel, sites)
    fim_s = time.perf_counter() - t0
    # the same problem by organtwin's eikonal on the same mesh: a check that fim-python was given the same problem
    tissue = ep.EikonalTissue.from_mesh(mesh, {r: ep.ConductionVelocity(v) for r, v in vel.items()})
    ours = np.asarray(
        ep.simulate_eikonal(tissue, tuple(ep.EikonalSite(p, o, radius=r) for p, o, r in sites)).activation
    )
    diff = float(np.max(np.abs(ours - act)))
    say(f"a: fim-python {fim_s:.1f} s, times {act.min():.1f}..{act.max():.1f} ms; max |organtwin - fim| {diff:.2e} ms")
    clean = ActivationMap.synthetic(mesh, act, ARGS.points, offset_ms=23.0, seed=11, source="fim-python")
    text = (src / "case.toml").read_text()
    text = text.replace('builtin = "biv"', f'generate = "biv"\nh = {ARGS.fit_h}')
    (tmp / "case.toml").write_text(text)
    write_activation_map_csv(clean, tmp / "lat.csv")
    return {
        "truth": truth,
        "clean": {"map": np.asarray(clean.times_ms)},
        "noise": {"map": 2.0},
        "data": {
            "solver": "fim-python 1.2.2",
            "mesh": f"biv_mesh(h={ARGS.data_h}): {mesh.n_nodes} nodes, {mesh.n_cells} tets",
            "points": ARGS.points,
            "fim_seconds": fim_s,
            "max_abs_organtwin_minus_fim_ms": diff,
        },
    }


# --------------------------------------------------------------------------------------------------- case c: svzerod
def preset_as_svzerod(params: dict) -> dict:
    """The Regazzoni 2022 preset (published values merged with ``params``) as an svZeroD config: the shipped
    closed_loop_heart.json with every value and chamber timing replaced by the preset's; variable-based output of the
    last cycle."""
    from organtwin.flow.zerod._regazzoni import Regazzoni2022

    p = Regazzoni2022().merge(params).as_dict()
    c = json.loads((ROOT / "tests" / "data" / "zerod" / "closed_loop_heart.json").read_text())
    for ch in c["chambers"]:
        q = p[ch["name"]]
        ch["values"] = {"Emax": q["e_active"], "Epass": q["e_passive"], "Vrest": q["v0"]}
        ch["activation_function"].update(
            contract_start=q["t_c"],
            contract_duration=q["T_c"],
            relax_start=q["t_c"] + q["T_c"],
            relax_duration=q["T_r"],
        )
    blocks = {"SYS_AR": ("sys", "ar"), "SYS_VEN": ("sys", "ven"), "PUL_AR": ("pul", "ar"), "PUL_VEN": ("pul", "ven")}
    for v in c["vessels"]:
        n, z = v["vessel_name"], v["zero_d_element_values"]
        if n in blocks:
            a, b = blocks[n]
            z["C"], z["L"] = p[a][f"c_{b}"], p[a][f"l_{b}"]
        else:
            a, b = blocks[n.removesuffix("_R")]
            z["R_poiseuille"] = p[a][f"r_{b}"]
    for v in c["valves"]:
        v["params"]["Rmin"], v["params"]["Rmax"] = p["valves"]["r_min"], p["valves"]["r_max"]
    c["simulation_parameters"].update(
        cardiac_period=p["period"],
        number_of_cardiac_cycles=40,
        number_of_time_pts_per_cardiac_cycle=3201,
        output_interval=1,
        output_variable_based=True,
        output_all_cycles=False,
    )
    return c


def setup_c(tmp: Path) -> dict:
    import svzerod

    from organtwin.flow.zerod import ValveLaw, regazzoni2022, simulate_circulation

    src = ROOT / "calibration" / "c_volume_cuff"
    truth = json.loads((src / "truth.json").read_text())
    params = {
        "LV": {"e_active": truth["circulation.model.blocks.LV.e_active"]},
        "RA": {"e_active": truth["circulation.model.blocks.RA.e_active"]},
        "sys": {
            "r_ar": truth["circulation.model.blocks.sys_art_RL.resistance[0]"],
            "c_ar": truth["circulation.model.blocks.sys_art.capacitance"],
        },
    }
    t0 = time.perf_counter()
    df = svzerod.simulate(preset_as_svzerod(params))
    sv_s = time.perf_counter() - t0
    lv = df[df.name == "Vc:LV"]
    t_s = lv.time.to_numpy() - lv.time.to_numpy()[0]
    vol = lv.y.to_numpy()
    p_ao = df[df.name == "pressure:AV:SYS_AR"].y.to_numpy()
    ref = simulate_circulation(regazzoni2022(valve_law=ValveLaw.PIECEWISE, params=params), points_per_cycle=1601)
    diff = float(np.max(np.abs(np.interp(t_s, ref.t - ref.t[0], ref.volume["LV"]) - vol)))
    say(f"c: svzerod {sv_s:.1f} s: EDV {vol.max():.2f} ESV {vol.min():.2f} mL, aorta {p_ao.max():.1f}/{p_ao.min():.1f}")
    say(f"c: max |organtwin piecewise preset - svzerod| LV volume {diff:.2e} mL")
    frames = np.sort(np.random.default_rng(5).uniform(0.0, 1000.0 * t_s[-1], 40))
    clean_v = np.interp(frames, 1000.0 * t_s, vol)
    clean_c = np.array([p_ao.max(), p_ao.min()])
    (tmp / "case.toml").write_text((src / "case.toml").read_text())
    (tmp / "lv_volume.csv").write_text(
        "time_ms,LV_volume_ml\n" + "".join(f"{float(t)!r},{float(v)!r}\n" for t, v in zip(frames, clean_v))
    )
    (tmp / "cuff.json").write_text(
        json.dumps({"systolic_mmhg": float(clean_c[0]), "diastolic_mmhg": float(clean_c[1])})
    )
    return {
        "truth": truth,
        "clean": {"lv_volume": clean_v, "cuff": clean_c},
        "noise": {"lv_volume": 3.0, "cuff": 2.0},
        "data": {
            "solver": f"svzerod {getattr(svzerod, '__version__', '3.2')}",
            "config": "the preset translated to svZeroD JSON (preset_as_svzerod), 40 cycles x 3201 points",
            "svzerod_seconds": sv_s,
            "max_abs_preset_minus_svzerod_lv_volume_ml": diff,
            "frames": 40,
        },
    }


# --------------------------------------------------------------------------------------------------------- the study
def run_case(key: str, tmp: Path) -> dict:
    t_case = time.perf_counter()
    setup = (setup_a if key == "a" else setup_c)(tmp)
    case = load_calibration_case(tmp / "case.toml")
    t0 = time.perf_counter()
    problem = build_problem(case)
    fine_case, fine_mesh, what = refined_case(case)
    fine = build_problem(fine_case, mesh=fine_mesh)
    say(f"{key}: fitted {problem.mesh.n_nodes} nodes; finer: {what}; built in {time.perf_counter() - t0:.1f} s")
    free, names = problem.free, list(_element_names(problem.free))
    truth = np.array([setup["truth"][n] for n in names])
    tol = _element_tolerances(free, tolerances(case))
    residuals_of = lambda model, terms: joint_residuals(terms, problem.simulate)(model)
    residuals_fine = lambda model, terms: joint_residuals(terms, fine.simulate)(model)
    fit = compiled_refit(residuals_of, free, max_steps=case.fit["max_steps"])
    refit = compiled_refit(residuals_fine, fine.free, max_steps=5, rtol=1e-8, atol=1e-8)
    u0 = jax.numpy.asarray(problem.u0)
    rec = {k: [] for k in ("u", "values", "sd", "sd_data", "shift", "sd_total", "steps", "ok", "ok_fine", "chi2_dof")}
    rec.update(seconds_fit=[], seconds_fine=[], identified=[])
    measured_all = []
    for seed in range(ARGS.seeds):
        rng = np.random.default_rng(1000 + seed)
        measured = {n: c + rng.normal(0.0, setup["noise"][n], c.shape) for n, c in setup["clean"].items()}
        measured_all.append(measured)
        t0 = time.perf_counter()
        out = fit(u0, problem.model, with_measured(problem.terms, measured))
        lap = laplace_summary(out, free)
        t1 = time.perf_counter()
        out2 = refit(out.u, fine.model, with_measured(fine.terms, measured))
        x2 = np.asarray(out2.values, np.float64)
        t2 = time.perf_counter()
        shift = x2 - lap.values if bool(out2.ok) else np.full_like(lap.values, np.nan)
        ref = np.where(np.isnan(tol), np.abs(lap.values), tol / case.fit["identified_rel_sd"])
        for k, v in (
            ("u", np.asarray(out.u, np.float64)),
            ("values", lap.values),
            ("sd", lap.sd),
            ("sd_data", lap.sd_data),
            ("shift", shift),
            ("sd_total", combine_sd(lap.sd, shift)),
            ("steps", int(out.steps)),
            ("ok", bool(out.ok)),
            ("ok_fine", bool(out2.ok)),
            ("chi2_dof", lap.chi2 / max(lap.m - len(names), 1)),
            ("seconds_fit", t1 - t0),
            ("seconds_fine", t2 - t1),
            ("identified", lap.sd_data / ref <= case.fit["identified_rel_sd"]),
        ):
            rec[k].append(v)
        z = (lap.values - truth) / lap.sd
        say(
            f"{key} seed {seed}: {int(out.steps)} steps, chi2/dof {rec['chi2_dof'][-1]:.2f}, "
            f"fit {t1 - t0:.1f} s, fine re-fit {t2 - t1:.1f} s; (value - truth)/sd " + " ".join(f"{a:+.1f}" for a in z)
        )
    arr = {k: np.asarray(v, np.float64) for k, v in rec.items()}
    tables = {
        "laplace": coverage_rows(names, truth, arr["values"], arr["sd"]),
        "laplace+disc": coverage_rows(names, truth, arr["values"], arr["sd_total"]),
    }
    ident = arr["identified"].mean(axis=0)
    return {
        "case": key,
        "data": setup["data"],
        "fitted": {
            "nodes": int(problem.mesh.n_nodes) if problem.mesh is not None else None,
            "finer": what,
            "free": names,
            "truth": truth.tolist(),
            "max_steps": case.fit["max_steps"],
        },
        "seeds": ARGS.seeds,
        "identified_share": dict(zip(names, ident.tolist())),
        "tables": tables,
        "per_seed": {k: v.tolist() for k, v in arr.items()},
        "seconds_case": time.perf_counter() - t_case,
        "_sampling": (problem, measured_all, names, truth, arr),
    }


def _sample(problem, terms, u, reverse, scale, seed):
    return sample_posterior(
        joint_residuals(terms, problem.simulate),
        problem.free,
        problem.model,
        u,
        draws=ARGS.draws,
        chains=ARGS.chains,
        warmup=ARGS.warmup,
        reverse_residuals=reverse,
        noise_scale=math.sqrt(scale),
        seed=seed,
    )


def sample_case(res: dict, deadline: float) -> None:
    problem, measured_all, names, truth, arr = res.pop("_sampling")
    done, runs = [], []
    for seed in range(min(ARGS.sample_seeds, ARGS.seeds)):
        if time.perf_counter() > deadline:
            say(f"{res['case']}: sampling budget spent; {len(done)} sampled seeds")
            break
        terms = with_measured(problem.terms, measured_all[seed])
        lap_u = jax.numpy.asarray(arr["u"][seed])
        scale = max(1.0, float(arr["chi2_dof"][seed]))
        reverse = joint_residuals(terms, problem.simulate_reverse) if "tissue" in problem.model else None
        t0 = time.perf_counter()
        try:
            post = _sample(problem, terms, lap_u, reverse, scale, seed)
        except Exception as e:  # a failed run is recorded, not fatal: the Laplace tables stand without it
            runs.append({"seed": seed, "error": f"{type(e).__name__}: {e}"})
            say(f"{res['case']} seed {seed}: sampling failed: {type(e).__name__}: {e}")
            continue
        runs.append(
            {
                "seed": seed,
                "seconds": time.perf_counter() - t0,
                "seconds_compile": float(post.seconds_compile),
                "result": str(post.message),
                "rhat_max": float(np.nanmax(post.rhat)),
                "ess_bulk_min": float(np.nanmin(post.ess_bulk)),
                "mean_steps": float(post.mean_steps),
                "mean": np.asarray(post.mean).tolist(),
                "sd": np.asarray(post.sd).tolist(),
                "interval_68": np.asarray(post.interval_68).tolist(),
                "interval_95": np.asarray(post.interval_95).tolist(),
            }
        )
        done.append(post)
        say(f"{res['case']} seed {seed} sampled: {post.message}; {time.perf_counter() - t0:.0f} s")
    res["sampled"] = runs
    if done:
        iv = {
            "68": (np.stack([p.interval_68[:, 0] for p in done]), np.stack([p.interval_68[:, 1] for p in done])),
            "95": (np.stack([p.interval_95[:, 0] for p in done]), np.stack([p.interval_95[:, 1] for p in done])),
        }
        res["tables"]["sampled"] = coverage_rows(
            names, truth, np.stack([p.mean for p in done]), np.stack([p.sd for p in done]), iv
        )


def table(results) -> str:
    lines = [
        "| case | parameter | interval | n | 68 % coverage | 95 % coverage | mean abs(bias)/SD | identified |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for kind, rows in res["tables"].items():
            for r in rows:
                lines.append(
                    f"| {res['case']} | {r['parameter']} | {kind} | {r['n']} | "
                    f"{r['cover_68']:.2f} ± {r['se_68']:.2f} | {r['cover_95']:.2f} ± {r['se_95']:.2f} | "
                    f"{r['mean_abs_bias_over_sd']:.2f} | {res['identified_share'][r['parameter']]:.2f} |"
                )
    return "\n".join(lines)


def main() -> None:
    import fimpy  # noqa: F401  (fail early when the peer is missing)

    loads = [load()]
    results = []

    def record(stage: str) -> None:
        """The figures so far (``--json`` rewritten after every stage: a run stopped half-way keeps them)."""
        loads.append(load())
        out = {
            "what": "coverage of the 68/95 % intervals (issue 26, item 3)",
            "command": "python benchmarks/calibrate_coverage.py " + " ".join(sys.argv[1:]),
            "stage": stage,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": machine(jax=jax.__version__),
            "nominal": NOMINAL,
            "levels": LEVELS,
            "seeds": ARGS.seeds,
            "sampling": {
                "sample_seeds": ARGS.sample_seeds,
                "draws": ARGS.draws,
                "chains": ARGS.chains,
                "warmup": ARGS.warmup,
                "budget_s": ARGS.sample_budget,
            },
            "wall_seconds": time.perf_counter() - T_START,
            "load_average_1min": {"samples": loads, "min": min(loads), "max": max(loads)},
            "cases": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
        }
        print(table(results))
        print(f"{stage}: wall {out['wall_seconds']:.0f} s; 1-min load average {min(loads):.1f}-{max(loads):.1f}")
        write_figures(ARGS.json, out, default=float)

    with tempfile.TemporaryDirectory() as d:
        for key in ARGS.cases:
            tmp = Path(d) / key
            tmp.mkdir()
            results.append(run_case(key, tmp))
            record(f"case {key} fitted")
        deadline = time.perf_counter() + ARGS.sample_budget
        for res in results:
            sample_case(res, deadline)
            record(f"case {res['case']} sampled")


if __name__ == "__main__":
    main()
