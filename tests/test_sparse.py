"""ELL sparse matrices (organtwin.mesh._sparse) against scipy CSR assembled independently from the element matrices."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from problems import box_mesh, random_unit_vectors

from organtwin import MeshError
from organtwin.mesh import (
    EllMatrix,
    P1Geometry,
    SparsityPattern,
    assemble,
    assemble_mass,
    assemble_stiffness,
    conductivity_tensors,
    element_mass,
    element_stiffness,
)


def scipy_assemble(tets: np.ndarray, Ke: np.ndarray, n: int) -> sp.csr_matrix:
    """Reference assembly: COO triplets (duplicates summed by scipy)."""
    rows = np.repeat(tets, 4, axis=1).reshape(-1)
    cols = np.tile(tets, (1, 4)).reshape(-1)
    return sp.coo_matrix((np.asarray(Ke).reshape(-1), (rows, cols)), shape=(n, n)).tocsr()


@pytest.fixture(scope="module")
def setup():
    mesh = box_mesh(6, 5, 4, 1.2, 1.0, 0.8)
    geom = P1Geometry.from_mesh(mesh)
    pattern = SparsityPattern.from_mesh(mesh)
    D = conductivity_tensors(0.2, 0.03, random_unit_vectors(mesh.n_cells, seed=5))
    Ke = element_stiffness(geom, D)
    return mesh, geom, pattern, D, Ke


def test_pattern_layout(setup):
    mesh, _, pattern, _, _ = setup
    n = mesh.n_nodes
    assert pattern.width == 15  # Kuhn-split structured mesh: an interior node has 14 neighbours
    assert pattern.cols.shape == (15, n) and pattern.cols.dtype == jnp.int32
    assert pattern.slot.shape == (mesh.n_cells, 16) and pattern.slot.dtype == jnp.int32
    cols = np.asarray(pattern.cols)
    # each row: its graph neighbours (and itself) once, padded with its own index
    ref = scipy_assemble(mesh.tets, np.ones((mesh.n_cells, 4, 4)), n)
    for i in (0, n // 2, n - 1):
        row = cols[:, i]
        true = np.sort(ref.indices[ref.indptr[i] : ref.indptr[i + 1]])
        np.testing.assert_array_equal(row[: true.size], true)
        assert np.all(row[true.size :] == i)
    assert pattern.nnz() == ref.nnz
    # slots address distinct positions per (row, col) pair and agree between elements sharing the pair
    slot = np.asarray(pattern.slot)
    a, b = np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)
    row_of_slot = slot % n
    np.testing.assert_array_equal(row_of_slot, mesh.tets[:, a])
    np.testing.assert_array_equal(cols.reshape(-1)[slot], mesh.tets[:, b])


def test_ell_matvec_equals_scipy_csr(setup):
    mesh, _, pattern, _, Ke = setup
    A = assemble(pattern, Ke)
    ref = scipy_assemble(mesh.tets, np.asarray(Ke), mesh.n_nodes)
    rng = np.random.default_rng(0)
    x = rng.normal(size=mesh.n_nodes)
    scale = np.abs(ref).max() * np.abs(x).max()
    np.testing.assert_allclose(A @ x, ref @ x, atol=1e-14 * scale)
    np.testing.assert_allclose(jax.jit(lambda A, x: A.matvec(x))(A, x), ref @ x, atol=1e-14 * scale)
    X = rng.normal(size=(mesh.n_nodes, 3))
    np.testing.assert_allclose(A @ X, ref @ X, atol=1e-14 * np.abs(ref).max() * np.abs(X).max())
    np.testing.assert_allclose(A.diagonal(), ref.diagonal(), rtol=1e-14)
    np.testing.assert_allclose((A.to_scipy() - ref).toarray(), 0.0, atol=1e-15 * np.abs(ref).max())
    np.testing.assert_allclose(A.todense(), ref.toarray(), atol=1e-15 * np.abs(ref).max())
    # the stiffness rows sum to zero, the matrix is symmetric
    np.testing.assert_allclose(A @ np.ones(mesh.n_nodes), 0.0, atol=1e-14 * np.abs(ref).max())
    np.testing.assert_allclose((ref - ref.T).toarray(), 0.0, atol=1e-16)


def test_mass_and_linear_combinations(setup):
    mesh, geom, pattern, D, Ke = setup
    M = assemble_mass(geom, pattern)
    K = assemble_stiffness(geom, D, pattern)
    refM = scipy_assemble(mesh.tets, np.asarray(element_mass(geom)), mesh.n_nodes)
    refK = scipy_assemble(mesh.tets, np.asarray(Ke), mesh.n_nodes)
    x = np.random.default_rng(1).normal(size=mesh.n_nodes)
    np.testing.assert_allclose(float(jnp.sum(M @ jnp.ones(mesh.n_nodes))), 1.2 * 1.0 * 0.8, rtol=1e-13)
    for A, ref in ((M + 0.1 * K, refM + 0.1 * refK), (M - K, refM - refK), (-K * 2.0, -2 * refK)):
        np.testing.assert_allclose(A @ x, ref @ x, atol=1e-13)
    # assembling without a pattern builds one
    np.testing.assert_allclose(assemble_stiffness(geom, D) @ x, refK @ x, atol=1e-13)


def test_assembly_is_differentiable_in_element_matrices(setup):
    mesh, _, pattern, _, Ke = setup
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=mesh.n_nodes), rng.normal(size=mesh.n_nodes)
    grad = jax.grad(lambda K: jnp.dot(y, assemble(pattern, K) @ x))(Ke)
    t = mesh.tets
    np.testing.assert_allclose(grad, y[t][:, :, None] * x[t][:, None, :], rtol=1e-13)
    # and in x, through the ELL gathers (transposed product)
    A = assemble(pattern, Ke)
    gx = jax.grad(lambda v: jnp.dot(y, A @ v))(jnp.asarray(x))
    np.testing.assert_allclose(gx, A.to_scipy().T @ y, atol=1e-13)


def test_float32_matvec(setup):
    mesh, geom, pattern, D, Ke = setup
    A32 = assemble(pattern, Ke.astype(jnp.float32))
    x = np.random.default_rng(3).normal(size=mesh.n_nodes)
    y32 = A32 @ jnp.asarray(x, jnp.float32)
    assert y32.dtype == jnp.float32
    ref = scipy_assemble(mesh.tets, np.asarray(Ke), mesh.n_nodes) @ x
    assert np.abs(np.asarray(y32) - ref).max() / np.abs(ref).max() < 1e-5


def test_unreferenced_nodes_and_bad_input():
    tets = np.array([[0, 1, 2, 3]])
    p = SparsityPattern.from_tets(tets, n_nodes=6)
    assert p.cols.shape == (4, 6)
    np.testing.assert_array_equal(np.asarray(p.cols)[:, 5], 5)  # an empty row is all padding
    A = EllMatrix(p, jnp.zeros((4, 6)))
    np.testing.assert_array_equal(A.diagonal(), 0.0)
    with pytest.raises(MeshError, match="outside"):
        SparsityPattern.from_tets(tets, n_nodes=3)
    with pytest.raises(ValueError, match="values must have shape"):
        EllMatrix(p, jnp.zeros((6, 4)))
    with pytest.raises(ValueError, match="element matrices"):
        assemble(p, jnp.zeros((2, 4, 4)))


def test_pattern_build_is_vectorised():
    """A 96k-tet pattern in well under a second per 100k tets (1M tets in a few seconds: see benchmarks/matvec.py)."""
    mesh = box_mesh(40, 40, 10, 4.0, 4.0, 1.0)
    t0 = time.perf_counter()
    p = SparsityPattern.from_mesh(mesh)
    elapsed = time.perf_counter() - t0
    assert p.width == 15
    assert elapsed < 3.0, elapsed
