"""Conductivities that give target conduction velocities on a mesh of a given resolution (openCARP's ``tuneCV`` idea).

Why: the discrete monodomain conducts more slowly than the continuum as the mesh coarsens, and blocks once the element
size approaches the width of the upstroke (~0.3–0.5 mm for ten Tusscher 2006 with physiological conductivities). Patient
meshes of ~100k nodes have edges of about 1 mm. The practice of the field (Costa et al. 2013, "Automatic parameterization
strategy for cardiac electrophysiology simulations", Comput Cardiol 40:373–376, the method of openCARP's ``tuneCV``) is
to choose, for each direction, the conductivity that gives the *measured* conduction velocity of the tissue on a strand
meshed at the resolution of the real mesh, with the same ionic model, time step and diffusion scheme as the real run.

How: a strand of length ``L`` along x (a structured Kuhn-split tet slab ``L x a x a`` with node spacing a, fibres along
x, isotropic conductivity sigma) is stimulated at x = 0. Sizes are given as the **mean edge length** h of the mesh the
conductivity is for (what a mesh reports and what openCARP users quote as resolution); the strand's spacing a is chosen
so that its own mean edge length is h (a = h / 1.239: the strand's edges are axis-aligned, face and body diagonals).
The strand the CV is the least-squares slope of position against activation time over the middle
half of the strand (away from the stimulus and the far end). The conductivity is updated by a secant step on
log-log secant steps kept inside a bracket (sigma giving a CV below the target or block, and one above it), bisecting
when one end blocks, until the CV is within ``rtol`` of the target: robust where CV(sigma) is steep near block on
coarse strands. The bracket is found from ``sigma0`` by CV ~ sqrt(sigma) steps (at most x16), x4 while the strand blocks. Each strand run
reuses one compiled program (sigma is an array of the tissue pytree).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._errors import InputError
from ..ionic import AbstractIonicModel
from ..mesh import mean_edge_length, slab_mesh
from ._activation import Record
from ._monodomain import simulate_monodomain
from ._splitting import AbstractDiffusion, ThetaScheme
from ._stimulus import Box, Stimulus
from ._tissue import Conductivity, Tissue

__all__ = ["CVTuning", "strand_conduction_velocity", "tune_conductivity"]

# The Niederer 2011 longitudinal monodomain conductivity (harmonic mean of 0.17 and 0.62 S/m): the first guess.
_SIGMA0 = 0.1334


@dataclasses.dataclass(frozen=True)
class CVTuning:
    """The outcome of `tune_conductivity` for one direction (host values).

    Attributes:
        cv_target: the requested conduction velocity, m/s (= mm/ms).
        sigma: the tuned monodomain conductivity, S/m.
        cv: the conduction velocity measured with ``sigma`` on the strand, m/s.
        converged: ``|cv - cv_target| <= rtol cv_target``.
        history: ``((sigma, cv), ...)`` of every strand run, in order (cv 0 where the strand did not conduct).
        edge_length: the mean edge length the conductivity is tuned for (the strand's), mm.
    """

    cv_target: float
    sigma: float
    cv: float
    converged: bool
    history: tuple[tuple[float, float], ...]
    edge_length: float


def _strand(edge_length: float, length: float):
    """A Kuhn strand ~``length`` mm long whose mean edge length is ``edge_length`` mm."""
    n = max(int(round(length / (edge_length / 1.24))), 8)
    ratio = mean_edge_length(slab_mesh((float(n), 1.0, 1.0), 1.0))  # mean edge / spacing of this strand: 1.236 .. 1.24
    a = edge_length / ratio
    return slab_mesh((n * a, a, a), a), a


def strand_conduction_velocity(
    model: AbstractIonicModel,
    sigma: float,
    edge_length: float,
    *,
    length: float | None = None,
    chi: float = 140.0,
    Cm: float = 1.0,
    dt: float = 0.02,
    diffusion: AbstractDiffusion | None = None,
    stimulus_strength: float = 50_000.0,
    dtype=None,
) -> float:
    """Plane-wave conduction velocity (m/s) on a strand of mean edge length ``edge_length`` mm, conductivity ``sigma`` S/m.

    The strand is ``length`` mm long (default ``max(20 h, 10 mm)``); it is stimulated over its first 1.5 node spacings
    (two node layers) with ``stimulus_strength`` µA/cm³ for 2 ms. Returns 0.0 if the middle half does not activate.
    """
    length = max(20.0 * edge_length, 10.0) if length is None else float(length)
    mesh, dx = _strand(edge_length, length)
    L = float(mesh.points[:, 0].max())
    tissue = Tissue.from_mesh(mesh, Conductivity(float(sigma)), model, chi=chi, Cm=Cm, dtype=dtype)
    stim = Stimulus(Box((-1.0, -1.0, -1.0), (1.5 * dx + 1e-9, dx + 1.0, dx + 1.0)), stimulus_strength, duration=2.0)
    # Long enough for a wave at 0.05 m/s to cross the strand, plus the stimulus: slower counts as no conduction.
    t1 = 5.0 + L / 0.05
    res = simulate_monodomain(
        tissue,
        [stim],
        t1,
        dt,
        diffusion=ThetaScheme() if diffusion is None else diffusion,
        record=Record(),
        checkpoint=False,
        check_front=False,
    )
    act = np.asarray(res.activation, np.float64)
    x = np.asarray(mesh.points[:, 0])
    mid = (x >= 0.25 * L) & (x <= 0.75 * L)
    if not np.all(np.isfinite(act[mid])):
        return 0.0
    slope = np.polyfit(act[mid], x[mid], 1)[0]  # mm per ms = m/s
    return float(slope) if slope > 0 else 0.0


def tune_conductivity(
    model: AbstractIonicModel,
    cv_target: float,
    edge_length: float,
    *,
    sigma0: float = _SIGMA0,
    rtol: float = 0.01,
    max_iter: int = 12,
    **strand_options,
) -> CVTuning:
    """The monodomain conductivity (S/m) that gives conduction velocity ``cv_target`` (m/s) on a mesh of mean edge length
    ``edge_length`` (mm).

    ``strand_options`` go to `strand_conduction_velocity` (``chi``, ``Cm``, ``dt``, ``diffusion``, ``length``, ...):
    use the time step and diffusion scheme of the run the conductivity is for. For an anisotropic tissue tune each
    direction on its own (a plane wave along one principal direction feels only that conductivity)::

        sl = tune_conductivity(model, 0.6, 1.0).sigma    # along the fibre
        st = tune_conductivity(model, 0.3, 1.0).sigma    # across
        tissue = Tissue.from_mesh(mesh, Conductivity(sl, st), model)

    Raises:
        ValueError: a non-positive target or edge length; no conduction even at 1e4 x ``sigma0``.
    """
    cv_target, dx = float(cv_target), float(edge_length)
    if not (math.isfinite(cv_target) and cv_target > 0):
        raise InputError(f"tune_conductivity: the target conduction velocity must be positive (m/s), got {cv_target}")
    if not (math.isfinite(dx) and dx > 0):
        raise InputError(f"tune_conductivity: the edge length must be positive (mm), got {dx}")
    for key in ("dt", "chi", "Cm"):  # NaN/inf/<= 0 would run and report a "divergence" instead of the mistake
        if key in strand_options and strand_options[key] is not None:
            v = float(strand_options[key])
            if not (math.isfinite(v) and v > 0):
                unit = {"dt": "ms", "chi": "1/mm", "Cm": "uF/cm^2"}[key]
                raise InputError(f"tune_conductivity: {key} must be a positive, finite value in {unit}, got {v:g}")
    history: list[tuple[float, float]] = []

    def measure(sigma: float) -> float:
        cv = strand_conduction_velocity(model, sigma, dx, **strand_options)
        history.append((sigma, cv))
        return cv

    def done() -> bool:
        return abs(history[-1][1] - cv_target) <= rtol * cv_target

    # 1. bracket the target: lo conducts slower than the target (or blocks), hi faster
    sigma = float(sigma0)
    cv = measure(sigma)
    lo = hi = None
    while not done() and len(history) < max_iter:
        if cv < cv_target:
            lo = (sigma, cv)
            if hi is not None:
                break
            if sigma > 1e4 * sigma0:
                break
            # a first secant guess from a conducting strand (CV ~ sigma^1/2), else x4
            sigma = sigma * min(max((cv_target / cv) ** 2, 1.5), 16.0) if cv > 0 else sigma * 4.0
        else:
            hi = (sigma, cv)
            if lo is not None:
                break
            sigma = sigma * max(min((cv_target / cv) ** 2, 1 / 1.5), 1 / 16.0)
        cv = measure(sigma)
    # 2. shrink the bracket: secant in log-log between the ends when both conduct, else geometric bisection; the step is
    #    kept inside the middle 80% of the bracket (in log sigma), so it always shrinks
    while lo is not None and hi is not None and not done() and len(history) < max_iter:
        (sl, cl), (sh, ch) = lo, hi
        a, b = math.log(sl), math.log(sh)
        if cl > 0 and ch > cl:
            x = a + (math.log(cv_target) - math.log(cl)) * (b - a) / (math.log(ch) - math.log(cl))
        else:
            x = 0.5 * (a + b)
        x = min(max(x, a + 0.1 * (b - a)), b - 0.1 * (b - a))
        sigma = math.exp(x)
        cv = measure(sigma)
        if cv < cv_target:
            lo = (sigma, cv)
        else:
            hi = (sigma, cv)
    if done():
        s, c = history[-1]
        return CVTuning(cv_target, s, c, True, tuple(history), dx)
    good = [(s, c) for s, c in history if c > 0]
    if not good:
        raise InputError(
            f"tune_conductivity: no conduction on a strand of mean edge {dx:.3g} mm even at sigma {history[-1][0]:.3g} S/m; "
            f"check the model, stimulus and dt"
        )
    s, c = min(good, key=lambda sc: abs(sc[1] - cv_target))
    return CVTuning(cv_target, s, c, abs(c - cv_target) <= rtol * cv_target, tuple(history), dx)
