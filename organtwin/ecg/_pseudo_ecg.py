"""Pseudo-ECG: extracellular potentials at electrodes in an infinite homogeneous volume conductor.

``φ(x_e, t) = -1/(4π σ_b) ∫ σ_i ∇Vm · ∇(1/r) dV`` with ``r = |x - x_e|`` and ∇ w.r.t. the source point x (Gima & Rudy
2002, Circ Res 90:889; from φ = 1/(4πσ_b) ∫ I_m / r dV, I_m = ∇·(σ_i ∇Vm), integrated by parts with no-flux walls). The
sign is that of the ECG: a depolarisation wave travelling towards an electrode gives a positive deflection. (With ∇
taken w.r.t. the electrode position the minus sign goes away: the form quoted in shared/REFERENCE.md.)

On P1 tets ∇Vm is constant per cell, so the potential is linear in the nodal Vm: ``φ_e(t) = Σ_nodes L[e, node] Vm(node,
t)`` with the lead matrix ``L[e, n] = -1/(4πσ_b) Σ_{cells c ∋ n} |c| (σ_i,c ∇(1/r)(x̄_c)) · ∇λ_{c,n}`` (∇(1/r) at the
cell centroid: one-point quadrature, second order in h/r). The matrix is computed once (differentiable w.r.t.
conductivities and geometry) and applied to any number of time steps as one matrix product.

Units: Vm in mV, σ in S/m (both σ_i and σ_b: only their ratio enters), lengths in mm: φ in mV.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = ["SKIN_FACTOR", "ecg_times", "lead_matrix", "pseudo_ecg_matrix", "pseudo_ecg"]

# An electrode on the insulating skin sees about twice the infinite-medium potential (the image of the source in a flat
# insulating boundary); `organtwin ecg` multiplies the pseudo-ECG of skin electrodes by it. The torso lead field
# (`lead_field_matrix`) has the boundary built in and needs no factor.
SKIN_FACTOR = 2.0


def pseudo_ecg_matrix(
    points: Float[Array, "nodes 3"],
    tets: Int[Array, "cells 4"],
    sigma_i: Float[Array, "cells 3 3"] | Float[Array, " cells"] | float,
    electrodes: Float[Array, "k 3"],
    sigma_b: float = 0.7,
) -> Float[Array, "k nodes"]:
    """The lead matrix L (electrodes × nodes) of the pseudo-ECG (module docstring), in the dtype of ``points``.

    ``sigma_i``: the intracellular (or monodomain) conductivity, S/m: a scalar, per cell, or per-cell tensors (e.g.
    ``Tissue.diffusion_tensors``-like ``σ_l f fᵀ + σ_t (I - f fᵀ)``). ``sigma_b``: the bath (torso) conductivity, S/m
    (default 0.7, a typical homogeneous torso value).
    """
    points = jnp.asarray(points)
    x_e = jnp.asarray(electrodes, points.dtype)
    centroid = points[jnp.asarray(tets)].mean(axis=1)  # (cells, 3)
    d = centroid[None, :, :] - x_e[:, None, :]  # x - x_e, (k, cells, 3)
    r = jnp.linalg.norm(d, axis=-1)
    grad_Z = -d / (r**3)[..., None] / (4.0 * jnp.pi * jnp.asarray(sigma_b, points.dtype))  # ∇ of Z = 1/(4π σ_b r)
    return lead_matrix(points, tets, sigma_i, grad_Z)


def lead_matrix(points, tets, sigma_i, grad_Z: Float[Array, "k cells 3"]) -> Float[Array, "k nodes"]:
    """``L[e, n] = -Σ_{cells c ∋ n} |c| (σ_i,c ∇Z_e(c)) · ∇λ_{c,n}``: the lead matrix of ``φ_e = -∫ σ_i ∇Vm · ∇Z_e dV``
    for lead fields Z_e whose gradients are given at the cells (one-point quadrature). The pseudo-ECG is the case
    ``Z_e = 1/(4π σ_b |x - x_e|)`` (the potential of a unit current source in an infinite medium); a torso lead field
    (`torso_lead_fields`) is the other."""
    from ..mesh._fem import p1_geometry

    points = jnp.asarray(points)
    tets = jnp.asarray(tets)
    geom = p1_geometry(points, tets)
    s = jnp.asarray(sigma_i, points.dtype)
    if s.ndim <= 1:
        sg = grad_Z * jnp.broadcast_to(s, (tets.shape[0],))[None, :, None]
    else:
        sg = jnp.einsum("cij,kcj->kci", s, grad_Z)
    w = jnp.einsum("kci,cai->kca", sg, geom.grads) * geom.volumes[None, :, None]
    L = jnp.zeros((grad_Z.shape[0], points.shape[0]), points.dtype)
    L = L.at[:, tets.reshape(-1)].add(w.reshape(grad_Z.shape[0], -1))
    return -L


def pseudo_ecg(L: Float[Array, "k nodes"], vm: Float[Array, "times nodes"]) -> Float[Array, "times k"]:
    """Electrode potentials (mV) over time from Vm snapshots (times, nodes) and a lead matrix."""
    return jnp.asarray(vm) @ jnp.asarray(L).T


def ecg_times(
    duration: float, dt: float, n_nodes: int, *, itemsize: int = 4, endpoint: bool = False, what: str = "ECG"
) -> np.ndarray:
    """The sample times ``0, dt, 2 dt, ... < duration`` (``<= duration`` with ``endpoint``), ms, after checking their
    count and the Vm array they make (``samples x n_nodes``: the template's Vm on the device, its host copy, the ECG's
    input again) against the memory there is: one line (`organtwin._sizes.SizeError`) instead of an abort inside XLA.
    """
    from .._sizes import check_bytes, count_of

    fix = "shorten the record (--duration, ms) or sample it less often (--dt, ms)"
    n = count_of(
        duration,
        dt,
        what=what,
        total_name="duration",
        step_name="dt",
        name="samples",
        endpoint=endpoint,
        fix=fix,
        why="int32 indices under jit",
    )
    if n < 2:  # one sample has no slope: no QRS, no features
        from .._errors import SizeError

        raise SizeError(
            f"{what}: a duration of {duration:g} ms sampled every {dt:g} ms gives {n} sample(s); an ECG needs at "
            "least two: sample it more often (--dt, ms) or record longer (--duration, ms)"
        )
    check_bytes(
        3.0 * n * n_nodes * itemsize,
        what=f"{what}: Vm of {n:,} samples x {n_nodes:,} nodes x {itemsize} B x 3 "
        "(on the device, its host copy, the ECG's input)",
        fix=fix,
    )
    return np.arange(0.0, duration + (0.5 * dt if endpoint else 0.0), dt)
