"""The `Tissue`: geometry, conductivities and ionic models of a monodomain problem, as one pytree of arrays.

Built once from a `Mesh` on the host (`Tissue.from_mesh`): P1 geometry and the ELL sparsity pattern are computed here, once;
everything a simulation differentiates is an array field: conductivities per region (and optionally per cell), chi, Cm,
the parameters of every ionic model. Connectivity (tets, region index per cell, node groups per model) is integer arrays.

Units at this edge: conductivity S/m, chi 1/mm, Cm µF/cm². The diffusion tensor of ``dV/dt = div(D grad V) + ...`` is
``D = sigma / (chi Cm)``, and in mm²/ms: S/m / (1/mm · µF/cm²) = 100 mm²/ms, i.e. ``D[mm²/ms] = 100 sigma / (chi Cm)``
(sigma 0.1334 S/m, chi 140 /mm, Cm 1 µF/cm² gives 0.0953 mm²/ms).
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._errors import InputError
from ..ionic import AbstractIonicModel
from ..mesh import Mesh, P1Geometry, SparsityPattern, conductivity_tensors, region_index, require_usable_directions

__all__ = ["Conductivity", "Tissue"]


def _param(x):
    if isinstance(x, (int, float)):
        return jnp.asarray(float(x))
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


class Conductivity(eqx.Module):
    """Monodomain conductivities of one tissue region, S/m (final).

    ``sigma_l`` along the fibre, ``sigma_t`` across it (along the sheet when ``sigma_n`` is given), ``sigma_n`` along the
    sheet normal (orthotropic; needs sheet directions on the mesh). ``Conductivity(s)`` alone is isotropic.
    """

    sigma_l: Array = eqx.field(converter=_param)
    sigma_t: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _param(x))
    sigma_n: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _param(x))

    def __check_init__(self):
        for name in ("sigma_l", "sigma_t", "sigma_n"):
            v = getattr(self, name)
            if (
                v is not None
                and not isinstance(v, jax.core.Tracer)
                and not bool(np.all((np.asarray(v) > 0) & np.isfinite(np.asarray(v))))
            ):
                raise InputError(f"Conductivity.{name} must be positive and finite (S/m), got {np.asarray(v).tolist()}")
            if v is not None and jnp.ndim(v) != 0:
                raise InputError(f"Conductivity.{name} must be a scalar (S/m); use Tissue(sigma_cells=...) per cell")

    @classmethod
    def harmonic_mean(cls, intra: "Conductivity", extra: "Conductivity") -> "Conductivity":
        """The monodomain conductivity ``sigma_i sigma_e / (sigma_i + sigma_e)`` per direction (bidomain -> monodomain)."""

        def h(a, b):
            if (a is None) != (b is None):
                raise InputError("Conductivity.harmonic_mean: intra- and extracellular must give the same directions")
            return None if a is None else a * b / (a + b)

        return cls(h(intra.sigma_l, extra.sigma_l), h(intra.sigma_t, extra.sigma_t), h(intra.sigma_n, extra.sigma_n))

    def columns(self, k: int) -> list:
        """(l, t[, n]) with missing directions filled in (t = l; n = t)."""
        t = self.sigma_l if self.sigma_t is None else self.sigma_t
        cols = [self.sigma_l, t]
        if k == 3:
            cols.append(t if self.sigma_n is None else self.sigma_n)
        return cols


def _is_isotropic(c: Conductivity) -> bool:
    vals = [c.sigma_l] + [v for v in (c.sigma_t, c.sigma_n) if v is not None]
    if any(isinstance(v, jax.core.Tracer) for v in vals):
        return False
    return all(np.allclose(np.asarray(v), np.asarray(c.sigma_l), rtol=0, atol=0) for v in vals)


class Tissue(eqx.Module):
    """Geometry, conductivities and ionic models of a monodomain problem (final). Build it with `Tissue.from_mesh`.

    Attributes:
        points: (nodes, 3) mm (for stimulus regions and probes).
        geometry: the P1 geometry (basis gradients, volumes, tets), computed once.
        pattern: the ELL sparsity pattern of the P1 matrices, built once.
        fibres, sheets: (cells, 3) unit directions or None.
        cell_region: (cells,) int index into the region table (``region_ids[cell_region[c]]`` is the mesh region id).
        region_ids: the mesh region ids of the table rows (static).
        sigma: (regions, k) conductivities in S/m, columns (l, t) or (l, t, n) (k = 3 for orthotropic tissue).
        sigma_cells: optional (cells, k) per-cell conductivities in S/m that replace ``sigma`` (e.g. scar, or a
            calibration per cell; see `with_nodal_conductivity` for per-node values).
        chi: surface-to-volume ratio, 1/mm (default 140).
        Cm: membrane capacitance, µF/cm² (default 1).
        models: one ionic model per distinct model group.
        model_nodes: for every model, the node indices it runs on (the groups partition the nodes).
        surfaces: named surfaces as node index arrays (for stimuli).
        node_sets: named node sets (for stimuli).

    Which model a node shared by several regions takes: the model of the region with the largest share of the node's
    (lumped) volume, i.e. the region whose tets hold most of the volume around the node; ties go to the region listed
    first in the region table (the smallest id). This is the volume-weighted majority of openCARP's per-node assignment.
    """

    points: Float[Array, "nodes 3"]
    geometry: P1Geometry
    pattern: SparsityPattern
    fibres: Float[Array, "cells 3"] | None
    sheets: Float[Array, "cells 3"] | None
    cell_region: Int[Array, " cells"]
    sigma: Float[Array, "regions k"]
    sigma_cells: Float[Array, "cells k"] | None
    chi: Array
    Cm: Array
    models: tuple
    model_nodes: tuple
    surfaces: dict
    node_sets: dict
    region_ids: tuple = eqx.field(static=True)

    def __check_init__(self):
        if len(self.models) != len(self.model_nodes):
            raise InputError("Tissue: one node group per model is needed")
        for m in self.models:
            if not isinstance(m, AbstractIonicModel):
                raise TypeError(f"Tissue: ionic models must be AbstractIonicModel instances, got {type(m).__name__}")
        if self.sigma.ndim != 2 or self.sigma.shape[1] not in (2, 3) or self.sigma.shape[0] != len(self.region_ids):
            raise InputError(f"Tissue: sigma must have shape (regions, 2 or 3), got {self.sigma.shape}")
        if self.sigma.shape[1] == 3 and (self.fibres is None or self.sheets is None):
            raise InputError("Tissue: orthotropic conductivity (sigma_n) needs fibre and sheet directions")
        if self.sigma_cells is not None and self.sigma_cells.shape != (self.n_cells, self.sigma.shape[1]):
            raise InputError(
                f"Tissue: sigma_cells must have shape (cells, {self.sigma.shape[1]}) = ({self.n_cells}, "
                f"{self.sigma.shape[1]}), got {self.sigma_cells.shape}"
            )

    # ------------------------------------------------------------------------------------------------ construction
    @classmethod
    def from_mesh(
        cls,
        mesh: Mesh,
        conductivity: Conductivity | Mapping[int, Conductivity],
        model: AbstractIonicModel | Mapping[int, AbstractIonicModel],
        *,
        chi: float = 140.0,
        Cm: float = 1.0,
        sigma_cells=None,
        dtype=None,
    ) -> "Tissue":
        """Set up a tissue on a mesh (host work: geometry, sparsity pattern, model groups).

        Args:
            mesh: the `Mesh` (mm). Fibres are required unless every conductivity is isotropic.
            conductivity: one `Conductivity` for every region, or ``{region_id: Conductivity}`` covering every region.
            model: one ionic model for every region, or ``{region_id: model}`` covering every region (each region its own
                model and parameters; see the class docstring for nodes on region borders).
            chi: surface-to-volume ratio, 1/mm.
            Cm: membrane capacitance, µF/cm².
            sigma_cells: optional (cells, k) per-cell conductivities in S/m (k = 2: l, t; k = 3: l, t, n).
            dtype: floating dtype of every array (default JAX's default float; float64 needs ``jax_enable_x64``).
        """
        dtype = jnp.dtype(jnp.result_type(float) if dtype is None else dtype)
        ids = mesh.region_ids
        # ---- conductivities
        conds = _per_region(conductivity, ids, "conductivity", Conductivity)
        orthotropic = any(c.sigma_n is not None for c in conds.values())
        k = 3 if orthotropic else 2
        anisotropic = sigma_cells is not None or not all(_is_isotropic(c) for c in conds.values())
        if anisotropic:
            mesh.require_fibres("an anisotropic monodomain tissue")
        if orthotropic and mesh.sheets is None:
            raise InputError("orthotropic conductivity (sigma_n) needs sheet directions on the mesh (mesh.sheets)")
        # host check at solver entry: no zero/NaN direction reaches the solver (non-unit or non-orthogonal directions
        # are repaired inside conductivity_tensors), per-cell conductivities positive and finite
        require_usable_directions(mesh.fibres, mesh.sheets, "Tissue.from_mesh")
        if sigma_cells is not None:
            sc = np.asarray(sigma_cells, np.float64)
            if not np.all(np.isfinite(sc) & (sc > 0)):
                bad = np.flatnonzero(~np.all(np.isfinite(sc) & (sc > 0), axis=tuple(range(1, sc.ndim))))
                raise InputError(
                    f"Tissue.from_mesh: sigma_cells must be positive and finite (S/m); {bad.size} cells are "
                    f"not (first cell ids: {', '.join(str(int(i)) for i in bad[:5])})"
                )
        sigma = jnp.stack([jnp.stack([jnp.asarray(v, dtype) for v in conds[int(r)].columns(k)]) for r in ids])
        if sigma_cells is not None:
            sigma_cells = jnp.asarray(sigma_cells, dtype)
        cell_region, _ = region_index(mesh.regions, ids)
        # ---- models: one group per distinct model; nodes on borders take the majority-volume region
        models = _per_region(model, ids, "ionic model", AbstractIonicModel)
        unique: list[AbstractIonicModel] = []
        region_group = np.zeros(len(ids), dtype=np.int64)
        for r_i, r in enumerate(ids):
            m = models[int(r)]
            for g, u in enumerate(unique):
                if u is m or (type(u) is type(m) and bool(eqx.tree_equal(u, m))):
                    region_group[r_i] = g
                    break
            else:
                unique.append(m)
                region_group[r_i] = len(unique) - 1
        node_region = _node_majority_region(mesh, cell_region, len(ids))
        node_group = region_group[node_region]
        model_nodes = tuple(jnp.asarray(np.flatnonzero(node_group == g), dtype=jnp.int32) for g in range(len(unique)))
        group_models = tuple(m.astype(dtype) for m in unique)
        # ---- geometry, pattern, named sets
        geometry = P1Geometry.from_mesh(mesh, dtype=dtype)
        pattern = SparsityPattern.from_mesh(mesh)
        fibres = None if mesh.fibres is None else jnp.asarray(mesh.fibres, dtype)
        sheets = None if mesh.sheets is None else jnp.asarray(mesh.sheets, dtype)
        surfaces = {name: jnp.asarray(s.nodes, jnp.int32) for name, s in mesh.surfaces.items()}
        node_sets = {name: jnp.asarray(v, jnp.int32) for name, v in mesh.node_sets.items()}
        return cls(
            points=jnp.asarray(mesh.points, dtype),
            geometry=geometry,
            pattern=pattern,
            fibres=fibres,
            sheets=sheets,
            cell_region=jnp.asarray(cell_region),
            sigma=sigma,
            sigma_cells=sigma_cells,
            chi=jnp.asarray(float(chi), dtype),
            Cm=jnp.asarray(float(Cm), dtype),
            models=group_models,
            model_nodes=model_nodes,
            surfaces=surfaces,
            node_sets=node_sets,
            region_ids=tuple(int(r) for r in ids),
        )

    # ------------------------------------------------------------------------------------------------ sizes / dtype
    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.geometry.tets.shape[0])

    @property
    def dtype(self):
        return self.geometry.volumes.dtype

    def astype(self, dtype) -> "Tissue":
        """A copy with every floating-point array (geometry, conductivities, model parameters) cast to ``dtype``."""
        dtype = jnp.dtype(dtype)
        return jax.tree_util.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, self)

    # ------------------------------------------------------------------------------------------------ parameters
    def cell_conductivity(self) -> Float[Array, "cells k"]:
        """The (cells, k) conductivities in S/m actually used (``sigma_cells`` if set, else the region table)."""
        if self.sigma_cells is not None:
            return self.sigma_cells
        return self.sigma[self.cell_region]

    def diffusion_tensors(self) -> Float[Array, "cells 3 3"] | Float[Array, " cells"]:
        """``D = 100 sigma / (chi Cm)`` in mm²/ms per cell: (cells, 3, 3) tensors, or (cells,) scalars when isotropic."""
        scale = 100.0 / (self.chi * self.Cm)
        s = self.cell_conductivity() * scale
        if self.fibres is None:
            return s[:, 0]
        if s.shape[1] == 3:
            return conductivity_tensors(s[:, 0], s[:, 1], self.fibres, sigma_n=s[:, 2], sheets=self.sheets)
        return conductivity_tensors(s[:, 0], s[:, 1], self.fibres)

    def with_conductivity(self, region_id: int, conductivity: Conductivity) -> "Tissue":
        """A copy with one region's conductivities replaced."""
        try:
            row = self.region_ids.index(int(region_id))
        except ValueError:
            raise InputError(f"region {region_id} is not in the tissue (regions: {list(self.region_ids)})") from None
        cols = jnp.stack([jnp.asarray(v, self.dtype) for v in conductivity.columns(self.sigma.shape[1])])
        return eqx.tree_at(lambda t: t.sigma, self, self.sigma.at[row].set(cols))

    def with_nodal_conductivity(self, sigma_nodes: Float[Array, "nodes k"]) -> "Tissue":
        """A copy whose per-cell conductivities are the mean of per-node values (S/m) over each tet's four nodes.

        Differentiable w.r.t. ``sigma_nodes``: use it inside a loss to get gradients per node.
        """
        sigma_nodes = jnp.asarray(sigma_nodes, self.dtype)
        if sigma_nodes.ndim == 1:
            sigma_nodes = jnp.broadcast_to(sigma_nodes[:, None], (self.n_nodes, self.sigma.shape[1]))
        if sigma_nodes.shape != (self.n_nodes, self.sigma.shape[1]):
            raise InputError(f"sigma_nodes must have shape (nodes, {self.sigma.shape[1]}), got {sigma_nodes.shape}")
        cells = jnp.mean(sigma_nodes[self.geometry.tets], axis=1)
        return eqx.tree_at(lambda t: t.sigma_cells, self, cells, is_leaf=lambda x: x is None)

    def with_cell_conductivity(self, sigma_cells: Float[Array, "cells k"] | None) -> "Tissue":
        """A copy with per-cell conductivities (S/m) set (or removed with None)."""
        if sigma_cells is not None:
            sigma_cells = jnp.asarray(sigma_cells, self.dtype)
        return eqx.tree_at(lambda t: t.sigma_cells, self, sigma_cells, is_leaf=lambda x: x is None)

    def __repr__(self) -> str:
        models = ", ".join(f"{type(m).__name__}×{int(n.shape[0])}" for m, n in zip(self.models, self.model_nodes))
        return (
            f"Tissue(nodes={self.n_nodes}, cells={self.n_cells}, regions={list(self.region_ids)}, "
            f"models=[{models}], dtype={self.dtype})"
        )


def _per_region(spec, ids, what: str, kind) -> dict:
    if isinstance(spec, Mapping):
        out = {int(k): v for k, v in spec.items()}
        missing = sorted(set(int(r) for r in ids) - set(out))
        if missing:
            raise InputError(f"no {what} given for region(s) {missing} (regions present: {[int(r) for r in ids]})")
    else:
        out = {int(r): spec for r in ids}
    for k, v in out.items():
        if not isinstance(v, kind):
            raise TypeError(f"{what} for region {k} must be a {kind.__name__}, got {type(v).__name__}")
    return out


def _node_majority_region(mesh: Mesh, cell_region: np.ndarray, n_regions: int) -> np.ndarray:
    """For every node, the row of the region that holds the largest share of its volume (ties: the first row)."""
    vol = np.abs(mesh.cell_volumes())
    share = np.zeros((mesh.n_nodes, n_regions))
    np.add.at(share, (mesh.tets.reshape(-1), np.repeat(cell_region, 4)), np.repeat(vol, 4))
    return np.argmax(share, axis=1)  # argmax takes the first maximum
