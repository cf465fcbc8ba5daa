"""Operator splitting and the two diffusion steppers of the monodomain equation.

The monodomain equation ``dV/dt = div(D grad V) - Iion(V, s) + Istim`` (D in mm²/ms, no-flux boundaries) is split into a
reaction step (every node on its own: `organtwin.ionic.reaction_step`, Rush–Larsen for gates, forward Euler for the rest)
and a diffusion step ``M dV/dt = -K V`` with the P1 mass M and stiffness K:

* `Splitting.GODUNOV`: R(dt) then D(dt) — first order, one reaction evaluation per step (the default: the reaction step
  dominates the cost and is first order anyway).
* `Splitting.STRANG`: R(dt/2), D(dt), R(dt/2) — second order splitting error, two reaction evaluations per step.

Diffusion:

* `ExplicitLumped()`: forward Euler with the lumped mass, ``V+ = V - dt M_L⁻¹ K V``: one sparse matvec per step. Stable
  for ``dt <= 2 / λ_max(M_L⁻¹ K)``; the solver estimates λ_max before running (`explicit_stability_limit`) and refuses a
  larger dt with a one-line ValueError.
* `ThetaScheme(theta=0.5)`: ``(M + θ dt K) V+ = (M - (1 - θ) dt K) V`` with the consistent (default) or lumped mass,
  solved by Jacobi-preconditioned CG warm-started from V (a lax.while_loop, differentiated implicitly through
  ``jax.lax.custom_linear_solve``: one more CG solve per step of the backward pass). θ = 1/2 is Crank–Nicolson,
  θ = 1 backward Euler (L-stable, first order).
"""

from __future__ import annotations

import abc
import enum
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import InputError
from ..mesh import EllMatrix, assemble, element_stiffness, lumped_mass
from ..mesh._fem import element_mass
from ..mesh._sparse import ell_matvec

__all__ = [
    "host_stability_limit",
    "Splitting",
    "Mass",
    "AbstractDiffusion",
    "ExplicitLumped",
    "NoDiffusion",
    "ThetaScheme",
    "explicit_stability_limit",
]


class Splitting(enum.Enum):
    """Operator splitting of reaction and diffusion."""

    GODUNOV = "godunov"
    STRANG = "strang"


class Mass(enum.Enum):
    """Mass matrix of the theta scheme."""

    CONSISTENT = "consistent"
    LUMPED = "lumped"


class AbstractDiffusion(eqx.Module):
    """A diffusion stepper: `operators` assembles what one step needs (once per simulation), `step` advances V by dt.

    Iterative steppers set ``uses_guess``: the time loop then passes ``guess``, a prediction of the result (the input
    plus the previous step's diffusion increment), to start the iteration from.
    """

    uses_guess: ClassVar[bool] = False

    @abc.abstractmethod
    def operators(self, tissue, dt: float | Array) -> eqx.Module:
        """The step's operator data (arrays, differentiable w.r.t. the tissue)."""

    @abc.abstractmethod
    def step(
        self, ops, V: Float[Array, " nodes"], guess: Float[Array, " nodes"] | None = None
    ) -> tuple[Float[Array, " nodes"], Array, Array]:
        """``(V+, iterations, failed)`` after one diffusion step (iterations 0 and failed False for explicit steps)."""


class _ExplicitOps(eqx.Module):
    cols: Array  # (width, nodes)
    minus_dt_MinvK: Array  # (width, nodes): -dt M_L^-1 K in slot-major ELL
    mass: Array  # (nodes,) lumped mass (for the transpose: (M⁻¹K)ᵀ = M (M⁻¹K) M⁻¹ since K is symmetric)


# Below this many nodes the ELL product loops over its slots (lax.fori_loop) instead of unrolling them: the unrolled form
# is ~1.4x faster per product on large meshes but costs about a second more of XLA compilation per product in a program
# (forward, its recomputation and the transpose of the backward pass), which dominates small problems.
_UNROLL_MIN_NODES = 20_000


def _matvec(values, cols, x):
    """``Σ_k values[k] * x[cols[k]]`` (slot-major ELL)."""
    if x.shape[0] >= _UNROLL_MIN_NODES:
        return ell_matvec(values, cols, x)

    def body(k, y):
        return y + values[k] * x.at[cols[k]].get(mode="promise_in_bounds")

    return jax.lax.fori_loop(0, values.shape[0], body, jnp.zeros_like(x))


def _gather_slots(x, cols):
    """``x[cols]`` of shape (width, nodes), slot by slot (a (width, nodes) gather in one op is ~10x slower on CPU)."""
    if x.shape[0] >= _UNROLL_MIN_NODES:
        return jnp.stack([x.at[cols[k]].get(mode="promise_in_bounds") for k in range(cols.shape[0])])

    def body(k, out):
        return out.at[k].set(x.at[cols[k]].get(mode="promise_in_bounds"))

    return jax.lax.fori_loop(0, cols.shape[0], body, jnp.zeros(cols.shape, x.dtype))


@jax.custom_vjp
def _explicit_update(W, cols, mass, V):
    """``V + W V`` with ``W = -dt M_L⁻¹ K`` (slot-major ELL)."""
    return V + _matvec(W, cols, V)


def _explicit_update_fwd(W, cols, mass, V):
    return _explicit_update(W, cols, mass, V), (W, cols, mass, V)


def _explicit_update_bwd(res, ct):
    # Transposes by gathers only (no scatter-add): K is symmetric, so Wᵀ y = M W (M⁻¹ y); and the cotangent of the ELL
    # values is the outer product restricted to the pattern, dW[k, i] = ct[i] V[cols[k, i]].
    W, cols, mass, V = res
    dV = ct + mass * _matvec(W, cols, ct / mass)
    dW = ct[None, :] * _gather_slots(V, cols)
    return dW, None, None, dV


_explicit_update.defvjp(_explicit_update_fwd, _explicit_update_bwd)


class ExplicitLumped(AbstractDiffusion):
    """Forward Euler diffusion with the lumped mass (final): ``V+ = V - dt M_L⁻¹ K V``.

    ``check_stability`` (default True): estimate ``λ_max(M_L⁻¹ K)`` before running and raise if ``dt > 2 / λ_max``.
    """

    check_stability: bool = eqx.field(default=True, static=True)

    def operators(self, tissue, dt: float | Array) -> _ExplicitOps:
        K = _stiffness(tissue)
        m = lumped_mass(tissue.geometry)
        return _ExplicitOps(tissue.pattern.cols, K.values * (-jnp.asarray(dt) / m)[None, :], jax.lax.stop_gradient(m))

    def step(self, ops: _ExplicitOps, V, guess=None):
        V = _explicit_update(ops.minus_dt_MinvK, ops.cols, ops.mass, V)
        return V, jnp.zeros((), jnp.int32), jnp.zeros((), bool)


class _NoOps(eqx.Module):
    pass


class NoDiffusion(AbstractDiffusion):
    """No coupling between nodes (final): every node is an independent cell (a population of cells with per-node
    parameters, or profiling the reaction step on its own)."""

    def operators(self, tissue, dt: float | Array) -> _NoOps:
        return _NoOps()

    def step(self, ops, V, guess=None):
        return V, jnp.zeros((), jnp.int32), jnp.zeros((), bool)


class _ThetaOps(eqx.Module):
    cols: Array
    A: Array  # (width, nodes): M + theta dt K
    B: Array  # (width, nodes): M - (1 - theta) dt K
    inv_diag: Array  # Jacobi preconditioner of A


class ThetaScheme(AbstractDiffusion):
    """Semi-implicit theta scheme (final): ``(M + θ dt K) V+ = (M - (1-θ) dt K) V``, CG warm-started from V.

    Attributes:
        theta: in [1/2, 1] (unconditionally stable); 1/2 Crank–Nicolson (default), 1 backward Euler.
        mass: `Mass.CONSISTENT` (default) or `Mass.LUMPED`.
        rtol: CG stopping test ``||r||_2 <= rtol ||b||_2`` (b = the right-hand side, whose norm is dominated by the resting
            potential); default 1e-9 in float64 and 1e-6 in float32 (≈ 8 float32 ulps: the attainable floor).
        max_steps: CG iteration cap per step; the solver raises after the run if any step hit it.
    """

    uses_guess: ClassVar[bool] = True
    theta: float = eqx.field(default=0.5, static=True)
    mass: Mass = eqx.field(default=Mass.CONSISTENT, static=True)
    rtol: float | None = eqx.field(default=None, static=True)
    max_steps: int = eqx.field(default=200, static=True)

    def __check_init__(self):
        if not 0.5 <= float(self.theta) <= 1.0:
            raise InputError(f"ThetaScheme: theta must be in [0.5, 1] (unconditionally stable), got {self.theta}")
        if not isinstance(self.mass, Mass):
            raise TypeError(f"ThetaScheme: mass must be Mass.CONSISTENT or Mass.LUMPED, got {self.mass!r}")
        if self.rtol is not None and not self.rtol > 0:
            raise InputError(f"ThetaScheme: rtol must be positive, got {self.rtol}")

    def _rtol(self, dtype) -> float:
        if self.rtol is not None:
            return float(self.rtol)
        return 1e-9 if jnp.dtype(dtype) == jnp.float64 else 1e-6

    def operators(self, tissue, dt: float | Array) -> _ThetaOps:
        geom = tissue.geometry
        Ke = element_stiffness(geom, tissue.diffusion_tensors())
        if self.mass is Mass.CONSISTENT:
            Me = element_mass(geom)
        else:
            Me = jnp.eye(4, dtype=geom.dtype)[None] * (geom.volumes / 4)[:, None, None]
        A = assemble(tissue.pattern, Me + (self.theta * dt) * Ke)
        B = assemble(tissue.pattern, Me - ((1.0 - self.theta) * dt) * Ke)
        diag = jax.lax.stop_gradient(A.diagonal())
        return _ThetaOps(tissue.pattern.cols, A.values, B.values, 1.0 / diag)

    def step(self, ops: _ThetaOps, V, guess=None):
        b = _matvec(ops.B, ops.cols, V)
        A_values, cols, inv_diag = ops.A, ops.cols, ops.inv_diag
        guess = jax.lax.stop_gradient(V if guess is None else guess)
        rtol, max_steps = self._rtol(V.dtype), int(self.max_steps)

        def matvec(x):
            return _matvec(A_values, cols, x)

        def solve(mv, rhs):
            return _pcg(mv, rhs, guess, inv_diag, rtol, max_steps)

        # Implicit differentiation (JAX's custom_linear_solve): the backward pass solves with the same CG; the matrix
        # is symmetric. The warm start is the Galerkin-best multiple of the guess (V plus the last step's increment:
        # the front moves ~0.01 mm per step, so the increment changes little), so the adjoint solves (unrelated
        # right-hand sides) start no worse than from zero.
        x, (iters, failed) = jax.lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
        return x, iters, failed


def _pcg(matvec, b, guess, inv_diag, rtol: float, max_steps: int):
    """Jacobi-preconditioned CG for ``A x = b`` (A symmetric positive definite) from ``x0 = α guess`` with
    ``α = (guess·b) / (guess·A guess)``; stops at ``||r||_2 <= rtol ||b||_2``. Returns ``(x, (iterations, failed))``.

    One sparse product, three inner products and three vector updates per iteration (XLA fuses the updates with the
    reductions); the recurrence residual is used throughout (at these tolerances and iteration counts, ten or so per
    step, its drift is far below the tolerance).
    """
    Ag = matvec(guess)
    gAg = jnp.vdot(guess, Ag)
    alpha0 = jnp.where(gAg > 0, jnp.vdot(guess, b) / jnp.where(gAg > 0, gAg, 1.0), 0.0)
    x = alpha0 * guess
    r = b - alpha0 * Ag
    z = r * inv_diag
    tol2 = jnp.square(rtol) * jnp.vdot(b, b)
    rz = jnp.vdot(r, z)

    def cond(c):
        _, _, _, _, rr, k = c
        return (rr > tol2) & (k < max_steps) & jnp.isfinite(rr)

    def body(c):
        x, r, p, rz, _, k = c
        Ap = matvec(p)
        a = rz / jnp.vdot(p, Ap)
        x = x + a * p
        r = r - a * Ap
        z = r * inv_diag
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / rz) * p
        return x, r, p, rz_new, jnp.vdot(r, r), k + 1

    x, _, _, _, rr, k = jax.lax.while_loop(cond, body, (x, r, z, rz, jnp.vdot(r, r), jnp.zeros((), jnp.int32)))
    return x, (k, ~(rr <= tol2))


def _stiffness(tissue) -> EllMatrix:
    return assemble(tissue.pattern, element_stiffness(tissue.geometry, tissue.diffusion_tensors()))


@eqx.filter_jit
def explicit_stability_limit(tissue, *, iterations: int = 100) -> Array:
    """The largest stable dt (ms) of forward-Euler diffusion with the lumped mass: ``2 / λ_max(M_L⁻¹ K)``.

    λ_max is estimated by power iteration on the symmetric ``M_L^{-1/2} K M_L^{-1/2}`` (Rayleigh quotient after
    ``iterations`` steps from a fixed pseudo-random start), raised by 1% (the Rayleigh quotient approaches λ_max from below)
    and capped by the Gershgorin bound ``max_i Σ_j |K_ij| / m_i`` (a guaranteed upper bound, exact on structured meshes).
    Jit-able; not differentiated (stop_gradient).
    """
    tissue = jax.lax.stop_gradient(tissue)
    K = _stiffness(tissue)
    m = lumped_mass(tissue.geometry)
    r = 1.0 / jnp.sqrt(m)
    cols = tissue.pattern.cols
    values = K.values

    def S(x):
        return r * _matvec(values, cols, r * x)

    # A fixed, cheap pseudo-random start (the fractional part of a large multiple of sin: no PRNG to compile).
    k = jnp.arange(m.shape[0], dtype=m.dtype)
    x0 = jnp.sin(k * 12.9898 + 78.233) * 43758.5453
    x0 = 2.0 * (x0 - jnp.floor(x0)) - 1.0
    x0 = x0 / jnp.linalg.norm(x0)

    def body(_, x):
        y = S(x)
        return y / jnp.linalg.norm(y)

    x = jax.lax.fori_loop(0, iterations, body, x0)
    rayleigh = jnp.vdot(x, S(x))
    gershgorin = jnp.max(jnp.sum(jnp.abs(values), axis=0) / m)
    lam = jnp.minimum(1.01 * rayleigh, gershgorin)
    return 2.0 / lam


def host_stability_limit(tissue, ops: _ExplicitOps, dt: float) -> float:
    """`explicit_stability_limit` on the host from concrete operators: ``2 / λ_max`` by ARPACK Lanczos (scipy ``eigsh``) on
    ``M_L^{1/2} (M_L⁻¹ K) M_L^{-1/2}``, raised by 0.1%. No compilation; about 20 ms for 5k nodes, a second for 500k."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    W = np.asarray(ops.minus_dt_MinvK, dtype=np.float64) * (-1.0 / dt)  # M_L^-1 K, slot-major (width, nodes)
    cols = np.asarray(ops.cols)
    n = W.shape[1]
    vol = np.asarray(tissue.geometry.volumes, dtype=np.float64)
    m = np.bincount(np.asarray(tissue.geometry.tets).reshape(-1), weights=np.repeat(vol / 4, 4), minlength=n)
    sq = np.sqrt(np.where(m > 0, m, 1.0))
    rows = np.broadcast_to(np.arange(n)[None, :], W.shape)
    data = (sq[rows] * W / sq[cols]).reshape(-1)
    S = sp.csr_matrix((data, (rows.reshape(-1), cols.reshape(-1))), shape=(n, n))
    S = 0.5 * (S + S.T)  # symmetric up to round-off
    try:
        # scipy's eigsh is unannotated: its default tol=0 reads as an int; tol is a float (documented)
        lam = float(sla.eigsh(S, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])  # pyright: ignore[reportArgumentType]
    except sla.ArpackNoConvergence:  # pragma: no cover - fall back on the Gershgorin bound (an upper bound)
        lam = float(np.max(np.abs(S).sum(axis=1)))
    return 2.0 / (1.001 * lam)
