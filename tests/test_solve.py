"""SPD solves (organtwin.mesh._solve): exactness, manufactured-solution convergence order, derivatives against central
finite differences, float32, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import MMS_D, box_mesh, mms_f, mms_u, random_unit_vectors

from organtwin import MeshError
from organtwin.mesh import (
    P1Geometry,
    SparsityPattern,
    assemble_mass,
    assemble_stiffness,
    conductivity_tensors,
    laplace_solve,
    region_index,
    region_values,
    solve_spd,
)

# ------------------------------------------------------------------------------------------------ exact and API facts
SHAPE = (6, 5, 4, 1.2, 1.0, 0.8)  # one mesh size for the API tests: their compiled solves are shared


def test_linear_solution_is_exact():
    mesh = box_mesh(*SHAPE)
    u = laplace_solve(mesh, {"xmin": 0.0, "xmax": 1.0}, rtol=1e-12)
    np.testing.assert_allclose(u, mesh.points[:, 0] / 1.2, atol=1e-10)
    # anisotropic constant tensor: a linear field (constant flux) is reproduced exactly from its boundary values
    a = np.array([0.3, -0.2, 0.5])
    exact = mesh.points @ a
    bn = mesh.surfaces["boundary"].nodes
    D = conductivity_tensors(0.3, 0.05, np.array([1.0, 1.0, 0.0]))
    geom = P1Geometry.from_mesh(mesh)
    K = assemble_stiffness(geom, D)
    x = solve_spd(K, jnp.zeros(mesh.n_nodes), dirichlet_nodes=bn, dirichlet_values=exact[bn], rtol=1e-12)
    np.testing.assert_allclose(x, exact, atol=1e-10)
    np.testing.assert_array_equal(np.asarray(x)[bn], exact[bn])  # Dirichlet values are imposed exactly
    # an initial guess only changes the iteration count
    x_warm = solve_spd(
        K, jnp.zeros(mesh.n_nodes), dirichlet_nodes=bn, dirichlet_values=exact[bn], rtol=1e-12, x0=exact + 0.01
    )
    np.testing.assert_allclose(x_warm, exact, atol=1e-10)


def test_laplace_solve_keys_and_overlaps():
    mesh = box_mesh(*SHAPE)
    xmin = mesh.surfaces["xmin"].nodes
    ymin = mesh.surfaces["ymin"].nodes
    corner_edge = np.intersect1d(xmin, ymin)
    # the last set wins on shared nodes
    u = np.asarray(laplace_solve(mesh, {"xmin": 0.0, "ymin": 1.0}, rtol=1e-12))
    np.testing.assert_allclose(u[corner_edge], 1.0)
    u = np.asarray(laplace_solve(mesh, {"ymin": 1.0, "xmin": 0.0}, rtol=1e-12))
    np.testing.assert_allclose(u[corner_edge], 0.0)
    # node arrays and node sets as keys; a pre-assembled stiffness is reused
    mesh2 = mesh.replace(node_sets={"far": mesh.surfaces["xmax"].nodes})
    K = assemble_stiffness(P1Geometry.from_mesh(mesh2), 1.0)
    u1 = laplace_solve(mesh2, [(xmin, 0.0), ("far", 2.4)], stiffness=K, rtol=1e-12)
    np.testing.assert_allclose(u1, 2.0 * mesh.points[:, 0], atol=1e-9)
    u2 = laplace_solve(mesh2, {tuple(xmin): 0.0, "far": 2.4}, stiffness=K, rtol=1e-12)
    np.testing.assert_array_equal(u1, u2)
    with pytest.raises(MeshError, match="no surface or node set named 'epi'"):
        laplace_solve(mesh, {"epi": 1.0})
    with pytest.raises(MeshError, match="at least one"):
        laplace_solve(mesh, {})


def test_nonconvergence_raises():
    mesh = box_mesh(*SHAPE)
    K = assemble_stiffness(P1Geometry.from_mesh(mesh), 1.0)
    bn = mesh.surfaces["xmin"].nodes
    b = jnp.ones(mesh.n_nodes)
    with pytest.raises(Exception, match="did not converge"):
        jax.block_until_ready(solve_spd(K, b, dirichlet_nodes=bn, max_steps=3))
    x = solve_spd(K, b, dirichlet_nodes=bn, max_steps=3, throw=False)  # the iterate, no error
    assert np.all(np.isfinite(np.asarray(x)))


# ------------------------------------------------------------------------------------------------ convergence order
@jax.jit
def _mms_l2_error(geom, pattern, D, f_nodal, exact, bnodes):
    K = assemble_stiffness(geom, D, pattern)
    M = assemble_mass(geom, pattern)
    u = solve_spd(K, M @ f_nodal, dirichlet_nodes=bnodes, dirichlet_values=exact[bnodes], rtol=1e-11)
    e = u - exact
    return jnp.sqrt(jnp.dot(e, M @ e))


def test_poisson_converges_at_second_order_in_l2():
    """-div(D grad u) = f, anisotropic D, non-zero Dirichlet data on the whole boundary; ||u_h - I u||_M ~ h²."""
    hs, errors = [], []
    for n in (8, 12, 16):
        mesh = box_mesh(n, n, n)
        geom = P1Geometry.from_mesh(mesh)
        pattern = SparsityPattern.from_mesh(mesh)
        pts = mesh.points
        err = _mms_l2_error(
            geom,
            pattern,
            jnp.asarray(MMS_D),
            jnp.asarray(mms_f(pts)),
            jnp.asarray(mms_u(pts)),
            jnp.asarray(mesh.surfaces["boundary"].nodes),
        )
        errors.append(float(err))
        hs.append(1.0 / n)
    order = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert 1.8 <= order <= 2.3, (order, errors)
    assert errors[-1] < 6e-3


# ------------------------------------------------------------------------------------------------ derivatives
@pytest.fixture(scope="module")
def small():
    mesh = box_mesh(4, 3, 3, 1.0, 0.8, 0.6)
    geom = P1Geometry.from_mesh(mesh)
    pattern = SparsityPattern.from_mesh(mesh)
    fibres = jnp.asarray(random_unit_vectors(mesh.n_cells, seed=7))
    ridx, _ = region_index(mesh.regions)
    return mesh, geom, pattern, fibres, jnp.asarray(ridx)


def _check_gradients(J, args, seed, h=1e-5, rtol=1e-6):
    """Reverse-mode gradients of the scalar J(*args) w.r.t. every argument, along random directions, against central
    differences; and forward mode (jvp) against reverse mode. Three compilations in all."""
    rng = np.random.default_rng(seed)
    dirs = [jnp.asarray(rng.normal(size=np.shape(a))) for a in args]
    J = jax.jit(J)
    grads = jax.jit(jax.grad(J, argnums=tuple(range(len(args)))))(*args)
    for i, (g, d) in enumerate(zip(grads, dirs)):
        plus = [a + h * d if j == i else a for j, a in enumerate(args)]
        minus = [a - h * d if j == i else a for j, a in enumerate(args)]
        fd = (float(J(*plus)) - float(J(*minus))) / (2 * h)
        np.testing.assert_allclose(float(jnp.vdot(g, d)), fd, rtol=rtol, err_msg=f"argument {i}")
    _, tangent = jax.jit(lambda a, d: jax.jvp(J, a, d))(tuple(args), tuple(dirs))
    np.testing.assert_allclose(float(tangent), sum(float(jnp.vdot(g, d)) for g, d in zip(grads, dirs)), rtol=1e-9)
    return grads


def test_energy_gradient_wrt_cell_conductivities_and_fibres(small):
    """J = uᵀ K(σ, f) u for a fixed u: exact derivatives, no solve involved (per-cell and per-region σ, fibres)."""
    mesh, geom, pattern, fibres, ridx = small
    u = jnp.asarray(np.cos(mesh.points[:, 0] * 2) + mesh.points[:, 1] * mesh.points[:, 2])
    c = mesh.n_cells

    def J(sigma_l, sigma_t, f, table):
        sl = sigma_l * region_values(ridx, table[:, 0])
        st = sigma_t * region_values(ridx, table[:, 1])
        K = assemble_stiffness(geom, conductivity_tensors(sl, st, f), pattern)
        return jnp.dot(u, K @ u)

    table = jnp.array([[1.0, 1.0], [0.6, 1.5]])  # per-region factors on (sigma_l, sigma_t)
    _check_gradients(J, (jnp.linspace(0.15, 0.25, c), jnp.full(c, 0.02), fibres, table), seed=0)


def test_solution_gradient_wrt_region_conductivities_fibres_and_data(small):
    """J = u(x_k) + w·u for u solving -div(D grad u) = b with Dirichlet data on two faces, through the CG solve."""
    mesh, geom, pattern, fibres, ridx = small
    n = mesh.n_nodes
    xmin, ymax = mesh.surfaces["xmin"].nodes, mesh.surfaces["ymax"].nodes
    ymax = np.setdiff1d(ymax, xmin)
    nodes = np.concatenate([xmin, ymax])
    k = int(np.argmin(np.linalg.norm(mesh.points - [0.5, 0.4, 0.3], axis=1)))
    w = jnp.asarray(np.random.default_rng(9).uniform(size=n))

    def J(table, f, g, b):
        D = conductivity_tensors(region_values(ridx, table[:, 0]), region_values(ridx, table[:, 1]), f)
        K = assemble_stiffness(geom, D, pattern)
        u = solve_spd(K, b, dirichlet_nodes=nodes, dirichlet_values=g, rtol=1e-13)
        return u[k] + jnp.dot(w, u) / n

    table = jnp.array([[0.2, 0.02], [0.08, 0.04]])
    g = jnp.concatenate([jnp.zeros(xmin.size), jnp.ones(ymax.size)])
    b = jnp.asarray(0.01 * np.random.default_rng(8).uniform(size=n))
    grads = _check_gradients(J, (table, fibres, g, b), seed=10)
    assert float(jnp.abs(grads[0]).min()) > 0  # the solution really depends on every region conductivity


# ------------------------------------------------------------------------------------------------ float32
def test_float32_solve_agrees_with_float64():
    mesh = box_mesh(*SHAPE, fibres=[1.0, 0.5, 0.0])
    D = conductivity_tensors(0.2, 0.05, mesh.fibres)
    fixed = {"xmin": 0.0, "ymax": 1.0, "zmin": 0.5}
    u64 = laplace_solve(mesh, fixed, D=D, rtol=1e-12)
    D32 = conductivity_tensors(0.2, 0.05, mesh.fibres.astype(np.float32))
    u32 = laplace_solve(mesh, fixed, D=D32, dtype=jnp.float32, rtol=1e-6)
    assert u32.dtype == jnp.float32 and u64.dtype == jnp.float64
    rel = float(jnp.abs(u32 - u64).max() / jnp.abs(u64).max())
    assert rel < 1e-5, rel
