"""P1 finite elements (organtwin.mesh._fem): unit facts, exactness on linear fields, tensors, float32, derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import central_difference, unchecked
from problems import box_mesh, random_unit_vectors

from organtwin import MeshError
from organtwin.mesh import (
    P1Geometry,
    cell_gradient,
    conductivity_tensors,
    element_mass,
    element_stiffness,
    lumped_mass,
    p1_geometry,
    region_index,
    region_values,
)

L = (2.0, 1.5, 0.75)


@pytest.fixture(scope="module")
def mesh():
    m = box_mesh(5, 4, 3, *L)
    # Perturb interior nodes so the tets are not all right-angled (a generic, still valid mesh).
    rng = np.random.default_rng(1)
    pts = m.points.copy()
    interior = np.all((pts > 1e-9) & (pts < np.array(L) - 1e-9), axis=1)
    pts[interior] += 0.08 * rng.uniform(-1, 1, size=(interior.sum(), 3)) * np.array(L) / np.array([5, 4, 3])
    return m.replace(points=pts)


@pytest.fixture(scope="module")
def geom(mesh):
    return P1Geometry.from_mesh(mesh)


def test_geometry_shapes_and_dtype(mesh, geom):
    c = mesh.n_cells
    assert geom.grads.shape == (c, 4, 3) and geom.volumes.shape == (c,) and geom.tets.shape == (c, 4)
    assert geom.tets.dtype == jnp.int32 and geom.n_nodes == mesh.n_nodes
    assert geom.volumes.dtype == jnp.float64
    np.testing.assert_allclose(geom.volumes, mesh.cell_volumes(), rtol=1e-13)
    leaves = jax.tree_util.tree_leaves(geom)
    assert any(leaf is geom.tets for leaf in leaves)  # connectivity is a traced leaf, not static


def test_mass_sums_to_volume(geom):
    vol = np.prod(L)
    np.testing.assert_allclose(float(jnp.sum(geom.volumes)), vol, rtol=1e-13)
    ml = lumped_mass(geom)
    np.testing.assert_allclose(float(jnp.sum(ml)), vol, rtol=1e-13)
    Me = element_mass(geom)
    np.testing.assert_allclose(float(jnp.sum(Me)), vol, rtol=1e-13)
    # lumped = row sums of the consistent mass
    rows = jax.ops.segment_sum(jnp.sum(Me, axis=2).reshape(-1), geom.tets.reshape(-1), num_segments=geom.n_nodes)
    np.testing.assert_allclose(ml, rows, rtol=1e-13)


def test_consistent_mass_integrates_linear_products(mesh, geom):
    Me = np.asarray(element_mass(geom))
    x, y = mesh.points[:, 0], mesh.points[:, 1]
    t = mesh.tets
    integral = np.einsum("ca,cab,cb->", x[t], Me, y[t])
    exact = (L[0] ** 2 / 2) * (L[1] ** 2 / 2) * L[2]
    np.testing.assert_allclose(integral, exact, rtol=1e-12)


def test_gradients_of_linear_fields_are_exact(mesh, geom):
    a = np.array([0.3, -1.2, 2.5])
    u = mesh.points @ a + 0.7
    np.testing.assert_allclose(cell_gradient(geom, u), np.broadcast_to(a, (mesh.n_cells, 3)), atol=1e-12)
    # basis gradients sum to zero (constants have no gradient)
    np.testing.assert_allclose(jnp.sum(geom.grads, axis=1), 0.0, atol=1e-12)
    # several fields at once
    U = np.stack([u, 2 * u], axis=1)
    np.testing.assert_allclose(cell_gradient(geom, U)[:, :, 1], 2 * np.broadcast_to(a, (mesh.n_cells, 3)), atol=1e-12)


def test_element_stiffness_rows_sum_to_zero_and_energy_is_exact(mesh, geom):
    f = random_unit_vectors(mesh.n_cells, seed=2)
    sl = jnp.linspace(0.1, 0.3, mesh.n_cells)
    D = conductivity_tensors(sl, 0.02, f)
    Ke = element_stiffness(geom, D)
    assert Ke.shape == (mesh.n_cells, 4, 4)
    np.testing.assert_allclose(jnp.sum(Ke, axis=2), 0.0, atol=1e-13 * float(jnp.abs(Ke).max()))
    np.testing.assert_allclose(Ke, jnp.swapaxes(Ke, 1, 2), atol=1e-15)
    # energy of a linear field: u^T K u = Σ |T| a^T D a
    a = np.array([0.5, -0.25, 1.0])
    u = mesh.points @ a
    t = mesh.tets
    energy = np.einsum("ca,cab,cb->", u[t], np.asarray(Ke), u[t])
    exact = np.einsum("c,i,cij,j->", np.asarray(geom.volumes), a, np.asarray(D), a)
    np.testing.assert_allclose(energy, exact, rtol=1e-12)


def test_element_stiffness_accepts_scalar_cell_and_tensor(geom):
    c = geom.n_cells
    K1 = element_stiffness(geom, 0.5)
    np.testing.assert_allclose(element_stiffness(geom, jnp.full(c, 0.5)), K1, rtol=1e-14)
    np.testing.assert_allclose(element_stiffness(geom, 0.5 * jnp.eye(3)), K1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        element_stiffness(geom, jnp.broadcast_to(0.5 * jnp.eye(3), (c, 3, 3))), K1, rtol=1e-12, atol=1e-14
    )
    with pytest.raises(ValueError, match="D must be"):
        element_stiffness(geom, jnp.ones((c, 2, 2)))


def test_conductivity_tensors():
    f = np.array([[3.0, 0.0, 4.0], [0.0, 2.0, 0.0]])  # not normalised
    D = np.asarray(conductivity_tensors(0.2, 0.05, f))
    fu = f / np.linalg.norm(f, axis=1, keepdims=True)
    np.testing.assert_allclose(np.einsum("cij,cj->ci", D, fu), 0.2 * fu, atol=1e-15)
    perp = np.cross(fu, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(np.einsum("cij,cj->ci", D, perp), 0.05 * perp, atol=1e-15)
    # per-cell conductivities
    D2 = np.asarray(conductivity_tensors(jnp.array([0.2, 0.4]), jnp.array([0.05, 0.1]), f))
    np.testing.assert_allclose(D2[1], 2 * D[1], rtol=1e-14)
    # orthotropic: f, s, n = f x s are the eigenvectors
    s = np.array([[4.0, 0.0, -3.0], [1.0, 0.5, 0.0]])  # second is not orthogonal to its fibre: made orthogonal inside
    Do = np.asarray(conductivity_tensors(0.2, 0.05, f, sigma_n=0.01, sheets=s))
    su = s - np.sum(s * fu, axis=1, keepdims=True) * fu
    su /= np.linalg.norm(su, axis=1, keepdims=True)
    nu = np.cross(fu, su)
    for vec, sig in ((fu, 0.2), (su, 0.05), (nu, 0.01)):
        np.testing.assert_allclose(np.einsum("cij,cj->ci", Do, vec), sig * vec, atol=1e-15)
    # isotropic without fibres; a zero fibre gives sigma_t I
    np.testing.assert_allclose(conductivity_tensors(0.3, 0.1), 0.3 * np.eye(3))
    np.testing.assert_allclose(conductivity_tensors(jnp.array([0.3, 0.1]), 0.0).shape, (2, 3, 3))
    np.testing.assert_allclose(conductivity_tensors(0.3, 0.1, np.zeros((1, 3)))[0], 0.1 * np.eye(3))
    g = jax.grad(lambda v: jnp.sum(conductivity_tensors(0.3, 0.1, v)))(jnp.zeros((1, 3)))
    assert np.all(np.isfinite(g))
    with pytest.raises(ValueError, match="sheet"):
        conductivity_tensors(0.3, 0.1, f, sigma_n=0.01)


def test_region_values(mesh):
    idx, ids = region_index(mesh.regions)
    assert ids.tolist() == [1, 2]
    np.testing.assert_array_equal(ids[idx], mesh.regions)
    table = jnp.array([0.1, 0.4])
    vals = region_values(idx, table)
    np.testing.assert_allclose(vals, np.where(mesh.regions == 1, 0.1, 0.4))
    g = jax.grad(lambda t: jnp.sum(region_values(idx, t) ** 2))(table)
    np.testing.assert_allclose(g, [2 * 0.1 * np.sum(mesh.regions == 1), 2 * 0.4 * np.sum(mesh.regions == 2)])
    idx2, _ = region_index(mesh.regions, ids=[2, 1])
    np.testing.assert_array_equal(np.array([2, 1])[idx2], mesh.regions)
    with pytest.raises(MeshError, match="no entry"):
        region_index(mesh.regions, ids=[1])


def test_float32_follows_inputs_and_agrees(mesh):
    g64 = P1Geometry.from_mesh(mesh)
    g32 = P1Geometry.from_mesh(mesh, dtype=jnp.float32)
    assert g32.grads.dtype == jnp.float32 and g32.volumes.dtype == jnp.float32
    f = random_unit_vectors(mesh.n_cells, seed=3)
    K64 = element_stiffness(g64, conductivity_tensors(0.2, 0.05, f))
    K32 = element_stiffness(g32, conductivity_tensors(0.2, 0.05, f.astype(np.float32)))
    assert K32.dtype == jnp.float32
    assert float(jnp.abs(K32 - K64).max() / jnp.abs(K64).max()) < 1e-5
    assert lumped_mass(g32).dtype == jnp.float32 and element_mass(g32).dtype == jnp.float32


def test_geometry_is_differentiable_in_points(mesh):
    """d/dpoints of the stiffness energy of a fixed nodal field, against central differences."""
    u = jnp.asarray(np.sin(mesh.points[:, 0]) + mesh.points[:, 1] ** 2)
    tets = mesh.tets

    def energy(points):
        g = p1_geometry(points, tets)
        Ke = element_stiffness(g, 0.7)
        return jnp.einsum("ca,cab,cb->", u[g.tets], Ke, u[g.tets]) + jnp.sum(lumped_mass(g) * u)

    p0 = jnp.asarray(mesh.points)
    direction = jnp.asarray(np.random.default_rng(4).normal(size=p0.shape)) * 0.1
    grad = jax.jit(jax.grad(energy))(p0)
    h = 1e-5
    fd = central_difference(energy, p0, direction, h)
    np.testing.assert_allclose(float(jnp.vdot(grad, direction)), float(fd), rtol=1e-6)


def test_bad_shapes_raise():
    with unchecked(), pytest.raises(MeshError, match="points"):
        p1_geometry(np.zeros((4, 2)), np.zeros((1, 4), int))
    with unchecked(), pytest.raises(MeshError, match="tets"):
        p1_geometry(np.zeros((4, 3)), np.zeros((1, 3), int))
