"""Patient anatomy on the shipped four-chamber test heart (issue 17): the placeholder-fibre bug quantified, activation
against fim-python node by node on the ventricles, and the wall time of each step of the command-line chain.

The heart is tests/data/four_chamber/heart.vtu (9,134 nodes, 31,491 tets; regions LV 1, RV 2, LA 3, RA 4, aorta 5,
pulmonary artery 6, septum 7; placeholder fibre (0,0,1) / sheet (0,1,1) arrays on every tet; its README says more).

1. ``placeholder``: the issue's motivating bug. Equal fibre and transverse speeds (0.6 m/s) on the whole heart as read,
   a point source at the node nearest the apex (0, 0, -88) (radius 0). Before the fix (commit 2c02794) the velocity
   metric was built from the raw arrays, ``M = v^-2 (f f' + s s' + n n')`` with ``n = f x s`` and the sheet neither unit
   nor orthogonal to the fibre; that metric is rebuilt here with numpy and solved with fim-python (``D = M^-1``; the
   same scheme as organtwin's, so it stands for the old organtwin). Also shown: the velocity tensor assembled the same
   raw way, ``D = v^2 (f f' + s s' + n n')``, as a user feeding the arrays to fim-python directly would. Against them:
   organtwin now (`EikonalTissue.from_mesh` on the mesh as `read_mesh` returns it, which repairs the sheets) and the
   truth, the isotropic solve (fim-python, ``D = v^2 I``). Figures: nodes earlier than the straight-line bound ``|x -
   x0| / v``, the most negative margin, and the largest |difference| from the isotropic truth (ms).
2. ``fim``: activation node by node against fim-python on the ventricles (regions 1, 2, 7, `Mesh.submesh`), surfaces
   named from the tags (10 endo_lv, 11 endo_rv, 12+13 epi, 21+22+23 base), float64, a point source at the node nearest
   (0, 0, -88) (radius 0, fim-python's ``x0``): isotropic 0.6 m/s, and anisotropic 0.6 / 0.4 / 0.2 m/s with rule-based
   fibres (`rule_based_fibres`, Bayer 2012). Max |difference| (ms), nodes under the Euclidean bound ``|x - x0| /
   v_max``, wall times (organtwin `simulate_eikonal` after compilation; fim-python ``comp_fim`` after solver creation;
   medians of ``--repeats``), ratio.
3. ``chain``: each step of docs/patient-meshes.md (the case, calibration file and sites of
   tests/test_patient_chain.py) run as a user runs it, ``organtwin ...`` in a subprocess in a fresh folder, with the
   figures a user reads off it. The wall seconds include the interpreter start, JAX's import and compilation.

    python benchmarks/four_chamber.py [--parts placeholder,fim,chain] [--repeats 3] [--threads 1] [--json FILE|-]

``--threads`` pins this process (parts 1 and 2: both codes) to that many cores; the chain's subprocesses get every
core (what a user's ``organtwin`` gets).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import (  # benchmarks/_common.py (the script's folder is on sys.path)
    machine,
    pin_threads,
    timed_eikonal,
    write_figures,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "tests" / "data" / "four_chamber"
HEART = DATA / "heart.vtu"
ALL_CORES = sorted(os.sched_getaffinity(0))
TODAY = datetime.date.today().isoformat()


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="placeholder,fim,chain")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--apex", default="0,0,-88", help="the source point, mm (the node nearest it is the source)")
    ap.add_argument("--keep", default=None, help="folder for the chain's files (default: a temporary one)")
    ap.add_argument(
        "--json", default=str(HERE / f"results_four_chamber_{TODAY}.json"), help="results file ('-': standard output)"
    )
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    pin_threads(ARGS.threads)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark script may; dtypes are explicit below
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from fimpy.solver import create_fim_solver  # noqa: E402

import organtwin.ep as ep  # noqa: E402
from organtwin.mesh import read_mesh, rule_based_fibres  # noqa: E402

V = 0.6  # m/s = mm/ms, parts 1 and 2 (isotropic)
V3 = (0.6, 0.4, 0.2)  # part 2, anisotropic: fibre, sheet, normal
SURFACE_NAMES = {10: "endo_lv", 11: "endo_rv", 12: "epi", 13: "epi", 21: "base", 22: "base", 23: "base"}
VENTRICLES = (1, 2, 7)
ROUND_OFF = 1e-9  # ms: "earlier than the bound" means by more than this


def _read(path, **kw):
    """read_mesh with its one-line warnings caught and returned (they are part of the figures)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mesh = read_mesh(path, **kw)
    return mesh, [str(x.message) for x in w]


def _source(points, apex) -> int:
    return int(np.argmin(np.linalg.norm(points - np.asarray(apex, float), axis=1)))


def _fim(points, tets, D, i0, repeats=1):
    """fim-python (float64, CPU, active list): phi, median comp_fim seconds, solver creation seconds."""
    t0 = time.perf_counter()
    solver = create_fim_solver(
        np.asarray(points, np.float64),
        np.asarray(tets, np.int64),
        np.ascontiguousarray(np.broadcast_to(D, (len(tets), 3, 3)), np.float64),
        precision=np.float64,
        device="cpu",
        use_active_list=True,
    )
    create = time.perf_counter() - t0
    walls, phi = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        phi = np.asarray(solver.comp_fim(np.array([i0]), np.array([0.0])), np.float64)
        walls.append(time.perf_counter() - t0)
    return phi, walls, create


def _ours(mesh, velocity, i0, repeats=1):
    """organtwin float64: activation, median wall after compilation, first call (compile + run) seconds."""
    tissue = ep.EikonalTissue.from_mesh(mesh, velocity, dtype=jnp.float64)
    site = ep.EikonalSite(jnp.asarray(mesh.points[i0], jnp.float64), 0.0, radius=0.0)
    res, first, walls = timed_eikonal(tissue, site, repeats)
    return np.asarray(res.activation, np.float64), walls, first, int(res.sweeps)


def _against(t, bound, truth) -> dict:
    margin = t - bound
    diff = t - truth
    return {
        "nodes_below_bound": int(np.sum(margin < -ROUND_OFF)),
        "min_margin_to_bound_ms": float(margin.min()),
        "max_abs_diff_vs_isotropic_ms": float(np.abs(diff).max()),
        "nodes_off_isotropic_over_1ms": int(np.sum(np.abs(diff) > 1.0)),
        "nodes_earlier_than_isotropic_over_1ms": int(np.sum(diff < -1.0)),
        "nodes_later_than_isotropic_over_1ms": int(np.sum(diff > 1.0)),
        "activation_max_ms": float(t.max()),
    }


# ---------------------------------------------------------------------------------------------------------------- 1
def part_placeholder(a) -> dict:
    import meshio

    heart, warns = _read(HEART)
    raw = meshio.read(HEART)
    f_raw = np.concatenate(
        [np.asarray(c, np.float64) for c, b in zip(raw.cell_data["fibres"], raw.cells) if b.type == "tetra"]
    )
    s_raw = np.concatenate(
        [np.asarray(c, np.float64) for c, b in zip(raw.cell_data["sheets"], raw.cells) if b.type == "tetra"]
    )
    # the arrays are one constant pair: the old per-cell tensor is one matrix
    assert np.all(f_raw == f_raw[0]) and np.all(s_raw == s_raw[0]) and len(f_raw) == heart.n_cells
    f, s = f_raw[0], s_raw[0]
    n = np.cross(f, s)
    A = np.outer(f, f) + np.outer(s, s) + np.outer(n, n)
    M_old = A / V**2  # the old velocity_metric (c3b6961^ ... 2c02794^), raw f, s, n = f x s
    p, tets = np.asarray(heart.points, np.float64), np.asarray(heart.tets)
    i0 = _source(p, [float(x) for x in a.apex.split(",")])
    bound = np.linalg.norm(p - p[i0], axis=1) / V
    print(
        f"\n## 1. placeholder fibres on the whole heart: {heart.n_nodes:,} nodes, {heart.n_cells:,} tets; f = {f}, "
        f"s = {s}; equal speeds {V} m/s; source node {i0} at {np.round(p[i0], 2).tolist()} mm",
        flush=True,
    )
    print("   read_mesh warnings: " + " | ".join(w[:160] for w in warns), flush=True)
    iso, iso_w, iso_c = _fim(p, tets, np.eye(3) * V**2, i0)
    old, old_w, _ = _fim(p, tets, np.linalg.inv(M_old), i0)
    rawv, _, _ = _fim(p, tets, A * V**2, i0)
    new, new_w, new_first, _ = _ours(heart, ep.ConductionVelocity(V, V, V), i0)
    heart_iso = heart.replace(fibres=None, sheets=None)
    ot_iso, _, _, _ = _ours(heart_iso, ep.ConductionVelocity(V), i0)
    rows = {
        "isotropic_truth_fim": _against(iso, bound, iso),
        "old_metric_raw_sheet_fim": _against(old, bound, iso),
        "raw_velocity_tensor_fim": _against(rawv, bound, iso),
        "organtwin_now_mesh_as_read": _against(new, bound, iso),
        "organtwin_now_fibres_none": _against(ot_iso, bound, iso),
    }
    for k, r in rows.items():
        print(
            f"   {k:28s}: {r['nodes_below_bound']:5d} nodes below |x-x0|/v (worst {r['min_margin_to_bound_ms']:9.3g} "
            f"ms); max |t - isotropic| {r['max_abs_diff_vs_isotropic_ms']:9.3g} ms; "
            f"{r['nodes_off_isotropic_over_1ms']} nodes off by > 1 ms "
            f"({r['nodes_earlier_than_isotropic_over_1ms']} earlier, "
            f"{r['nodes_later_than_isotropic_over_1ms']} later); last activation {r['activation_max_ms']:.2f} ms",
            flush=True,
        )
    ev = np.linalg.eigvalsh(A)
    return {
        "nodes": heart.n_nodes,
        "tets": heart.n_cells,
        "source_node": i0,
        "source_mm": p[i0].tolist(),
        "velocity_m_per_s": V,
        "fibre_raw": f.tolist(),
        "sheet_raw": s.tolist(),
        "normal_raw_f_x_s": n.tolist(),
        "old_metric_eigenvalues_times_v2": ev.tolist(),
        "old_speed_range_m_per_s": [float(V / np.sqrt(ev.max())), float(V / np.sqrt(ev.min()))],
        "read_mesh_warnings": warns,
        "rows": rows,
        "organtwin_wall_s": float(np.median(new_w)),
        "organtwin_first_call_s": new_first,
        "fim_isotropic_wall_s": float(np.median(iso_w)),
        "fim_isotropic_create_s": iso_c,
        "fim_old_wall_s": float(np.median(old_w)),
    }


# ---------------------------------------------------------------------------------------------------------------- 2
def part_fim(a) -> dict:
    heart, warns = _read(HEART, surface_names=SURFACE_NAMES)
    vent = heart.submesh(VENTRICLES)
    t0 = time.perf_counter()
    fibred = rule_based_fibres(vent, dtype=jnp.float64)
    fibre_s = time.perf_counter() - t0
    p, tets = np.asarray(vent.points, np.float64), np.asarray(vent.tets)
    i0 = _source(p, [float(x) for x in a.apex.split(",")])
    dist = np.linalg.norm(p - p[i0], axis=1)
    print(
        f"\n## 2. ventricles (regions {VENTRICLES}): {vent.n_nodes:,} nodes, {vent.n_cells:,} tets; surfaces "
        f"{ {k: v.n_faces for k, v in vent.surfaces.items() if k in ('endo_lv', 'endo_rv', 'epi', 'base')} }; "
        f"rule-based fibres {fibre_s:.1f} s; source node {i0} at {np.round(p[i0], 2).tolist()} mm",
        flush=True,
    )
    out = {
        "nodes": vent.n_nodes,
        "tets": vent.n_cells,
        "source_node": i0,
        "rule_based_fibres_s": fibre_s,
        "threads": a.threads,
        "repeats": a.repeats,
        "cases": {},
    }
    # isotropic
    f = np.asarray(fibred.fibres, np.float64)
    s = np.asarray(fibred.sheets, np.float64)
    n = np.cross(f, s)
    Va = sum(v**2 * np.einsum("ci,cj->cij", d, d) for v, d in zip(V3, (f, s, n)))
    cases = (
        ("isotropic 0.6 m/s", vent.replace(fibres=None, sheets=None), ep.ConductionVelocity(V), np.eye(3) * V**2, V),
        ("anisotropic 0.6/0.4/0.2 m/s, rule-based fibres", fibred, ep.ConductionVelocity(*V3), Va, max(V3)),
    )
    for name, mesh, vel, D, vmax in cases:
        t, walls, first, sweeps = _ours(mesh, vel, i0, a.repeats)
        phi, fwalls, create = _fim(p, tets, D, i0, a.repeats)
        med, fmed = float(np.median(walls)), float(np.median(fwalls))
        bound = dist / vmax
        row = {
            "max_abs_diff_ms": float(np.abs(t - phi).max()),
            "mean_abs_diff_ms": float(np.abs(t - phi).mean()),
            "nodes_below_euclidean_bound_organtwin": int(np.sum(t < bound - ROUND_OFF)),
            "nodes_below_euclidean_bound_fim": int(np.sum(phi < bound - ROUND_OFF)),
            "min_margin_to_bound_ms": float((t - bound).min()),
            "activation_max_ms": float(t.max()),
            "organtwin_wall_median_s": med,
            "organtwin_walls_s": walls,
            "organtwin_compile_and_first_s": first,
            "organtwin_sweeps": sweeps,
            "fim_wall_median_s": fmed,
            "fim_walls_s": fwalls,
            "fim_create_s": create,
            "fim_over_organtwin": fmed / med,
        }
        out["cases"][name] = row
        print(
            f"   {name}: max |organtwin - fim| {row['max_abs_diff_ms']:.3g} ms (mean {row['mean_abs_diff_ms']:.3g}); "
            f"below |x-x0|/v_max: organtwin {row['nodes_below_euclidean_bound_organtwin']}, fim "
            f"{row['nodes_below_euclidean_bound_fim']} (least margin {row['min_margin_to_bound_ms']:.3g} ms); "
            f"last {row['activation_max_ms']:.2f} ms\n"
            f"     organtwin {med:.3f} s (first call {first:.1f} s, {sweeps} sweeps), fim-python {fmed:.3f} s "
            f"(solver creation {create:.1f} s): fim / organtwin = {fmed / med:.1f}",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------------------------- 3
def _organtwin_exe() -> str:
    exe = Path(sys.executable).parent / "organtwin"
    return str(exe) if exe.exists() else shutil.which("organtwin") or "organtwin"


def _env() -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # pin_threads(1) switched Eigen's pool off for this process only
    env["COLUMNS"] = "200"
    return env


def _first(pattern, text, cast=float):
    m = re.search(pattern, text)
    return None if m is None else (cast(m.group(1)) if m.lastindex == 1 else [cast(g) for g in m.groups()])


def part_chain(a) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_patient_chain as tc  # the case file, the calibration file and the sites the tests run

    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="organtwin_four_chamber_"))
    work.mkdir(parents=True, exist_ok=True)
    for f in ("heart.vtu", "heart_regions.json", "heart_surfaces.json"):
        shutil.copy(DATA / f, work / f)
    (work / "case.toml").write_text(tc.CASE)
    (work / "cal.toml").write_text(tc.CALIBRATION)
    exe = _organtwin_exe()
    os.sched_setaffinity(0, set(ALL_CORES))  # the subprocesses inherit it (a preexec_fn would fork a JAX process)
    print(f"\n## 3. the command-line chain in {work} (every core: {len(ALL_CORES)})", flush=True)

    def js(text):
        return json.loads(text[text.index("{") :])

    def info_figs(out, _):
        s = js(out)
        return {
            "nodes": s["nodes"],
            "tets": s["tets"],
            "regions_wall_mL": {r["name"]: round(r["volume_mL"], 2) for r in s["regions"]},
            "cavities_mL": {c["surface"]: round(c["volume_mL"], 2) for c in s.get("cavities", [])},
            "surfaces": len(s.get("surfaces", [])),
            "fibre_quality": {
                k: v for k, v in (s.get("fibre_quality") or {}).items() if not isinstance(v, (list, dict))
            },
        }

    def surf_figs(out, _):
        return {"lines": [ln.strip() for ln in out.splitlines() if re.search(r"\b(endo_lv|endo_rv|epi|base)\b", ln)]}

    def act_figs(out, _):
        r = _first(r"activation ([-\d.e+]+) \.\. ([-\d.e+]+) ms; (\d+) of (\d+) nodes reached", out)
        return (
            {"activation_min_ms": r[0], "activation_max_ms": r[1], "nodes_reached": int(r[2]), "nodes": int(r[3])}
            if r
            else {}
        )

    def ecg_figs(folder):
        def fn(out, _):
            f = json.loads((work / folder / "features.json").read_text())
            amp = f.get("amplitude_check") or {}
            return {
                "qrs_duration_ms": f.get("qrs_duration_ms"),
                "axis_deg": f.get("axis_deg"),
                "limb_p2p_mV": amp.get("limb_peak_to_peak_mV"),
                "precordial_p2p_mV": amp.get("precordial_peak_to_peak_mV"),
                "normal": amp.get("normal"),
                "lv_rv": next((ln.strip() for ln in out.splitlines() if "LV = " in ln), None),
                "electrodes": f.get("electrode_placement"),
            }

        return fn

    def run_figs(out, _):
        s = json.loads((work / "run" / "summary.json").read_text())
        act = s.get("activation", {})
        return {
            "nodes_activated": act.get("nodes_activated"),
            "nodes": act.get("nodes"),
            "total_activation_time_ms": act.get("total_activation_time_ms"),
            "tuned": [ln.strip() for ln in out.splitlines() if "tuned" in ln][:2],
        }

    def circ_figs(out, _):
        m = json.loads((work / "circulation" / "summary.json").read_text())["metrics"]
        return {k: {q: m[k].get(q) for q in ("EDV_mL", "ESV_mL", "SV_mL", "EF")} for k in ("LV", "RV") if k in m} | {
            "edv_lines": [ln.strip() for ln in out.splitlines() if "EDV" in ln][:3]
        }

    def cal_figs(out, _):
        fit = json.loads((work / "fit" / "fit.json").read_text())
        return {
            "parameters": fit.get("parameters"),
            "truth": {"velocity_m_per_s": 0.55, "rv_onset_ms": 8.0},
            **{k: fit[k] for k in ("steps", "seconds", "objective", "message") if k in fit},
            "summary": [
                ln.rstrip()
                for ln in (work / "fit" / "summary.txt").read_text().splitlines()
                if ln.startswith(("tissue.", "sites.", "  activation_map"))
            ],
        }

    sites = tc._site_args(tc.NORMAL)
    steps = [
        ("mesh info", ["mesh", "info", "heart.vtu", "--json"], info_figs),
        (
            "mesh convert --regions 1,2,7",
            ["mesh", "convert", "heart.vtu", "-o", "ventricles.vtu", "--regions", "1,2,7"],
            lambda out, _: {"line": next((ln.strip() for ln in out.splitlines() if ln.startswith("wrote")), None)},
        ),
        (
            "mesh surfaces (tags)",
            [
                "mesh",
                "surfaces",
                "ventricles.vtu",
                "-o",
                "vent.vtu",
                "--surface-names",
                "10=endo_lv,11=endo_rv,12=epi,13=epi,21=base,22=base,23=base",
            ],
            surf_figs,
        ),
        (
            "mesh surfaces --auto --regions 1,2,7",
            ["mesh", "surfaces", "heart.vtu", "-o", "auto.vtu", "--auto", "--regions", "1,2,7", "--no-png"],
            surf_figs,
        ),
        ("mesh fibres", ["mesh", "fibres", "vent.vtu", "-o", "vent_fibres.vtu"], None),
        ("mesh info (fibred)", ["mesh", "info", "vent_fibres.vtu", "--json"], info_figs),
        (
            "activate (Durrer-like, fast endocardium)",
            [
                "activate",
                "vent_fibres.vtu",
                *sites,
                "--site-radius",
                "4",
                "--cv-fibre",
                "0.6",
                "--cv-transverse",
                "0.4",
                "--fast-endo",
                "endo_lv,endo_rv",
                "--cv-endo",
                "2.0",
                "--out",
                "activation.vtu",
            ],
            act_figs,
        ),
        ("ecg", ["ecg", "activation.vtu", "--out", "ecg"], ecg_figs("ecg")),
        ("ecg --torso", ["ecg", "activation.vtu", "--torso", "--out", "ecg_torso"], ecg_figs("ecg_torso")),
        ("ep run (ten Tusscher 2006, 180 ms, tuned CVs)", ["ep", "run", "case.toml", "--out", "run"], run_figs),
        (
            "flow circulation --activation run --edv measured",
            ["flow", "circulation", "--activation", "run", "--edv", "measured", "--out", "circulation"],
            circ_figs,
        ),
        (
            "activate (calibration map, isotropic 0.55 m/s)",
            [
                "activate",
                "vent.vtu",
                "--fibres",
                "none",
                "--site",
                tc.SITES[0],
                "--site",
                tc.SITES[1],
                "--cv-fibre",
                "0.55",
                "--site-radius",
                "5",
                "--float64",
                "--out",
                "map.vtu",
            ],
            act_figs,
        ),
        (
            "calibrate (3 regional velocities + RV onset)",
            ["calibrate", "cal.toml", "--out", "fit", "--quiet"],
            cal_figs,
        ),
    ]
    rows = []
    for name, argv, figs in steps:
        t0 = time.perf_counter()
        r = subprocess.run([exe, *argv], cwd=work, capture_output=True, text=True, env=_env())
        wall = time.perf_counter() - t0
        row = {"step": name, "command": "organtwin " + " ".join(argv), "wall_s": wall, "rc": r.returncode}
        if r.returncode != 0:
            row["stderr"] = r.stderr[-2000:]
            print(f"   {name}: FAILED (rc {r.returncode}) after {wall:.1f} s: {r.stderr.strip()[-400:]}", flush=True)
        else:
            try:
                row["figures"] = figs(r.stdout, r.stderr) if figs else {}
            except Exception as e:
                row["figures"] = {"parse_error": repr(e)}
            row["stdout_tail"] = r.stdout[-1500:]
            print(f"   {name}: {wall:.1f} s  {json.dumps(row['figures'], default=str)[:600]}", flush=True)
        rows.append(row)
    return {
        "folder": str(work),
        "cores": len(ALL_CORES),
        "steps": rows,
        "total_wall_s": float(sum(r["wall_s"] for r in rows)),
    }


def main() -> None:
    a = ARGS
    parts = [x.strip() for x in a.parts.split(",") if x.strip()]
    results = {}
    t_all = time.perf_counter()
    if "placeholder" in parts:
        results["placeholder"] = part_placeholder(a)
    if "fim" in parts:
        results["fim"] = part_fim(a)
    if "chain" in parts:
        results["chain"] = part_chain(a)
    import fimpy  # noqa: F401

    try:
        from importlib.metadata import version

        fim_version = version("fim-python")
    except Exception:
        fim_version = None
    meta = {
        "date": TODAY,
        "machine": machine(jax=jax.__version__, fim_python=fim_version),
        "threads": a.threads,
        "repeats": a.repeats,
        "heart": str(HEART.relative_to(ROOT)),
        "apex_mm": a.apex,
        "total_wall_s": time.perf_counter() - t_all,
    }
    write_figures(a.json, {"meta": meta, **results}, default=str)


if __name__ == "__main__":
    main()
