"""Symmetric positive definite solves with P1 matrices: Jacobi-preconditioned CG through lineax, Dirichlet rows eliminated.

`solve_spd` is jit-able and differentiable: the solve is a ``lineax.linear_solve``, so derivatives come from lineax's implicit
differentiation (one more CG solve per tangent or cotangent), w.r.t. the matrix values, the right-hand side and the
Dirichlet values.

Why not ``lineax.CG`` itself: its stopping test is element-wise, ``|r_i| <= atol + rtol |b_i|`` (and the same on the
update), so any right-hand side with zero entries (a Laplace problem: ``b`` is zero away from the Dirichlet nodes) never
meets a pure relative tolerance, and an ``atol`` fixed for the primal solve is on the wrong scale for the tangent and adjoint
solves lineax runs for derivatives. `JacobiCG` below is a lineax solver (an ``lx.AbstractLinearSolver``, so lineax still does
the differentiation, transposes and vmap) with the usual test ``||r||_2 <= max(rtol ||b||_2, atol)``, applied afresh to
every solve, primal, tangent or adjoint.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InputError, MeshError
from ._fem import p1_geometry
from ._sparse import EllMatrix, SparsityPattern, assemble_stiffness, ell_matvec

__all__ = ["JacobiCG", "solve_spd", "laplace_solve"]


class JacobiCG(lx.AbstractLinearSolver):
    """Preconditioned conjugate gradients for a positive (semi)definite lineax operator (final).

    Stops when ``||b - A y||_2 <= max(rtol ||b||_2, atol)`` or after ``max_steps`` iterations (result
    ``RESULTS.max_steps_reached``). Options: ``preconditioner`` (a positive definite lineax operator, e.g. a
    ``DiagonalLinearOperator`` holding the inverse diagonal) and ``y0`` (initial guess). Only single-array vectors.
    """

    rtol: float
    atol: float = 0.0
    max_steps: int = 10_000

    def __check_init__(self):
        if self.rtol < 0 or self.atol < 0:
            raise InputError("JacobiCG: tolerances must be non-negative")
        if self.max_steps < 1:
            raise InputError("JacobiCG: max_steps must be at least 1")

    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]):
        del options
        if not lx.is_positive_semidefinite(operator):
            raise InputError("JacobiCG needs an operator tagged lineax.positive_semidefinite_tag")
        if operator.in_structure() != operator.out_structure():
            raise InputError("JacobiCG needs a square operator")
        return operator

    def compute(self, state, vector, options: dict[str, Any]):
        operator = state
        b = vector
        precond = options.get("preconditioner")
        apply_p = (lambda r: r) if precond is None else precond.mv
        if "y0" in options:
            y = options["y0"]
            r = b - operator.mv(y)
        else:
            y = jnp.zeros_like(b)
            r = b
        z = apply_p(r)
        p = z
        gamma = jnp.vdot(r, z)
        tol = jnp.maximum(self.rtol * jnp.linalg.norm(b), self.atol)
        rnorm = jnp.linalg.norm(r)

        def cond(carry):
            _, _, _, _, rnorm, step = carry
            return (rnorm > tol) & (step < self.max_steps) & jnp.isfinite(rnorm)

        def body(carry):
            y, r, p, gamma, _, step = carry
            Ap = operator.mv(p)
            alpha = gamma / jnp.vdot(p, Ap)
            y = y + alpha * p
            # Recompute the true residual every 50 steps to stop drift (cheap relative to the solve).
            r = jax.lax.cond((step + 1) % 50 == 0, lambda: b - operator.mv(y), lambda: r - alpha * Ap)
            z = apply_p(r)
            gamma_new = jnp.vdot(r, z)
            p = z + (gamma_new / gamma) * p
            return y, r, p, gamma_new, jnp.linalg.norm(r), step + 1

        y, r, _, _, rnorm, steps = jax.lax.while_loop(cond, body, (y, r, p, gamma, rnorm, jnp.array(0)))
        converged = rnorm <= tol
        result = lx.RESULTS.where(converged, lx.RESULTS.successful, lx.RESULTS.max_steps_reached)
        result = lx.RESULTS.where(jnp.isfinite(rnorm), result, lx.RESULTS.breakdown)
        return y, result, {"num_steps": steps, "residual_norm": rnorm, "tolerance": tol}

    def transpose(self, state, options: dict[str, Any]):
        out = {}
        if "preconditioner" in options:
            out["preconditioner"] = options["preconditioner"].transpose()
        return state.transpose(), out

    def conj(self, state, options: dict[str, Any]):
        out = {}
        if "preconditioner" in options:
            out["preconditioner"] = lx.conj(options["preconditioner"])
        return lx.conj(state), out

    def assume_full_rank(self) -> bool:
        return True


@eqx.filter_jit
def solve_spd(
    A: EllMatrix,
    b: Float[ArrayLike, " nodes"],
    *,
    dirichlet_nodes: Int[ArrayLike, " k"] | None = None,
    dirichlet_values: Float[ArrayLike, " k"] | float | None = None,
    dirichlet_mask: ArrayLike | None = None,
    x0: Float[ArrayLike, " nodes"] | None = None,
    rtol: float = 1e-8,
    atol: float = 0.0,
    max_steps: int = 10_000,
    throw: bool = True,
) -> Float[Array, " nodes"]:
    """Solve ``A x = b`` for a symmetric positive (semi)definite `EllMatrix`, with ``x = g`` on Dirichlet nodes.

    The Dirichlet rows and columns are eliminated by masking: with ``P`` the free-node mask the solver sees the SPD operator
    ``P A P + (I - P)`` and the right-hand side ``P (b - A g)`` for ``z = x - g``, i.e. it solves
    ``A_ff x_f = b_f - A_fd g``, and returns ``x = z + g`` with ``x_d = g`` exactly. Jacobi (inverse diagonal)
    preconditioned CG, stopping at ``||r||_2 <= max(rtol ||rhs||_2, atol)`` (rhs: the right-hand side after elimination,
    and after subtracting ``A x0`` when an initial guess is given).

    Args:
        A: the matrix (only ``A.values`` is differentiated).
        b: right-hand side (n,).
        dirichlet_nodes: node indices (k,) held fixed; unique (for repeated nodes which value wins is unspecified).
        dirichlet_values: (k,) or a scalar; default 0. With ``dirichlet_mask``: (n,) or a scalar.
        dirichlet_mask: alternative to ``dirichlet_nodes``, a boolean (n,) mask of the fixed nodes. Its shape does not
            depend on how many nodes are fixed, so one compiled solve serves every choice of boundary sets on a mesh.
        x0: initial guess (its Dirichlet entries are ignored; not differentiated through, it only saves iterations).
        rtol, atol, max_steps: stopping test and iteration cap.
        throw: raise (an ``EquinoxRuntimeError``, also under jit) if CG does not converge; with ``throw=False`` the
            unconverged iterate is returned.

    Returns:
        x (n,), differentiable w.r.t. ``A.values``, ``b`` and ``dirichlet_values`` (by implicit differentiation).

    Without Dirichlet nodes a singular ``A`` (pure Neumann stiffness) converges only when ``b`` sums to zero.
    The function is wrapped in ``eqx.filter_jit`` (compiled once per shape/dtype/tolerance, also when called eagerly;
    inlined when called inside another jit).
    """
    b = jnp.asarray(b)
    n = A.pattern.n_nodes
    if b.shape != (n,):
        raise InputError(f"solve_spd: b must have shape ({n},), got {b.shape}")
    dtype = jnp.result_type(A.values, b)
    b = b.astype(dtype)
    values = A.values.astype(dtype)
    if dirichlet_nodes is not None and dirichlet_mask is not None:
        raise InputError("solve_spd: pass dirichlet_nodes or dirichlet_mask, not both")
    if dirichlet_mask is not None:
        mask = jnp.asarray(dirichlet_mask, dtype=bool)
        if mask.shape != (n,):
            raise InputError(f"solve_spd: dirichlet_mask must have shape ({n},), got {mask.shape}")
        free = jnp.where(mask, 0, 1).astype(dtype)
        vals = jnp.zeros((), dtype) if dirichlet_values is None else jnp.asarray(dirichlet_values, dtype=dtype)
        g = jnp.where(mask, jnp.broadcast_to(vals, (n,)), 0)
    elif dirichlet_nodes is None:
        free = jnp.ones(n, dtype)
        g = jnp.zeros(n, dtype)
    else:
        nodes = jnp.asarray(dirichlet_nodes, dtype=jnp.int32).reshape(-1)
        vals = jnp.zeros((), dtype) if dirichlet_values is None else jnp.asarray(dirichlet_values, dtype=dtype)
        vals = jnp.broadcast_to(vals, nodes.shape)
        free = jnp.ones(n, dtype).at[nodes].set(0)
        g = jnp.zeros(n, dtype).at[nodes].set(vals)
    fixed = 1 - free
    cols = A.pattern.cols

    def masked_matvec(x):
        return free * ell_matvec(values, cols, x * free) + fixed * x

    def full_matvec(x):
        return ell_matvec(values, cols, x)

    # Solve for z = x - g, which is zero on the Dirichlet nodes (CG keeps it exactly zero there: the fixed rows of the
    # right-hand side, the residual and the search directions stay zero), so x = z + g holds g exactly. An initial guess
    # enters as a (non-differentiated) shift z = z0 + δ, so the tangent and adjoint solves start from zero.
    rhs = free * (b - full_matvec(g))
    if x0 is None:
        z0 = None
    else:
        z0 = jax.lax.stop_gradient(free * (jnp.asarray(x0, dtype) - g))
        rhs = rhs - masked_matvec(z0)
    operator = lx.FunctionLinearOperator(
        masked_matvec, jax.ShapeDtypeStruct((n,), dtype), tags=(lx.symmetric_tag, lx.positive_semidefinite_tag)
    )
    diag = jax.lax.stop_gradient(free * A.with_values(values).diagonal() + fixed)
    inv_diag = jnp.where(diag > 0, 1 / jnp.where(diag > 0, diag, 1), 1)
    options = {"preconditioner": lx.DiagonalLinearOperator(inv_diag)}
    solver = JacobiCG(rtol=float(rtol), atol=float(atol), max_steps=int(max_steps))
    sol = lx.linear_solve(operator, rhs, solver, options=options, throw=False)
    x = sol.value + g if z0 is None else sol.value + z0 + g
    if throw:
        x = eqx.error_if(
            x,
            sol.result != lx.RESULTS.successful,
            f"solve_spd: Jacobi-preconditioned CG did not converge to rtol={rtol}, atol={atol} within max_steps={max_steps} "
            "iterations (or hit a non-finite value): raise max_steps or loosen rtol, and check that the matrix is "
            "symmetric positive definite (a stiffness matrix needs Dirichlet nodes or a mass term)",
        )
    return x


def laplace_solve(
    mesh,
    fixed: dict | list[tuple],
    *,
    D=None,
    rtol: float = 1e-8,
    max_steps: int = 10_000,
    dtype=None,
    stiffness: EllMatrix | None = None,
) -> Float[Array, " nodes"]:
    """Solve ``-div(D grad u) = 0`` on a `Mesh` with ``u`` fixed on named surfaces / node sets / node index arrays.

    Args:
        mesh: the `Mesh`.
        fixed: ``{key: value}`` or a list of ``(key, value)`` pairs; keys are surface names (``mesh.surfaces``), node-set
            names (``mesh.node_sets``) or integer node indices (a tuple as a dict key, any array in a pair: numpy arrays
            are not hashable); a node in several sets takes the value of the last one. E.g.
            ``laplace_solve(mesh, {"endo_lv": 0.0, "epi": 1.0})``.
        D: conductivity (scalar, (cells,), (3, 3) or (cells, 3, 3)); default the identity.
        rtol, max_steps: CG stopping test (see `solve_spd`).
        dtype: float dtype of the solve (default JAX's default float).
        stiffness: a pre-assembled stiffness `EllMatrix` to reuse across several solves on one mesh (then ``D`` is ignored).

    Returns:
        u (nodes,) as a JAX array.
    """
    if not fixed:
        raise MeshError("laplace_solve needs at least one fixed (Dirichlet) set, e.g. {'endo_lv': 0.0, 'epi': 1.0}")
    n = mesh.n_nodes
    value = np.zeros(n)
    is_fixed = np.zeros(n, dtype=bool)
    items = list(fixed.items()) if isinstance(fixed, dict) else list(fixed)
    for key, v in items:
        if isinstance(key, str):
            if key in mesh.surfaces:
                nodes = mesh.surfaces[key].nodes
            elif key in mesh.node_sets:
                nodes = mesh.node_sets[key]
            else:
                have = ", ".join(sorted(mesh.surfaces) + sorted(mesh.node_sets)) or "none"
                raise MeshError(f"laplace_solve: the mesh has no surface or node set named {key!r} (it has: {have})")
        else:
            nodes = np.asarray(key).reshape(-1)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= n):
            raise MeshError(f"laplace_solve: node indices of {key!r} outside 0..{n - 1}")
        nodes = np.asarray(nodes, dtype=np.int64)
        value[nodes] = float(v)
        is_fixed[nodes] = True
    if is_fixed.all():
        raise MeshError("laplace_solve: every node is fixed; nothing to solve")
    if stiffness is None:
        points = jnp.asarray(mesh.points, dtype=dtype)
        D = jnp.asarray(1.0 if D is None else D, dtype=points.dtype)
        K = _stiffness_jit(points, jnp.asarray(mesh.tets), D, SparsityPattern.from_mesh(mesh))
    else:
        K = stiffness if dtype is None else stiffness.with_values(stiffness.values.astype(dtype))
    return _laplace_jit(K, jnp.asarray(is_fixed), jnp.asarray(value, K.dtype), rtol, max_steps)


@eqx.filter_jit
def _stiffness_jit(points, tets, D, pattern):
    return assemble_stiffness(p1_geometry(points, tets), D, pattern)


@eqx.filter_jit
def _laplace_jit(K, mask, values, rtol, max_steps):
    # Compiled once per mesh size, dtype and tolerance: the fixed sets travel as an (n,) mask.
    b = jnp.zeros(mask.shape, K.dtype)
    return solve_spd(K, b, dirichlet_mask=mask, dirichlet_values=values, rtol=rtol, max_steps=max_steps)
