"""The Niederer et al. 2011 N-version benchmark: its specification and a runner.

Niederer SA, Kerfoot E, Benson AP, et al. (2011) "Verification of cardiac tissue electrophysiology simulators using an
N-version benchmark", Phil. Trans. R. Soc. A 369:4331–4351, doi:10.1098/rsta.2011.0139.

The specification (`NIEDERER_SPEC` holds the figures):

* a 20 × 7 × 3 mm slab, fibres along x, no-flux boundaries (here: the structured Kuhn-split slab of
  `organtwin.mesh.slab_mesh`, which the spacing ``dx`` must divide in every direction);
* monodomain conductivities from the bidomain ones by the harmonic mean per direction, ``σ = σ_i σ_e / (σ_i + σ_e)``:
  σ_il 0.17, σ_el 0.62 → 0.1334 S/m along the fibre; σ_it 0.019, σ_et 0.24 → 0.0176 S/m across;
* χ = 1400 /cm = 140 /mm, Cm = 1 µF/cm²;
* ten Tusscher–Panfilov 2006 epicardial cells with the paper's initial state (`TenTusscher2006.epicardial()`);
* a 50,000 µA/cm³ stimulus for 2 ms on the nodes of the 1.5 mm cube at the origin corner;
* activation time = first upward crossing of 0 mV, at the eight corners P1..P8 and the centre P9, and along the P1–P8
  diagonal.

How the runner measures activation: every node records the first time its Vm crosses 0 mV upwards, interpolated linearly
between the two time steps that bracket the crossing (`Record`). The times at P1..P9 and along the P1–P8 diagonal are the
P1 interpolant of that nodal field: exact nodal values at the corners (always mesh nodes) and at P9 when 3.5 / dx and
1.5 / dx are integers (dx 0.5, 0.1); at dx 0.2 P9 is the centre of a grid cube and gets the mean of the two ends of the
cube's main diagonal (its Kuhn-split interpolant).

The run stops as soon as every node has activated (checked between segments of ``segment_ms``), or at ``t_max``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from .._solution import RESULTS, result_name
from ..ionic import TenTusscher2006, VoltageLookup
from ..mesh import slab_mesh
from ._activation import Record
from ._splitting import AbstractDiffusion, ExplicitLumped, Mass, Splitting, ThetaScheme, host_stability_limit
from ._stimulus import Box, Stimulus
from ._tissue import Conductivity, Tissue

__all__ = [
    "NIEDERER_POINTS",
    "NIEDERER_SPEC",
    "NIEDERER_REFERENCE_FENICSX_BEAT",
    "NiedererResult",
    "niederer_benchmark",
    "niederer_stimulus",
    "niederer_tissue",
]


@dataclasses.dataclass(frozen=True)
class _Spec:
    size: tuple[float, float, float] = (20.0, 7.0, 3.0)  # mm
    fibre: tuple[float, float, float] = (1.0, 0.0, 0.0)
    sigma_il: float = 0.17  # S/m
    sigma_it: float = 0.019
    sigma_el: float = 0.62
    sigma_et: float = 0.24
    chi: float = 140.0  # 1/mm
    Cm: float = 1.0  # µF/cm²
    stimulus_strength: float = 50_000.0  # µA/cm³
    stimulus_duration: float = 2.0  # ms
    stimulus_cube: float = 1.5  # mm, at the origin corner
    threshold: float = 0.0  # mV


NIEDERER_SPEC = _Spec()
"""The published figures of the benchmark (mm, ms, S/m, 1/mm, µF/cm², µA/cm³, mV)."""

NIEDERER_POINTS: dict[str, tuple[float, float, float]] = {
    "P1": (0.0, 0.0, 0.0),
    "P2": (0.0, 7.0, 0.0),
    "P3": (20.0, 0.0, 0.0),
    "P4": (20.0, 7.0, 0.0),
    "P5": (0.0, 0.0, 3.0),
    "P6": (0.0, 7.0, 3.0),
    "P7": (20.0, 0.0, 3.0),
    "P8": (20.0, 7.0, 3.0),
    "P9": (10.0, 3.5, 1.5),
}
"""The recording points in the paper's order (mm): the eight corners and the centre (as also used by fenicsx-beat)."""

NIEDERER_REFERENCE_FENICSX_BEAT: dict[tuple[float, float], dict[str, float]] = {
    # fenicsx-beat, demos/niederer_benchmark.py (P1 FEM, consistent mass, CG + AMG, generalised Rush–Larsen); activation
    # recorded as the start of the first step after which V > 0 at the point (no interpolation: early by up to dt).
    (0.5, 0.05): dict(P1=1.25, P2=51.1, P3=34.9, P4=58.9, P5=14.1, P6=49.5, P7=34.0, P8=56.65, P9=26.05),
    (0.5, 0.01): dict(P1=1.22, P2=50.85, P3=33.96, P4=58.05, P5=13.98, P6=49.36, P7=33.07, P8=55.91, P9=25.64),
    (0.5, 0.005): dict(P1=1.215, P2=50.775, P3=33.825, P4=57.96, P5=13.97, P6=49.345, P7=32.945, P8=55.825, P9=25.595),
    (0.2, 0.05): dict(P1=1.25, P2=29.7, P3=32.9, P4=40.2, P5=9.55, P6=30.0, P7=32.95, P8=39.9, P9=18.9),
    (0.2, 0.01): dict(P1=1.24, P2=29.09, P3=31.25, P4=38.66, P5=9.34, P6=29.4, P7=31.29, P8=38.42, P9=18.14),
    (0.2, 0.005): dict(P1=1.235, P2=29.015, P3=31.05, P4=38.475, P5=9.315, P6=29.32, P7=31.08, P8=38.235, P9=18.045),
    (0.1, 0.05): dict(P1=1.25, P2=26.85, P3=33.3, P4=40.35, P5=8.4, P6=27.5, P7=33.85, P8=40.55, P9=18.95),
    (0.1, 0.01): dict(P1=1.23, P2=25.64, P3=31.46, P4=38.08, P5=8.03, P6=26.24, P7=31.94, P8=38.21, P9=17.95),
    (0.1, 0.005): dict(P1=1.225, P2=25.5, P3=31.26, P4=37.81, P5=7.99, P6=26.09, P7=31.72, P8=37.93, P9=17.835),
}
"""Published activation times (ms) of fenicsx-beat's Niederer demo, keyed by (dx mm, dt ms): a peer to compare with."""

_MAX_NODES = 20_000_000


# ================================================================================================== specification
def _check_dx(dx) -> float:
    try:
        dx = float(dx)
    except (TypeError, ValueError):
        raise InputError(f"dx must be a length in mm, got {dx!r}") from None
    if not (math.isfinite(dx) and dx > 0):
        raise InputError(f"dx must be a positive length in mm, got {dx}")
    for L, axis in zip(NIEDERER_SPEC.size, "xyz"):
        n = round(L / dx)
        if n < 1 or abs(n * dx - L) > 1e-6 * L:
            raise InputError(
                f"dx {dx:g} mm does not divide the {L:g} mm side of the slab ({axis}); the benchmark uses dx 0.5, 0.2 "
                "or 0.1 (any dx dividing 20, 7 and 3 mm works, e.g. 0.25 or 0.05)"
            )
    nodes = math.prod(round(L / dx) + 1 for L in NIEDERER_SPEC.size)
    if nodes > _MAX_NODES:
        raise InputError(
            f"dx {dx:g} mm gives {nodes:,} nodes, more than this runner allows ({_MAX_NODES:,}); use dx >= 0.05"
        )
    return dx


def niederer_tissue(dx: float, *, dtype=None) -> Tissue:
    """The benchmark's tissue at spacing ``dx`` mm: the 20 × 7 × 3 mm slab (fibres along x), harmonic-mean
    conductivities, χ 140 /mm, Cm 1 µF/cm², ten Tusscher 2006 epicardial cells. ``dx`` must divide 20, 7 and 3 mm."""
    dx = _check_dx(dx)
    s = NIEDERER_SPEC
    mesh = slab_mesh(s.size, dx, fibre=s.fibre)
    sigma = Conductivity.harmonic_mean(Conductivity(s.sigma_il, s.sigma_it), Conductivity(s.sigma_el, s.sigma_et))
    return Tissue.from_mesh(mesh, sigma, TenTusscher2006.epicardial(), chi=s.chi, Cm=s.Cm, dtype=dtype)


def niederer_stimulus() -> Stimulus:
    """50,000 µA/cm³ for 2 ms from t = 0 on the nodes of the closed cube [0, 1.5]³ mm."""
    s = NIEDERER_SPEC
    return Stimulus(
        Box((0.0, 0.0, 0.0), (s.stimulus_cube,) * 3), s.stimulus_strength, start=0.0, duration=s.stimulus_duration
    )


# ================================================================================================== result
@dataclasses.dataclass(frozen=True)
class NiedererResult:
    """The outcome of one benchmark run (host values; times in ms, lengths in mm).

    Attributes:
        activation: ``{"P1": t, ..., "P9": t}`` (``inf`` where the point never activated before ``t_end``).
        diagonal_distance: (k,) distance from P1 along the P1–P8 diagonal.
        diagonal_activation: (k,) activation time there (P1 interpolant of the nodal activation times).
        node_activation: (nodes,) activation time of every mesh node (``inf`` where none), in the node order of
            ``niederer_tissue(dx)`` / ``slab_mesh``.
        last_activation: latest nodal activation time (``inf`` if some node never activated).
        all_activated: whether every node activated before the run ended.
        dx, dt: the resolution.
        nodes, cells: mesh size.
        steps: time steps taken; t_end: simulated time reached.
        diffusion: e.g. ``"theta 0.5 (Crank-Nicolson), consistent mass"`` or ``"explicit, lumped mass"``.
        mass: ``"consistent"`` or ``"lumped"``; scheme: ``"theta"`` or ``"explicit"``; splitting: ``"godunov"``/``"strang"``.
        stability_limit: the explicit (lumped-mass, forward Euler) stability limit of this mesh, ms.
        cg_iterations: total CG iterations (theta scheme).
        dtype: ``"float32"`` or ``"float64"``.
        setup_s: mesh + tissue + stability limit; solve_s: the time loop; first_segment_s: its first segment (includes
            compilation); wall_s: setup + solve.
        result: the outcome of the monodomain run (an `organtwin.RESULTS`; with ``throw=False`` a failed segment
            ends the run: ``diverged`` or ``cg_not_converged``).
    """

    activation: dict
    diagonal_distance: np.ndarray
    diagonal_activation: np.ndarray
    node_activation: np.ndarray
    last_activation: float
    all_activated: bool
    dx: float
    dt: float
    nodes: int
    cells: int
    steps: int
    t_end: float
    scheme: str
    mass: str
    splitting: str
    diffusion: str
    stability_limit: float
    cg_iterations: int
    dtype: str
    setup_s: float
    solve_s: float
    first_segment_s: float
    wall_s: float
    result: RESULTS

    def to_json(self) -> dict:
        """A JSON-ready dict: keys ``"P1"``..``"P9"`` (ms, ``null`` if not activated), the outcome ``"result"`` (its
        `organtwin.RESULTS` name, ``"successful"`` or why the run ended early) and the metadata."""
        from .. import __version__

        def num(x):
            x = float(x)
            return round(x, 6) if math.isfinite(x) else None

        out: dict[str, Any] = {k: num(v) for k, v in self.activation.items()}
        out.update(
            dx=self.dx,
            dt=self.dt,
            nodes=self.nodes,
            cells=self.cells,
            steps=self.steps,
            t_end=num(self.t_end),
            result=result_name(self.result),
            all_activated=self.all_activated,
            last_activation=num(self.last_activation),
            diffusion=self.scheme,
            mass=self.mass,
            diffusion_detail=self.diffusion,
            splitting=self.splitting,
            stability_limit=num(self.stability_limit),
            cg_iterations=self.cg_iterations,
            dtype=self.dtype,
            setup_s=round(self.setup_s, 3),
            solve_s=round(self.solve_s, 3),
            first_segment_s=round(self.first_segment_s, 3),
            wall_s=round(self.wall_s, 3),
            organtwin_version=__version__,
            diagonal={
                "distance_mm": [round(float(d), 6) for d in self.diagonal_distance],
                "activation_ms": [num(t) for t in self.diagonal_activation],
            },
        )
        ref = NIEDERER_REFERENCE_FENICSX_BEAT.get((self.dx, self.dt))
        if ref is not None:
            out["reference_fenicsx_beat"] = ref
        return out


# ================================================================================================== runner
def _choose_diffusion(diffusion, mass, dt: float, limit: float, theta: float) -> ExplicitLumped | ThetaScheme:
    if mass is not None and not isinstance(mass, Mass):
        raise TypeError(f"mass must be Mass.CONSISTENT, Mass.LUMPED or None, got {mass!r}")
    if diffusion is None:
        mass = Mass.CONSISTENT if mass is None else mass
        if mass is Mass.LUMPED and dt <= limit:
            return ExplicitLumped(check_stability=False)
        return ThetaScheme(theta=theta, mass=mass)
    if isinstance(diffusion, ExplicitLumped):
        if mass is Mass.CONSISTENT:
            raise InputError("explicit diffusion uses the lumped mass; use the theta scheme for the consistent mass")
        if dt > limit:
            raise InputError(
                f"dt {dt:g} ms exceeds the explicit stability limit {limit:.3g} ms at this dx; "
                f"use dt <= {limit:.3g} or the theta scheme"
            )
        return ExplicitLumped(check_stability=False)
    if isinstance(diffusion, ThetaScheme):
        if mass is not None and mass is not diffusion.mass:
            raise InputError(f"mass {mass.value} contradicts the given ThetaScheme(mass={diffusion.mass.value})")
        return diffusion
    raise TypeError(f"diffusion must be ExplicitLumped(), ThetaScheme(...) or None (automatic), got {diffusion!r}")


def _describe(diffusion: ExplicitLumped | ThetaScheme) -> tuple[str, str, str]:
    if isinstance(diffusion, ExplicitLumped):
        return "explicit", "lumped", "explicit (forward Euler), lumped mass"
    th = float(diffusion.theta)
    name = {0.5: " (Crank-Nicolson)", 1.0: " (backward Euler)"}.get(th, "")
    return "theta", diffusion.mass.value, f"theta {th:g}{name}, {diffusion.mass.value} mass, Jacobi-CG"


def _slab_interpolation(dx: float, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node indices and weights (k, 4) of the P1 interpolant at ``query`` points of the benchmark slab.

    `slab_mesh` numbers node (i, j, l) as ``i + nx (j + ny l)`` and splits every grid cube along its main diagonal into
    the six Kuhn tets; in a cube with local coordinates ``u`` in [0, 1]³ sorted as ``u_a >= u_b >= u_c``, the point lies
    in the tet 0 → e_a → e_a + e_b → (1, 1, 1), with barycentric weights ``(1 - u_a, u_a - u_b, u_b - u_c, u_c)``
    (Freudenthal interpolation). Exact and O(1) per point (no search over the tets).
    """
    size = np.asarray(NIEDERER_SPEC.size)
    cells = np.round(size / dx).astype(np.int64)
    h = size / cells
    q = np.asarray(query, np.float64).reshape(-1, 3)
    x = np.clip(q / h, 0.0, cells)
    base = np.minimum(np.floor(x).astype(np.int64), cells - 1)
    u = x - base
    order = np.argsort(-u, axis=1, kind="stable")
    us = np.take_along_axis(u, order, axis=1)
    weights = np.column_stack([1.0 - us[:, 0], us[:, 0] - us[:, 1], us[:, 1] - us[:, 2], us[:, 2]])
    strides = np.array([1, cells[0] + 1, (cells[0] + 1) * (cells[1] + 1)], dtype=np.int64)
    corner = base.copy()
    nodes = [corner @ strides]
    for m in range(3):
        corner = corner.copy()
        corner[np.arange(len(q)), order[:, m]] += 1
        nodes.append(corner @ strides)
    return np.column_stack(nodes), weights


def _interpolate(values: np.ndarray, nodes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The P1 interpolant of nodal ``values`` (``inf`` where a node with a non-zero weight is ``inf``)."""
    v = values[nodes]
    used = weights > 1e-12
    out = np.sum(np.where(used, v, 0.0) * weights, axis=1)
    return np.where(np.all(np.isfinite(v) | ~used, axis=1), out, np.inf)


def niederer_benchmark(
    dx: float,
    dt: float,
    *,
    diffusion: AbstractDiffusion | None = None,
    mass: Mass | None = None,
    splitting: Splitting = Splitting.GODUNOV,
    dtype=None,
    t_max: float = 100.0,
    segment_ms: float = 2.0,
    theta: float = 0.5,
    diagonal_points: int = 101,
    progress: Callable[[float, float, float], None] | None = None,
    lookup: VoltageLookup | None = VoltageLookup(),
    throw: bool = True,
) -> NiedererResult:
    """Run the Niederer et al. 2011 benchmark at spacing ``dx`` mm and time step ``dt`` ms.

    Args:
        dx: mesh spacing, mm; must divide 20, 7 and 3 mm (the published resolutions are 0.5, 0.2 and 0.1).
        dt: time step, ms (published: 0.05, 0.01, 0.005).
        diffusion: None (default: automatic, see below), ``ExplicitLumped()`` or ``ThetaScheme(...)``.
        mass: `Mass.CONSISTENT` or `Mass.LUMPED` for the automatic choice (default None = consistent, which is what the
            published finite-element codes use). Automatic: the consistent mass runs the Crank–Nicolson theta scheme;
            the lumped mass runs explicit diffusion when ``dt`` is below the mesh's stability limit, else Crank–Nicolson
            with the lumped mass.
        splitting: `Splitting.GODUNOV` (default) or `Splitting.STRANG`.
        dtype: float32 or float64 (default: JAX's default float; float64 needs ``jax_enable_x64``).
        t_max: simulation cap, ms (the run normally stops once every node has activated, around 40–60 ms).
        segment_ms: how often (simulated ms) the run checks whether every node has activated and reports progress.
        theta: theta of the automatic theta scheme (0.5 Crank–Nicolson).
        diagonal_points: samples of the P1–P8 diagonal profile.
        progress: ``progress(t, t_max, activated_fraction)`` called after every segment.
        throw: raise when a segment of the run fails (`simulate_monodomain`'s check: Vm non-finite, the CG); with
            False, inspect ``result.result`` yourself (a failed segment ends the run).

    Returns:
        A `NiedererResult`.

    Raises:
        ValueError: dx not dividing the slab, dt not positive or not below ``segment_ms``, an explicit dt above the
            stability limit, contradictory ``diffusion`` / ``mass``; TypeError for options of the wrong type.
        EquinoxTracetimeError (a RuntimeError; ``throw``): the run failed, as `simulate_monodomain` says it.
    """
    from ._monodomain import simulate_monodomain

    wall0 = time.perf_counter()
    dx = _check_dx(dx)
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise InputError(f"dt must be a time step in ms, got {dt!r}") from None
    if not (math.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive time step in ms, got {dt}")
    if not (math.isfinite(float(t_max)) and t_max > 0):
        raise InputError(f"t_max must be a positive time in ms, got {t_max}")
    if not (math.isfinite(float(segment_ms)) and segment_ms > 0):
        raise InputError(f"segment_ms must be a positive time in ms, got {segment_ms}")
    if dt > NIEDERER_SPEC.stimulus_duration:
        raise InputError(f"dt {dt:g} ms is longer than the 2 ms stimulus; use dt <= 2 (the benchmark uses 0.005-0.05)")
    if dt > min(float(segment_ms), float(t_max)):
        raise InputError(f"dt {dt:g} ms is longer than a segment ({min(segment_ms, t_max):g} ms); use a smaller dt")
    if not isinstance(splitting, Splitting):
        raise TypeError(f"splitting must be Splitting.GODUNOV or Splitting.STRANG, got {splitting!r}")
    if int(diagonal_points) < 2:
        raise InputError(f"diagonal_points must be at least 2, got {diagonal_points}")
    if dtype is not None:
        dtype = jnp.dtype(dtype)
        if dtype == jnp.float64 and not jax.config.read("jax_enable_x64"):
            raise InputError(
                "float64 needs JAX's 64-bit mode: jax.config.update('jax_enable_x64', True) before running"
            )
        if dtype not in (jnp.float32, jnp.float64):
            raise InputError(f"dtype must be float32 or float64, got {dtype}")

    # ---- set-up: tissue, stability limit, diffusion scheme, interpolation at the points and on the diagonal
    tissue = niederer_tissue(dx, dtype=dtype)
    limit = _stability_limit(tissue, dt)
    diffusion = _choose_diffusion(diffusion, mass, dt, limit, theta)
    scheme, mass_name, detail = _describe(diffusion)
    names = list(NIEDERER_POINTS)
    pnodes, pweights = _slab_interpolation(dx, np.array([NIEDERER_POINTS[k] for k in names]))
    p1, p8 = np.asarray(NIEDERER_POINTS["P1"]), np.asarray(NIEDERER_POINTS["P8"])
    frac = np.linspace(0.0, 1.0, int(diagonal_points))
    dnodes, dweights = _slab_interpolation(dx, p1[None] + frac[:, None] * (p8 - p1)[None])
    distance = frac * float(np.linalg.norm(p8 - p1))
    stimuli = (niederer_stimulus(),)
    record = Record(activation=True)
    setup_s = time.perf_counter() - wall0

    # ---- the time loop, in segments (early stop once every node has activated)
    seg_steps = max(1, round(float(segment_ms) / dt))
    n_segments = math.ceil(float(t_max) / (seg_steps * dt) - 1e-9)
    state = None
    act = np.full(tissue.n_nodes, np.inf)  # no node activated yet
    cg = 0
    steps = 0
    first_segment_s = 0.0
    t_now = 0.0
    result = RESULTS.successful
    solve0 = time.perf_counter()
    for k in range(n_segments):
        seg0 = time.perf_counter()
        t1 = (k + 1) * seg_steps * dt
        res = simulate_monodomain(
            tissue,
            stimuli,
            t1,
            dt,
            splitting=splitting,
            diffusion=diffusion,
            record=record,
            initial=state,
            chunk_steps=seg_steps,
            checkpoint=False,
            lookup=lookup,
            throw=throw,
        )
        # A node crossing 0 mV between two segments is caught by the next one (its first step starts from the state
        # the previous one ended with); a node keeps the first crossing it had.
        a = np.asarray(res.activation, np.float64)
        act = np.where(np.isfinite(act), act, a)
        cg += int(res.cg_iterations)
        steps += res.n_steps
        state = res.final
        t_now = float(state.t)
        if k == 0:
            first_segment_s = time.perf_counter() - seg0
        done = float(np.mean(np.isfinite(act)))
        if progress is not None:
            progress(t_now, float(t_max), done)
        result = res.result
        if done == 1.0 or result != RESULTS.successful:
            break
    solve_s = time.perf_counter() - solve0

    # ---- activation at the points and along the diagonal: the P1 interpolant of the nodal activation times
    tp = _interpolate(act, pnodes, pweights)
    activation = {n: float(tp[i]) for i, n in enumerate(names)}
    diag = _interpolate(act, dnodes, dweights)
    finite = np.isfinite(act)
    return NiedererResult(
        activation=activation,
        diagonal_distance=distance,
        diagonal_activation=diag,
        node_activation=act,
        last_activation=float(act.max()) if finite.all() else math.inf,
        all_activated=bool(finite.all()),
        dx=dx,
        dt=dt,
        nodes=tissue.n_nodes,
        cells=tissue.n_cells,
        steps=steps,
        t_end=t_now,
        scheme=scheme,
        mass=mass_name,
        splitting=splitting.value,
        diffusion=detail,
        stability_limit=limit,
        cg_iterations=cg,
        dtype=str(jnp.dtype(tissue.dtype)),
        setup_s=setup_s,
        solve_s=solve_s,
        first_segment_s=first_segment_s,
        wall_s=time.perf_counter() - wall0,
        result=result,
    )


@eqx.filter_jit
def _explicit_operators(tissue: Tissue, dt: float):
    return ExplicitLumped(check_stability=False).operators(tissue, dt)


def _stability_limit(tissue: Tissue, dt: float) -> float:
    """The explicit (lumped mass, forward Euler) stability limit of the benchmark mesh, ms (host Lanczos)."""
    return float(host_stability_limit(tissue, _explicit_operators(tissue, dt), dt))
