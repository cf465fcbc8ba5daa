"""Results of a monodomain run, and locating probe points in the mesh."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._errors import InputError
from .._solution import RESULTS

__all__ = ["MonodomainResult", "MonodomainState", "locate_points"]


class MonodomainState(eqx.Module):
    """The state of a monodomain run at time ``t`` (final): V (nodes,) mV and the ionic states of every model group
    (``states[g]`` of shape (n_states_g, nodes_g)). Pass it as ``initial=`` to continue a run.

    ``diffusion_increment``: the last step's diffusion increment of an iterative (theta-scheme) run, from which the next
    step's CG starts; None at rest. Kept so that a continued run repeats an uninterrupted one exactly."""

    t: Array
    V: Float[Array, " nodes"]
    states: tuple
    diffusion_increment: Float[Array, " nodes"] | None = None


class MonodomainResult(eqx.Module):
    """What `simulate_monodomain` returns (final). Times in ms, potentials in mV; unrecorded items are None.

    Attributes:
        activation: (nodes,) first upstroke crossing of the activation threshold; ``inf`` where the node never activated.
        repolarisation: (nodes,) first downstroke crossing of the repolarisation threshold after activation (or ``inf``).
        apd: (nodes,) ``repolarisation - activation``.
        activation_count: (nodes,) int, number of upstrokes (``Record(beats=True)``).
        last_activation: (nodes,) time of the last upstroke (``Record(beats=True)``).
        snapshot_times: (k,) times of the Vm snapshots (the requested times rounded to the time step).
        snapshots: (k, nodes) Vm at those times.
        probe_times: (m,) sample times of the probe traces (t0 first).
        probes: (m, p) Vm at the probe points.
        final: the `MonodomainState` at the end (for restarts).
        cg_iterations: total CG iterations of the theta scheme (0 for explicit diffusion).
        result: the outcome, an `organtwin.RESULTS`: ``successful``, ``diverged`` (Vm became non-finite) or
            ``cg_not_converged`` (the theta scheme's CG, in some step).
        failed_time: the end of the first step that failed (ms; NaN if none): where Vm first became non-finite, else
            where the CG first failed.
        failed_index: the first node whose Vm became non-finite (-1 if none).
        n_steps: number of time steps taken (static).
        dt: the time step, ms (static).
    """

    activation: Float[Array, " nodes"] | None
    repolarisation: Float[Array, " nodes"] | None
    apd: Float[Array, " nodes"] | None
    activation_count: Int[Array, " nodes"] | None
    last_activation: Float[Array, " nodes"] | None
    snapshot_times: Float[Array, " k"] | None
    snapshots: Float[Array, "k nodes"] | None
    probe_times: Float[Array, " m"] | None
    probes: Float[Array, "m p"] | None
    final: MonodomainState
    cg_iterations: Array
    result: RESULTS
    failed_time: Float[Array, ""]
    failed_index: Int[Array, ""]
    n_steps: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)


def locate_points(
    points: Float[Array, "nodes 3"], geometry, query: Float[np.ndarray, "k 3"], *, tol: float = 1e-6
) -> tuple[Int[Array, "k 4"], Float[Array, "k 4"]]:
    """Node indices and barycentric weights of the P1 interpolant at ``query`` points.

    For each point, the tet whose smallest barycentric coordinate is largest (the containing tet; on a shared face or
    edge any of the tets sharing it gives the same interpolant). The barycentric coordinates come from the P1 basis
    gradients: ``λ_a(q) = δ_a0 + ∇λ_a · (q - p_0)``. Raises ValueError (when concrete) if a point lies outside the mesh by
    more than ``tol`` in barycentric terms. Jit-able; one (cells,)-vector pass per point.
    """
    nodes, weights, worst = _locate(points, geometry, query)
    if not isinstance(worst, jax.core.Tracer):
        check_inside(query, worst, tol)
    return nodes, weights


def _locate(points, geometry, query):
    """`locate_points` without the host check; also returns the smallest barycentric coordinate of each point."""
    points = jnp.asarray(points)
    tets = geometry.tets
    p0 = points[tets[:, 0]]
    e0 = jnp.asarray([1.0, 0.0, 0.0, 0.0], points.dtype)

    def one(q):
        lam = e0[None, :] + jnp.einsum("cai,ci->ca", geometry.grads, q[None, :] - p0)
        worst = jnp.min(lam, axis=1)
        c = jnp.argmax(worst)
        return tets[c], lam[c], worst[c]

    nodes, weights, worst = jax.lax.map(one, jnp.asarray(query, points.dtype).reshape(-1, 3))
    weights = jnp.clip(weights, 0.0, 1.0)
    weights = weights / weights.sum(axis=1, keepdims=True)
    return nodes, jax.lax.stop_gradient(weights), worst


def check_inside(query, worst, tol: float = 1e-6) -> None:
    """Raise ValueError for the first query point whose smallest barycentric coordinate is below ``-tol``."""
    bad = np.flatnonzero(np.asarray(worst) < -tol)
    if bad.size:
        q = np.asarray(query).reshape(-1, 3)[bad[0]].round(4).tolist()
        raise InputError(f"probe point {q} mm lies outside the mesh")
