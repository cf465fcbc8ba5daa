"""Meshes and analytic/manufactured solutions shared by the tests (and the benchmarks).

`box_mesh` is a structured tetrahedral box: every hexahedron is cut into six tets by the Kuhn (Freudenthal) split, all
sharing the diagonal from the cell's lowest to its highest corner, so neighbouring hexes agree on their face diagonals and the
mesh is conforming. It depends only on numpy and organtwin.Mesh (not on the mesh generators under test elsewhere).
"""

from __future__ import annotations

import itertools

import numpy as np

from organtwin.mesh import Mesh

# The six monotone lattice paths from corner (0,0,0) to (1,1,1) of the unit cube: one tet per permutation of the axes.
_PERMS = list(itertools.permutations(range(3)))


def box_nodes(nx: int, ny: int, nz: int, lx: float, ly: float, lz: float) -> np.ndarray:
    """Node coordinates of the (nx+1)(ny+1)(nz+1) lattice, x fastest."""
    x = np.linspace(0.0, lx, nx + 1)
    y = np.linspace(0.0, ly, ny + 1)
    z = np.linspace(0.0, lz, nz + 1)
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    return np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])


def box_mesh(nx: int, ny: int, nz: int, lx: float = 1.0, ly: float = 1.0, lz: float = 1.0, *, fibres=None) -> Mesh:
    """A conforming box ``[0,lx]×[0,ly]×[0,lz]`` of ``6 nx ny nz`` positively oriented tets.

    Surfaces: ``xmin, xmax, ymin, ymax, zmin, zmax`` and ``boundary`` (all of them). Regions: 1 for x < lx/2, 2 otherwise
    (by cell centroid), so region-wise parameters can be tested. ``fibres`` (3,) gives a constant fibre direction.
    """
    points = box_nodes(nx, ny, nz, lx, ly, lz)

    def nid(i, j, k):
        return i + (nx + 1) * (j + (ny + 1) * k)

    I, J, K = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    I, J, K = I.ravel(), J.ravel(), K.ravel()
    tets = []
    for perm in _PERMS:
        corner = np.zeros(3, dtype=int)
        verts = [nid(I, J, K)]
        for axis in perm:
            corner[axis] += 1
            verts.append(nid(I + corner[0], J + corner[1], K + corner[2]))
        tets.append(np.stack(verts, axis=1))
    tets = np.concatenate(tets, axis=0).astype(np.int64)
    # Orient positively (the parity of the permutation decides the sign).
    p = points[tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    neg = vol < 0
    tets[neg, 2], tets[neg, 3] = tets[neg, 3].copy(), tets[neg, 2].copy()

    centroid_x = points[tets, 0].mean(axis=1)
    regions = np.where(centroid_x < lx / 2, 1, 2)

    # Boundary faces: the tet faces that belong to one tet only.
    faces = np.sort(tets[:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]].reshape(-1, 3), axis=1)
    n = np.int64(len(points))
    keys = (faces[:, 0] * n + faces[:, 1]) * n + faces[:, 2]
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    bfaces = faces[first[counts == 1]]
    fp = points[bfaces]  # (f, 3 nodes, 3 coords)
    surfaces = {"boundary": bfaces}
    lengths = (lx, ly, lz)
    for axis, name in enumerate("xyz"):
        tol = 1e-9 * lengths[axis]
        surfaces[f"{name}min"] = bfaces[np.all(np.abs(fp[:, :, axis]) < tol, axis=1)]
        surfaces[f"{name}max"] = bfaces[np.all(np.abs(fp[:, :, axis] - lengths[axis]) < tol, axis=1)]
    fib = None if fibres is None else np.broadcast_to(np.asarray(fibres, float), (len(tets), 3)).copy()
    return Mesh(
        points, tets.astype(np.int32), regions, fibres=fib, surfaces=surfaces, region_names={1: "left", 2: "right"}
    )


def random_unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------------- manufactured solutions
# -div(D grad u) = f on the unit cube with u given on the whole boundary; D a constant anisotropic SPD tensor.

MMS_D = np.array([[1.0, 0.2, 0.1], [0.2, 0.6, 0.05], [0.1, 0.05, 0.4]])


def mms_u(x: np.ndarray) -> np.ndarray:
    """Smooth exact solution: a sine bump plus a non-homogeneous exponential part (non-zero Dirichlet data)."""
    X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
    return np.sin(np.pi * X) * np.sin(np.pi * Y) * np.sin(np.pi * Z) + np.exp(0.5 * X - 0.3 * Y + 0.2 * Z)


def mms_f(x: np.ndarray, D: np.ndarray = MMS_D) -> np.ndarray:
    """Source ``f = -Σ_ij D_ij ∂_i ∂_j u`` for `mms_u` (Hessian written out by hand)."""
    X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
    pi = np.pi
    s = [np.sin(pi * X), np.sin(pi * Y), np.sin(pi * Z)]
    c = [np.cos(pi * X), np.cos(pi * Y), np.cos(pi * Z)]
    a = np.array([0.5, -0.3, 0.2])
    e = np.exp(a[0] * X + a[1] * Y + a[2] * Z)
    H = np.empty(x.shape[:-1] + (3, 3))
    for i in range(3):
        for j in range(3):
            if i == j:
                bump = -(pi**2) * s[0] * s[1] * s[2]
            else:
                k = 3 - i - j
                bump = pi**2 * c[i] * c[j] * s[k]
            H[..., i, j] = bump + a[i] * a[j] * e
    return -np.einsum("ij,...ij->...", D, H)
