"""Stimuli: where (a box, a sphere, a node set or a named surface), when (start, duration, period, count) and how strong.

A `Stimulus` is a small eqx.Module; its region is resolved into a node mask once per simulation (`stimulus_masks`), and
every time step asks `stimulus_current` for the current of each node, averaged over the step's interval: the overlap of
``[t_a, t_b]`` with the stimulus windows, divided by the step length. The injected charge is then exact for any dt and
any start time (a 2 ms pulse gives 2 ms worth of charge whether dt divides 2 ms or not), and the current is a piecewise
linear, almost-everywhere differentiable function of ``start``, ``duration`` and ``strength``.

Units: ``strength`` is a current density per tissue volume in µA/cm³ at the user edge (the Niederer benchmark gives
50,000 µA/cm³) and is divided by ``chi * Cm`` to become µA/µF (= mV/ms for the ``dV/dt = -Iion + Istim`` convention of
`organtwin.ionic`): with chi = 140 /mm = 1400 /cm and Cm = 1 µF/cm², 50,000 µA/cm³ is 35.7 µA/µF. Pass
``units=StimulusUnits.PER_CAPACITANCE`` to give µA/µF directly (the single-cell convention).
"""

from __future__ import annotations

import abc
import enum

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._errors import InputError

__all__ = [
    "AbstractStimulusRegion",
    "Box",
    "Sphere",
    "NodeSet",
    "NamedSurface",
    "Stimulus",
    "StimulusUnits",
    "stimulus_masks",
    "stimulus_current",
]

# Nodes on the boundary of a box or sphere count as inside: coordinates are compared with this tolerance (mm), so a node
# at x = 1.5 mm is inside the Niederer cube [0, 1.5]³ even after rounding of the mesh coordinates.
_GEOMETRIC_TOL = 1e-6


class StimulusUnits(enum.Enum):
    """Units of `Stimulus.strength`."""

    PER_VOLUME = "uA/cm^3"  # current per tissue volume (divided by chi * Cm)
    PER_CAPACITANCE = "uA/uF"  # current per membrane capacitance (used as is)


def _vec3(x, what: str) -> tuple[float, float, float]:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise InputError(f"{what} must be three finite coordinates in mm, got {np.asarray(x).tolist()}")
    return float(a[0]), float(a[1]), float(a[2])


class AbstractStimulusRegion(eqx.Module):
    """Where a stimulus acts: turns node coordinates / named sets of a `Tissue` into a boolean node mask."""

    @abc.abstractmethod
    def node_mask(self, points: Float[Array, "nodes 3"], surfaces: dict, node_sets: dict) -> Bool[Array, " nodes"]:
        """The (nodes,) boolean mask of the selected nodes (jit-able: points may be traced)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description (for error messages)."""


class Box(AbstractStimulusRegion):
    """The nodes inside the closed axis-aligned box ``lower <= x <= upper`` (mm; boundary nodes included)."""

    lower: tuple[float, float, float] = eqx.field(static=True)
    upper: tuple[float, float, float] = eqx.field(static=True)

    def __init__(self, lower, upper):
        self.lower = _vec3(lower, "Box lower corner")
        self.upper = _vec3(upper, "Box upper corner")

    def __check_init__(self):
        if any(lo > hi for lo, hi in zip(self.lower, self.upper)):
            raise InputError(f"Box: lower corner {self.lower} must not exceed the upper corner {self.upper}")

    def node_mask(self, points, surfaces, node_sets):
        lo = jnp.asarray(self.lower, points.dtype) - _GEOMETRIC_TOL
        hi = jnp.asarray(self.upper, points.dtype) + _GEOMETRIC_TOL
        return jnp.all((points >= lo[None, :]) & (points <= hi[None, :]), axis=1)

    def describe(self) -> str:
        return f"box {self.lower}..{self.upper} mm"


class Sphere(AbstractStimulusRegion):
    """The nodes within ``radius`` mm of ``centre`` (boundary included)."""

    centre: tuple[float, float, float] = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, centre, radius: float):
        self.centre = _vec3(centre, "Sphere centre")
        self.radius = float(radius)

    def __check_init__(self):
        if not np.isfinite(self.radius) or self.radius <= 0:
            raise InputError(f"Sphere: radius must be a positive length in mm, got {self.radius}")

    def node_mask(self, points, surfaces, node_sets):
        d2 = jnp.sum(jnp.square(points - jnp.asarray(self.centre, points.dtype)[None, :]), axis=1)
        return d2 <= (self.radius + _GEOMETRIC_TOL) ** 2

    def describe(self) -> str:
        return f"sphere of radius {self.radius} mm at {self.centre}"


class NodeSet(AbstractStimulusRegion):
    """Explicit node indices, or the name of a node set of the mesh (``mesh.node_sets``, e.g. read from a .vtx file)."""

    indices: Array | None
    name: str | None = eqx.field(static=True)

    def __init__(self, indices_or_name):
        if isinstance(indices_or_name, str):
            self.indices, self.name = None, indices_or_name
        else:
            idx = np.asarray(indices_or_name).reshape(-1)
            if idx.dtype.kind not in "iu":
                raise InputError(f"NodeSet: node indices must be integers, got {idx.dtype}")
            if idx.size == 0:
                raise InputError("NodeSet: no node indices given")
            self.indices, self.name = jnp.asarray(idx, dtype=jnp.int32), None

    def node_mask(self, points, surfaces, node_sets):
        n = points.shape[0]
        if self.name is not None:
            if self.name not in node_sets:
                have = ", ".join(sorted(node_sets)) or "none"
                raise InputError(f"stimulus: the mesh has no node set named {self.name!r} (node sets: {have})")
            idx = node_sets[self.name]
        else:
            idx = self.indices
            if not isinstance(idx, jax.core.Tracer):
                a = np.asarray(idx)
                if a.min() < 0 or a.max() >= n:
                    raise InputError(f"stimulus: node indices outside 0..{n - 1}")
        return jnp.zeros(n, bool).at[idx].set(True)

    def describe(self) -> str:
        return f"node set {self.name!r}" if self.indices is None else f"{int(self.indices.size)} given nodes"


class NamedSurface(AbstractStimulusRegion):
    """The nodes of a named boundary surface of the mesh (``mesh.surfaces``, e.g. ``"endo_lv"`` or ``"x0"``)."""

    name: str = eqx.field(static=True)

    def node_mask(self, points, surfaces, node_sets):
        if self.name not in surfaces:
            have = ", ".join(sorted(surfaces)) or "none"
            raise InputError(f"stimulus: the mesh has no surface named {self.name!r} (surfaces: {have})")
        return jnp.zeros(points.shape[0], bool).at[surfaces[self.name]].set(True)

    def describe(self) -> str:
        return f"surface {self.name!r}"


def _scalar(x):
    return jnp.asarray(float(x)) if isinstance(x, (int, float)) else jnp.asarray(x)


class Stimulus(eqx.Module):
    """A (possibly periodic) square current pulse on a region (final).

    Attributes:
        region: `Box`, `Sphere`, `NodeSet` or `NamedSurface`.
        strength: amplitude, µA/cm³ (``units=PER_VOLUME``, default) or µA/µF (``PER_CAPACITANCE``); positive depolarises.
        start: onset of the first pulse, ms.
        duration: pulse length, ms.
        period: time between pulse onsets, ms (needed when ``count > 1``; must exceed ``duration``).
        count: number of pulses (static int; ``None`` for pulses forever).
        units: `StimulusUnits` of ``strength``.

    ``strength``, ``start``, ``duration`` and ``period`` are array fields (pytree leaves): a loss can be differentiated
    with respect to them (the step-averaged current is piecewise linear in the timing).
    """

    region: AbstractStimulusRegion
    strength: Array
    start: Array
    duration: Array
    period: Array
    count: int | None = eqx.field(static=True)
    units: StimulusUnits = eqx.field(static=True)

    def __init__(
        self,
        region: AbstractStimulusRegion,
        strength,
        *,
        start=0.0,
        duration=2.0,
        period=None,
        count: int | None = 1,
        units: StimulusUnits = StimulusUnits.PER_VOLUME,
    ):
        if not isinstance(region, AbstractStimulusRegion):
            raise TypeError(
                f"Stimulus region must be a Box, Sphere, NodeSet or NamedSurface, got {type(region).__name__}"
            )
        if not isinstance(units, StimulusUnits):
            raise TypeError(f"Stimulus units must be a StimulusUnits member, got {units!r}")
        self.region = region
        self.strength = _scalar(strength)
        self.start = _scalar(start)
        self.duration = _scalar(duration)
        if count is not None:
            count = int(count)
        if period is None:
            if count is None or count > 1:
                raise InputError("Stimulus: a period (ms) is needed for more than one pulse")
            period = jnp.inf
        self.period = _scalar(period)
        self.count = count
        self.units = units

    def __check_init__(self):
        if self.count is not None and self.count < 1:
            raise InputError(f"Stimulus: count must be at least 1 (or None for pulses forever), got {self.count}")
        concrete = [not isinstance(x, jax.core.Tracer) for x in (self.duration, self.period, self.start)]
        if all(concrete):
            d, p = float(np.asarray(self.duration)), float(np.asarray(self.period))
            if not d > 0:
                raise InputError(f"Stimulus: duration must be positive (ms), got {d}")
            if not p > d:
                raise InputError(f"Stimulus: the period ({p} ms) must be longer than the pulse ({d} ms)")
            if not np.isfinite(float(np.asarray(self.start))):
                raise InputError("Stimulus: start must be a finite time in ms")

    def amplitude(self, chi, Cm):
        """The amplitude in µA/µF (dV/dt units): ``strength / (chi * Cm)`` for PER_VOLUME with chi in 1/mm, Cm in µF/cm².

        µA/cm³ / (1/cm · µF/cm²) = µA/µF and chi[1/cm] = 10 chi[1/mm].
        """
        if self.units is StimulusUnits.PER_CAPACITANCE:
            return self.strength
        return self.strength / (10.0 * chi * Cm)

    def fraction_on(self, t_a, t_b):
        """Fraction of ``[t_a, t_b]`` (t_b > t_a) covered by the pulses (in [0, 1]).

        Assumes the interval is shorter than ``period - duration`` so that it meets at most two pulses (checked by the
        solver: dt is far below any pacing period).
        """
        s, d, P = self.start, self.duration, self.period
        finite_period = jnp.isfinite(P)
        Psafe = jnp.where(finite_period, P, 1.0)
        k0 = jnp.where(finite_period, jnp.floor((t_a - s) / Psafe), 0.0)
        last = jnp.inf if self.count is None else float(self.count - 1)
        total = 0.0
        for dk in (0.0, 1.0):
            k = k0 + dk
            valid = (k >= 0) & (k <= last) & (finite_period | (k == 0))
            on = s + jnp.where(finite_period, k * Psafe, 0.0)
            overlap = jnp.clip(jnp.minimum(t_b, on + d) - jnp.maximum(t_a, on), 0.0, None)
            total = total + jnp.where(valid, overlap, 0.0)
        return total / (t_b - t_a)


def nearest_node(points, *, point=None, lower=None, upper=None, radius: float = 0.0) -> str:
    """Host helper for error messages: ``"the nearest mesh node is i at (x, y, z) mm, d mm from <it>"`` for a point
    (with ``radius`` > 0: from the sphere of that radius about it) or for the box ``lower..upper``."""
    x = np.asarray(points, np.float64)
    if point is not None:
        d = np.linalg.norm(x - np.asarray(point, np.float64), axis=1) - float(radius)
        what = "the site" if radius <= 0 else "the sphere's surface"
    else:
        gap = np.maximum(np.maximum(np.asarray(lower, np.float64) - x, x - np.asarray(upper, np.float64)), 0.0)
        d, what = np.linalg.norm(gap, axis=1), "the box"
    i = int(np.argmin(d))
    return (
        f"the nearest mesh node is {i} at ({', '.join(f'{v:.4g}' for v in x[i])}) mm, {max(d[i], 0.0):.3g} mm from "
        f"{what}"
    )


def _nearest_for(region, points) -> str:
    if isinstance(region, Sphere):
        return "; " + nearest_node(points, point=region.centre, radius=region.radius)
    if isinstance(region, Box):
        return "; " + nearest_node(points, lower=region.lower, upper=region.upper)
    return ""


def stimulus_masks(stimuli, points, surfaces, node_sets, dtype) -> Float[Array, "stimuli nodes"]:
    """The (n_stimuli, nodes) 0/1 masks of the stimuli (computed once per simulation).

    Raises ValueError (when the coordinates are concrete) if a stimulus selects no node: almost always a region given in the
    wrong units or outside the mesh.
    """
    masks = []
    for k, stim in enumerate(stimuli):
        m = stim.region.node_mask(points, surfaces, node_sets)
        if not isinstance(m, jax.core.Tracer) and not bool(np.any(np.asarray(m))):
            raise InputError(
                f"stimulus {k} ({stim.region.describe()}) selects no mesh node"
                f"{_nearest_for(stim.region, points)} (lengths are in mm)"
            )
        masks.append(m.astype(dtype))
    if not masks:
        return jnp.zeros((0, points.shape[0]), dtype)
    return jnp.stack(masks)


def stimulus_current(
    stimuli, masks: Float[Array, "stimuli nodes"], amplitudes: Float[ArrayLike, " stimuli"], t_a, t_b
) -> Float[Array, " nodes"] | float:
    """The stimulus current per node (µA/µF), averaged over ``[t_a, t_b]``; overlapping stimuli add."""
    if not stimuli:
        return 0.0
    frac = jnp.stack([s.fraction_on(t_a, t_b) for s in stimuli]).astype(masks.dtype)
    w = frac * jnp.asarray(amplitudes, masks.dtype)
    if len(stimuli) == 1:
        return w[0] * masks[0]
    return w @ masks
