"""What a monodomain run records, and the running (constant-memory) detection of activation and repolarisation.

Activation time of a node: the first time V crosses ``activation_threshold`` upwards, linearly interpolated between the
two time steps that bracket the crossing: ``t = t_n + dt (thr - V_n) / (V_{n+1} - V_n)``. Exact for a V that is linear in
time over the step, and a piecewise smooth (almost everywhere differentiable) function of every parameter: gradients of
a loss on activation times flow through ``V_n`` and ``V_{n+1}``.

Default threshold 0 mV, the definition of the Niederer et al. 2011 benchmark. Every model of `organtwin.ionic` peaks well
above 0 mV in tissue, but a node at the edge of a failing (decremental) wave may rise without crossing it: lower the
threshold (e.g. -20 mV) for depressed tissue, or use ``Record(activation_threshold=...)`` with a model-specific level.

Repolarisation time: the first downward crossing of ``repolarisation_threshold`` (default -70 mV: ≈ 90% repolarisation for
action potentials from about -85 mV to +30 mV, e.g. ten Tusscher 2006; ≈ APD90 of Mitchell–Schaeffer and Aliev–Panfilov
from -80 to +20 mV) after the node's first activation, interpolated the same way. APD = repolarisation - activation.
Nodes that never activate (repolarise) get ``inf``.

Everything is carried as (nodes,) arrays through the time loop: memory does not depend on the number of steps.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import InputError

__all__ = ["Record", "first_crossing", "crossing_update"]


def _points(p) -> tuple[tuple[float, float, float], ...] | None:
    """(k, 3) points as a hashable tuple of (x, y, z) (a static field), or None."""
    if p is None:
        return None
    return tuple((float(x), float(y), float(z)) for x, y, z in np.asarray(p, float).reshape(-1, 3))


class Record(eqx.Module):
    """What `simulate_monodomain` records (final).

    Attributes:
        activation: activation time per node (first upstroke crossing), ms.
        repolarisation: repolarisation time and APD per node, ms (needs ``activation``).
        beats: also count the upstrokes per node and keep the last activation time (for paced, multi-beat runs).
        snapshots_at: times (ms) of Vm snapshots of every node; each is rounded to the nearest time step.
        probes: (k, 3) points (mm) whose Vm is recorded every ``probe_every`` steps; the value at a point is the P1
            interpolant (barycentric weights in the tet that contains the point). A point outside the mesh is an error.
        probe_every: probe sampling stride in steps.
        activation_threshold: mV (default 0 mV, the Niederer benchmark's definition).
        repolarisation_threshold: mV (default -70 mV).
    """

    activation: bool = eqx.field(default=True, static=True)
    repolarisation: bool = eqx.field(default=False, static=True)
    beats: bool = eqx.field(default=False, static=True)
    snapshots_at: tuple[float, ...] = eqx.field(default=(), static=True, converter=lambda t: tuple(float(x) for x in t))
    probes: tuple[tuple[float, float, float], ...] | None = eqx.field(default=None, static=True, converter=_points)
    probe_every: int = eqx.field(default=1, static=True)
    activation_threshold: float = eqx.field(default=0.0, static=True)
    repolarisation_threshold: float = eqx.field(default=-70.0, static=True)

    def __check_init__(self):
        if self.repolarisation and not self.activation:
            raise InputError("Record: repolarisation times need activation=True")
        if self.beats and not self.activation:
            raise InputError("Record: beats need activation=True")
        if int(self.probe_every) < 1:
            raise InputError(f"Record: probe_every must be a positive number of steps, got {self.probe_every}")
        if self.probes is not None and len(self.probes) == 0:
            raise InputError("Record: probes must hold at least one point (or be None)")
        if self.repolarisation and not self.repolarisation_threshold < self.activation_threshold:
            raise InputError("Record: the repolarisation threshold must be below the activation threshold")


def crossing_update(V0, V1, t0, dt, threshold, *, upward: bool):
    """``(crossed, t)``: whether V crosses ``threshold`` between two steps and the interpolated crossing time.

    Upward: ``V0 < thr <= V1``; downward: ``V0 >= thr > V1``. ``t`` is finite everywhere (safe denominators) so that the
    gradient of a ``where`` on it is finite.
    """
    crossed = (V0 < threshold) & (V1 >= threshold) if upward else (V0 >= threshold) & (V1 < threshold)
    denom = jnp.where(crossed, V1 - V0, 1.0)
    frac = jnp.where(crossed, (threshold - V0) / denom, 0.0)
    return crossed, t0 + dt * frac


def first_crossing(
    t: Float[ArrayLike, " steps"],
    V: Float[ArrayLike, "steps *nodes"],  # noqa: F821 (jaxtyping shapes, not Python names)
    threshold: float = 0.0,
    *,
    upward: bool = True,
) -> Float[Array, " *nodes"]:
    """First threshold crossing of sampled traces (offline; ``inf`` where none), linearly interpolated in time.

    ``t`` (steps,) increasing sample times, ``V`` (steps, ...) values. The same rule as the running detection.
    """
    t = jnp.asarray(t)
    V = jnp.asarray(V)
    V0, V1 = V[:-1], V[1:]
    dt = (t[1:] - t[:-1]).reshape((-1,) + (1,) * (V.ndim - 1))
    t0 = t[:-1].reshape(dt.shape)
    crossed, tc = crossing_update(V0, V1, t0, dt, threshold, upward=upward)
    first = jnp.argmax(crossed, axis=0)
    any_ = jnp.any(crossed, axis=0)
    tc_first = jnp.take_along_axis(tc, first[None], axis=0)[0]
    return jnp.where(any_, tc_first, jnp.inf)
