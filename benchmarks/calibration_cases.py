"""The four calibration case studies (calibration/*/case.toml) run as a user runs them, with their figures (issue 6).

For each case: wall time from reading the case to the written report (mesh generation, compilation and the fit
included: what a user waits for), the fit's own seconds and steps, every parameter's truth / fitted / error / Laplace
SD / identified flag, and the data terms' figures: activation RMSE (ms); per-lead ECG correlation of the fit with the
noisy measured record, with the noise-free truth (ecg_clean.csv, kept for evaluation only), and the ceiling (truth
against its noisy copy: what a perfect fit would score against the record); volume RMSE (mL), cuff errors (mmHg).

    python benchmarks/calibration_cases.py --json benchmarks/results_calibration_cases_DATE.json [--cases a b]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import machine, pin_threads, write_figures

CASES = {"a": "a_activation_map", "b": "b_ecg", "c": "c_volume_cuff", "d": "d_ecg_volume"}
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--cases", nargs="*", default=list(CASES))
ap.add_argument("--out", default="/tmp/organtwin_calibration_cases")
ap.add_argument("--json", default=None)
ARGS = ap.parse_args()
pin_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from organtwin.io import load_calibration_case, read_ecg, run_calibration, write_calibration  # noqa: E402
from organtwin.viz import calibration_pictures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "calibration"


def _pearson(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return np.sum(a * b, 0) / np.sqrt(np.sum(a * a, 0) * np.sum(b * b, 0))


def _ecg_against_truth(outcome, term, folder):
    """Per-lead correlation of the aligned fit with the noise-free ECG, and of the truth with the noisy record."""
    d = outcome.report.observables[term.name]  # the fitted model's ECG beside the record (ECGObservables)
    clean = read_ecg(folder / "ecg_clean.csv")
    t = np.asarray(d.times_ms)
    idx = np.searchsorted(np.round(clean.times_ms, 6), np.round(t, 6))
    truth = np.stack([clean.lead(n)[idx] for n in d.leads], 1)
    return (
        {n: float(v) for n, v in zip(d.leads, _pearson(np.asarray(d.fitted), truth))},
        {n: float(v) for n, v in zip(d.leads, _pearson(np.asarray(d.measured), truth))},
    )


results = {}
for key in ARGS.cases:
    folder = ROOT / CASES[key]
    truth = json.loads((folder / "truth.json").read_text())
    t0 = time.perf_counter()
    case = load_calibration_case(folder / "case.toml")
    out = run_calibration(case, progress=False, truth=truth, say=lambda s: None)
    write_calibration(
        out,
        Path(ARGS.out) / CASES[key],
        pictures=lambda d, out=out: calibration_pictures(out.report.observables, d, mesh=out.problem.mesh),
    )
    wall = time.perf_counter() - t0
    rep = out.report.to_dict()
    entry = {
        "wall_s": wall,
        "fit_s": out.result.seconds,
        "steps": out.result.steps,
        "message": out.result.message,
        "nodes": int(out.problem.mesh.n_nodes),
        "chi2_per_dof": rep["chi2"] / max(rep["n_residuals"] - rep["n_parameters"], 1),
        "parameters": rep["parameters"],
        "not_identified": rep["not_identified"],
        "terms": rep["terms"],
    }
    for term in out.problem.terms:
        if type(term.loss).__name__ == "ECGLoss" and (folder / "ecg_clean.csv").exists():
            vs_truth, ceiling = _ecg_against_truth(out, term, folder)
            entry["terms"][term.name]["correlation_with_noise_free_truth"] = vs_truth
            entry["terms"][term.name]["ceiling_truth_vs_noisy_record"] = ceiling
    results[key] = entry
    print(
        f"\n## case {key} ({CASES[key]}): {entry['nodes']} nodes, wall {wall:.1f} s (fit {entry['fit_s']:.1f} s, "
        f"{entry['steps']} steps), chi2/dof {entry['chi2_per_dof']:.3g}"
    )
    print("| parameter | truth | fitted | error | SD | identified |\n|---|---:|---:|---:|---:|---|")
    for n, v in rep["parameters"].items():
        err = (
            f"{100 * v['relative_error']:+.2f} %"
            if "relative_error" in v
            else f"{v['error']:+.3g}"
            if "error" in v
            else ""
        )
        print(
            f"| `{n}` | {v.get('truth', '')} | {v['value']:.5g} | {err} | {v['sd']:.3g} | "
            f"{'yes' if v['identified'] else 'NO'} |"
        )
    for name, t in entry["terms"].items():
        keep = {k: v for k, v in t.items() if not isinstance(v, (dict, list))}
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in keep.items()))
        for k in ("correlation", "correlation_with_noise_free_truth", "ceiling_truth_vs_noisy_record"):
            if k in t:
                print(f"  {k}: min {min(t[k].values()):.4f}, mean {np.mean(list(t[k].values())):.4f}")

write_figures(ARGS.json, {"date": time.strftime("%Y-%m-%d"), "machine": machine(jax=jax.__version__), "cases": results})
