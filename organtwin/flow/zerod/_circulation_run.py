"""One closed-loop run as ``organtwin flow circulation`` does it: the Regazzoni 2022 loop with its parameters, optionally
timed by EP activation and set to the patient's end-diastolic volumes, run to its periodic beat.

`run_circulation` is the library function behind the command (the command parses, calls it, writes the folder with
`organtwin.io.write_circulation_folder` and prints); `activation_statistics`, `cavity_surface` and `edv_targets` are its
parts. Progress lines go to ``log`` (the command prints them); nothing here reads or writes files.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from ..._errors import MeshError, MeshWarning
from ._closed_loop import Circulation, CirculationResult, regazzoni2022, regazzoni2022_for_edv, simulate_circulation
from ._regazzoni import Regazzoni2022

__all__ = ["CirculationRun", "activation_statistics", "cavity_surface", "edv_targets", "run_circulation"]

#: Chambers whose simulated EDV may miss its target by this much (%) before a warning.
EDV_TOLERANCE_PERCENT = 3.0


def activation_statistics(times_ms: ArrayLike | Sequence[float], weights: ArrayLike | Sequence[float]) -> dict:
    """Weighted statistics of activation times (ms) over the nodes with weight > 0 (weights: node volumes, mm³):
    node count, myocardial volume (mL), onset, weighted mean, latest, and the weighted standard deviation
    (dispersion), ms."""
    t, w = np.asarray(times_ms, float), np.asarray(weights, float)
    m = w > 0
    t, w = t[m], w[m]
    mean = float(np.sum(w * t) / np.sum(w))
    return {
        "nodes": int(m.sum()),
        "myocardium_mL": float(np.sum(w) / 1000.0),
        "onset_ms": float(t.min()),
        "mean_ms": mean,
        "latest_ms": float(t.max()),
        "dispersion_sd_ms": float(np.sqrt(np.sum(w * (t - mean) ** 2) / np.sum(w))),
    }


def cavity_surface(mesh, chamber: str, source: str) -> str:
    """The surface whose cavity is the chamber's EDV: ``endo_lv`` / ``endo_rv``; else the one surface named like the
    chamber's cavity or endocardium ("LV cavity", "left ventricle endocardium", ...); a closed one wins over open ones."""
    from ...mesh import cavity

    exact = f"endo_{chamber.lower()}"
    if exact in mesh.surfaces:
        return exact
    side = {"LV": r"(lv|left ventric\w*)", "RV": r"(rv|right ventric\w*)"}[chamber]
    kind = r"(endo\w*|cavity|blood ?pool)"
    pat = re.compile(rf"^({side} {kind}|{kind} {side})$")
    found = [n for n in mesh.surfaces if pat.match(" ".join(re.sub(r"[_\-]+", " ", n).lower().split()))]
    if len(found) > 1:
        closed = []
        for n in found:
            try:
                if cavity(mesh, n).closed:
                    closed.append(n)
            except MeshError:
                pass
        found = closed if len(closed) == 1 else found
    if len(found) == 1:
        return found[0]
    if found:
        raise MeshError(
            f"--edv measured: {source}: several surfaces could be the {chamber} cavity ({', '.join(found)}); "
            f"name the one to use {exact} (`organtwin mesh surfaces`), or give --edv LV=..,RV=.. (mL)"
        )
    return exact  # missing: cavity() says which surfaces there are


def edv_targets(given: dict | str, run) -> tuple[dict, dict]:
    """({chamber: mL}, {chamber: where it came from}) for the EDV rule: ``given`` volumes, or ``"measured"``: the
    cavities of the activation run's mesh (``run``: `organtwin.io.activation_from_run`'s result)."""
    if given != "measured":
        assert isinstance(given, dict)
        return dict(given), {c: "(given with --edv)" for c in given}
    from ...mesh import cavity

    targets, where = {}, {}
    for c in ("LV", "RV"):
        name = cavity_surface(run.mesh, c, run.source)
        try:
            cav = cavity(run.mesh, name)
        except MeshError as e:
            raise MeshError(
                f"--edv measured: {run.source}: {e}; or give the volumes, --edv LV=120,RV=186 (mL)"
            ) from None
        targets[c] = cav.volume_ml
        how = "a closed surface" if cav.closed else f"open, closed at {cav.rims} rim{'s' if cav.rims != 1 else ''}"
        where[c] = f"from the {name} cavity of {run.source} ({how})"
    return targets, where


@dataclass(frozen=True)
class CirculationRun:
    """What `run_circulation` did (final): the parameters run, the loop, its periodic beat, and the records of the
    activation and the EDV rule (None when not used), with the run's time (s)."""

    params: Regazzoni2022
    circulation: Circulation
    result: CirculationResult
    activation: dict | None
    edv: dict | None
    run_s: float


def _couple(circ: Circulation, run) -> Circulation:
    from ...couple import couple_circulation

    return couple_circulation(circ, run.activation_ms, run.lv_volume, run.rv_volume)


def run_circulation(
    params: Regazzoni2022,
    *,
    activation=None,
    edv: dict | str | None = None,
    tol: float = 1e-6,
    max_cycles: int = 200,
    log: Callable[[str], Any] = lambda line: None,
) -> CirculationRun:
    """The Regazzoni 2022 loop with ``params`` (float64) run to its periodic beat.

    Args:
        params: the loop's parameters (`Regazzoni2022`, e.g. with ``replace`` overrides).
        activation: an EP activation run (`organtwin.io.activation_from_run`): its LV and RV contraction timed by it
            (`organtwin.couple.couple_circulation`).
        edv: end-diastolic volume targets ``{"LV": mL, "RV": mL}``, or ``"measured"`` (the cavities of the activation
            run's mesh): a first run's EDVs set the loop by `regazzoni2022_for_edv`, then it runs again.
        tol, max_cycles: the periodic state (`simulate_circulation`).
        log: called with each progress line (the command line prints them).

    Needs JAX's 64-bit mode (the periodic-state tolerance); a solver failure is a one-line `NetworkError`.
    """
    from ...couple import ELECTROMECHANICAL_DELAY_MS

    circ = regazzoni2022(params=params, dtype=jnp.float64)
    act_doc = edv_doc = None
    if activation is not None:
        run = activation
        log(f"{run.regions_text} (of {run.source})")
        circ = _couple(circ, run)
        act_doc = {
            "source": str(_resolved(run.source)),
            "nodes": int(run.activation_ms.size),
            "electromechanical_delay_ms": ELECTROMECHANICAL_DELAY_MS,
            "total_activation_time_ms": run.total_activation_time_ms,
            "lv_regions": list(run.lv_regions),
            "rv_regions": list(run.rv_regions),
            "regions": run.regions_text,
            "LV": activation_statistics(run.activation_ms, run.lv_volume),
            "RV": activation_statistics(run.activation_ms, run.rv_volume),
        }
        lv, rv = act_doc["LV"], act_doc["RV"]
        log(
            f"activation {run.source}: LV onset {lv['onset_ms']:.1f} ms, mean {lv['mean_ms']:.1f} ms, dispersion "
            f"(SD) {lv['dispersion_sd_ms']:.1f} ms; RV onset {rv['onset_ms']:.1f} ms, mean {rv['mean_ms']:.1f} ms, "
            f"dispersion (SD) {rv['dispersion_sd_ms']:.1f} ms"
        )
    if edv is not None:
        targets, where = edv_targets(edv, activation)
        for c in ("LV", "RV"):
            if c in targets:
                log(f"{c} EDV target {targets[c]:.4g} mL {where[c]}")
        first = simulate_circulation(circ, tol=tol, max_cycles=max_cycles)
        params, how = regazzoni2022_for_edv(params, first.metrics, targets)
        circ = regazzoni2022(params=params, dtype=jnp.float64)
        if activation is not None:
            circ = _couple(circ, activation)
        edv_doc = {
            "target_mL": targets,
            "source": where,
            **how,
            "before_mL": {c: first.metrics[c]["EDV_mL"] for c in ("LV", "RV")},
        }
        log(f"chambers set for the EDV: {how['rule']}")
    t1 = time.perf_counter()
    res = simulate_circulation(circ, tol=tol, max_cycles=max_cycles)  # solver failures: one-line NetworkError
    run_s = time.perf_counter() - t1
    if edv_doc is not None:
        sim = {c: res.metrics[c]["EDV_mL"] for c in ("LV", "RV")}
        dev = {c: 100.0 * (sim[c] / t - 1.0) for c, t in edv_doc["target_mL"].items()}
        edv_doc.update(simulated_mL=sim, deviation_percent=dev)
        log(
            "simulated EDV "
            + ", ".join(
                f"{c} {sim[c]:.4g} mL"
                + (f" (target {edv_doc['target_mL'][c]:.4g} mL, {dev[c]:+.2f} %)" if c in dev else "")
                for c in ("LV", "RV")
            )
        )
        off = {c: d for c, d in dev.items() if abs(d) > EDV_TOLERANCE_PERCENT}
        if off:
            warnings.warn(
                f"--edv: the simulated EDV misses the target by more than 3 % ("
                f"{', '.join(f'{c} {d:+.1f} %' for c, d in off.items())})",
                MeshWarning,
                stacklevel=2,
            )
    return CirculationRun(params, circ, res, act_doc, edv_doc, run_s)


def _resolved(source):
    from pathlib import Path

    return Path(source).resolve()
