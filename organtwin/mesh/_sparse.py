"""Sparse P1 matrices in ELL (ELLPACK) layout: a fixed sparsity pattern built once on the host, values as a JAX array.

Every row ``i`` of an ``n × n`` matrix with at most ``w`` non-zeros per row is stored as ``w`` (column, value) pairs; short
rows are padded with the row's own index and a zero value (so padding is harmless in a matvec and in `EllMatrix.diagonal`).
For P1 tets on a structured mesh ``w = 15``; unstructured meshes have a few more.

The storage is slot-major ("column-major ELL", as ELLPACK is stored on GPUs): ``cols[k, i]`` and ``values[k, i]`` hold the
k-th entry of row i, arrays of shape (width, nodes). The matvec is ``Σ_k values[k] * x[cols[k]]``: ``w`` contiguous
gathers and fused multiply-adds, which XLA compiles to one loop on CPU (and the coalesced layout on GPUs). On a 2-core CPU
it measured 1.5–2.6× faster than the row-major ``(values * x[cols]).sum(-1)`` (nodes, width) layout, faster than CSR with
``segment_sum`` and than element-by-element scatter, and between about 2× slower than and 1.3× faster than scipy's CSR;
see ``benchmarks/matvec.py`` and ``benchmarks/RESULTS.md``.

Assembly scatters the (cells, 4, 4) element matrices into ``values`` through ``pattern.slot`` (the flat ELL position of every
element-local pair ``(a, b)``), so assembling is differentiable w.r.t. the element matrices (and hence w.r.t. conductivities,
fibres and points).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InputError, MeshError
from ._fem import P1Geometry, element_mass, element_stiffness

__all__ = ["SparsityPattern", "EllMatrix", "ell_matvec", "assemble", "assemble_stiffness", "assemble_mass"]


class SparsityPattern(eqx.Module):
    """The ELL sparsity pattern of P1 matrices on a tetrahedral mesh (final).

    Attributes:
        cols: (width, nodes) int32; ``cols[:, i]`` are the columns of row i (ascending, then padding with i itself).
        slot: (cells, 16) int32 flat index into the flattened (width * nodes) value array of the element-local pair
            ``(a, b)`` at position ``4 a + b`` (flat index ``k * nodes + i`` for slot k of row i).
        n_nodes: number of rows (static).
        width: non-zeros per row after padding (static).
    """

    cols: Int[Array, "width nodes"]
    slot: Int[Array, "cells 16"]
    n_nodes: int = eqx.field(static=True)
    width: int = eqx.field(static=True)

    @classmethod
    def from_tets(cls, tets: Int[ArrayLike, "cells 4"], n_nodes: int | None = None) -> "SparsityPattern":
        """Build the pattern on the host (vectorised numpy, two sorts: about 1 s for 1M tets on one core).

        Nodes not referenced by any tet get an empty row (all padding, zero diagonal).
        """
        tets = np.asarray(tets)
        if tets.ndim != 2 or tets.shape[1] != 4:
            raise MeshError(f"tets must have shape (cells, 4), got {tets.shape}")
        tets = tets.astype(np.int64)
        n = int(tets.max()) + 1 if n_nodes is None else int(n_nodes)
        if tets.size and (tets.min() < 0 or tets.max() >= n):
            raise MeshError(f"tets refer to node indices outside 0..{n - 1}")
        c = tets.shape[0]
        # Unique undirected edges (6 per tet) from one sort of 6c keys, then the directed entries (both directions of
        # every edge plus the diagonal of every referenced node) ordered by (row, column) with one more sort.
        pa, pb = np.triu_indices(4, k=1)  # the 6 local edges (a < b)
        ta, tb = tets[:, pa], tets[:, pb]
        lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
        ekeys, einv = np.unique((lo * n + hi).reshape(-1), return_inverse=True)
        einv = einv.reshape(c, 6)
        elo, ehi = np.divmod(ekeys, n)
        n_edges = ekeys.size
        referenced = np.zeros(n, dtype=bool)
        referenced[tets.reshape(-1)] = True
        dnodes = np.flatnonzero(referenced)
        rows = np.concatenate([elo, ehi, dnodes])
        colidx = np.concatenate([ehi, elo, dnodes])
        order = np.argsort(rows * n + colidx)
        counts = np.bincount(rows, minlength=n)
        width = max(int(counts.max()) if counts.size else 1, 1)
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        pos = np.empty(rows.size, dtype=np.int64)
        pos[order] = np.arange(rows.size, dtype=np.int64) - start[rows[order]]
        flat = pos * n + rows  # slot-major flat index of every directed entry
        cols = np.tile(np.arange(n, dtype=np.int64), width)
        cols[flat] = colidx
        cols = cols.reshape(width, n)
        # Element-local pair (a, b) -> flat index: the diagonal entry of the node, or one direction of the edge.
        diag_entry = np.full(n, -1, dtype=np.int64)
        diag_entry[dnodes] = 2 * n_edges + np.arange(dnodes.size)
        slot = np.empty((c, 16), dtype=np.int64)
        for a in range(4):
            slot[:, 5 * a] = flat[diag_entry[tets[:, a]]]
        forward = ta < tb  # (c, 6): the (a, b) entry is (lo, hi), i.e. edge entry e; else the reversed entry E + e
        for k, (a, b) in enumerate(zip(pa, pb)):
            e = einv[:, k]
            slot[:, 4 * a + b] = flat[np.where(forward[:, k], e, n_edges + e)]
            slot[:, 4 * b + a] = flat[np.where(forward[:, k], n_edges + e, e)]
        if n * width >= 2**31:
            raise MeshError(f"the matrix is too large for int32 ELL indices ({n} rows × {width})")
        return cls(jnp.asarray(cols, dtype=jnp.int32), jnp.asarray(slot, dtype=jnp.int32), n, width)

    @classmethod
    def from_mesh(cls, mesh) -> "SparsityPattern":
        return cls.from_tets(mesh.tets, mesh.n_nodes)

    @property
    def n_cells(self) -> int:
        return int(self.slot.shape[0])

    def nnz(self) -> int:
        """Number of structural non-zeros (host; excludes padding)."""
        return int(np.unique(np.asarray(self.slot)).size)


class EllMatrix(eqx.Module):
    """A square sparse matrix in slot-major ELL layout: ``pattern`` plus ``values`` (width, nodes) (final).

    Use ``A @ x`` or ``A.matvec(x)`` for products (``x`` of shape (n,) or (n, k)); ``A.diagonal()``; ``A.to_scipy()`` for a
    host CSR copy. Matrices on the same pattern combine linearly: ``M + dt * K``.
    """

    pattern: SparsityPattern
    values: Float[Array, "width nodes"]

    def __check_init__(self):
        if self.values.shape != (self.pattern.width, self.pattern.n_nodes):
            raise InputError(
                f"EllMatrix values must have shape (width, nodes) = ({self.pattern.width}, {self.pattern.n_nodes}), "
                f"got {self.values.shape}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.pattern.n_nodes, self.pattern.n_nodes)

    @property
    def dtype(self):
        return self.values.dtype

    def matvec(self, x: Float[ArrayLike, "nodes *k"]) -> Float[Array, "nodes *k"]:  # noqa: F821 (jaxtyping shapes)
        """``A x`` for x of shape (n,) or (n, k) (jit-able, differentiable in ``values`` and ``x``)."""
        return ell_matvec(self.values, self.pattern.cols, jnp.asarray(x))

    def __matmul__(self, x):
        return self.matvec(x)

    def diagonal(self) -> Float[Array, " nodes"]:
        """The diagonal (padding holds zeros, so summing every own-index slot is exact)."""
        own = self.pattern.cols == jnp.arange(self.pattern.n_nodes, dtype=self.pattern.cols.dtype)[None, :]
        return jnp.sum(jnp.where(own, self.values, 0), axis=0)

    def with_values(self, values) -> "EllMatrix":
        return EllMatrix(self.pattern, values)

    def _same(self, other: "EllMatrix") -> None:
        if (other.pattern.n_nodes, other.pattern.width) != (self.pattern.n_nodes, self.pattern.width):
            raise InputError("EllMatrix: cannot combine matrices on different sparsity patterns")

    def __add__(self, other):
        if isinstance(other, EllMatrix):
            self._same(other)
            return EllMatrix(self.pattern, self.values + other.values)
        return NotImplemented

    def __sub__(self, other):
        if isinstance(other, EllMatrix):
            self._same(other)
            return EllMatrix(self.pattern, self.values - other.values)
        return NotImplemented

    def __mul__(self, scalar):
        if isinstance(scalar, EllMatrix):
            return NotImplemented
        return EllMatrix(self.pattern, self.values * scalar)

    __rmul__ = __mul__

    def __neg__(self):
        return EllMatrix(self.pattern, -self.values)

    def todense(self) -> Float[Array, "nodes nodes"]:
        """Dense copy (small matrices only: tests)."""
        n = self.pattern.n_nodes
        rows = jnp.broadcast_to(jnp.arange(n)[None, :], self.pattern.cols.shape)
        return jnp.zeros((n, n), self.values.dtype).at[rows, self.pattern.cols].add(self.values)

    def to_scipy(self):
        """Host scipy.sparse CSR copy with the same structural non-zeros as the pattern (padding folded into the diagonal)."""
        import scipy.sparse as sp

        n, w = self.pattern.n_nodes, self.pattern.width
        values = np.asarray(self.values)
        rows = np.tile(np.arange(n), w)
        A = sp.csr_matrix((values.reshape(-1), (rows, np.asarray(self.pattern.cols).reshape(-1))), shape=(n, n))
        A.sum_duplicates()
        return A


@jax.jit
def ell_matvec(
    values: Float[Array, "width nodes"],
    cols: Int[Array, "width nodes"],
    x: Float[Array, "nodes *k"],  # noqa: F821
) -> Float[Array, "nodes *k"]:  # noqa: F821 (jaxtyping shapes, not Python names)
    """``y = Σ_k values[k] * x[cols[k]]`` (slot-major ELL product), unrolled over the (static) width.

    Indices are valid by construction (`SparsityPattern.from_tets` checks them), so the gathers skip bounds handling.
    """
    extra = (None,) * (x.ndim - 1)
    y = None
    for k in range(values.shape[0]):
        term = values[k][(...,) + extra] * x.at[cols[k]].get(mode="promise_in_bounds")
        y = term if y is None else y + term
    assert y is not None  # width >= 1
    return y


@jax.jit
def assemble(pattern: SparsityPattern, Ke: Float[ArrayLike, "cells 4 4"]) -> EllMatrix:
    """Sum element matrices (cells, 4, 4) into an `EllMatrix` on ``pattern`` (differentiable w.r.t. ``Ke``)."""
    Ke = jnp.asarray(Ke)
    if Ke.shape != (pattern.n_cells, 4, 4):
        raise InputError(f"assemble: element matrices must have shape ({pattern.n_cells}, 4, 4), got {Ke.shape}")
    n, w = pattern.n_nodes, pattern.width
    values = jax.ops.segment_sum(Ke.reshape(-1), pattern.slot.reshape(-1), num_segments=n * w)
    return EllMatrix(pattern, values.reshape(w, n))


def _pattern_for(geom: P1Geometry, pattern: SparsityPattern | None) -> SparsityPattern:
    if pattern is not None:
        return pattern
    try:
        tets = np.asarray(geom.tets)
    except jax.errors.TracerArrayConversionError:
        raise InputError(
            "assemble_*: pass a SparsityPattern when calling under jit (it is built on the host)"
        ) from None
    return SparsityPattern.from_tets(tets, geom.n_nodes)


def assemble_stiffness(geom: P1Geometry, D, pattern: SparsityPattern | None = None) -> EllMatrix:
    """The P1 stiffness matrix of ``-div(D grad u)``; ``D`` as in `element_stiffness`. Builds the pattern if not given."""
    return assemble(_pattern_for(geom, pattern), element_stiffness(geom, D))


def assemble_mass(geom: P1Geometry, pattern: SparsityPattern | None = None) -> EllMatrix:
    """The consistent P1 mass matrix."""
    return assemble(_pattern_for(geom, pattern), element_mass(geom))
