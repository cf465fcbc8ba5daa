"""The `Mesh`: a tetrahedral mesh in millimetres with regions, fibres, named surfaces and fields.

A Mesh lives on the host (numpy arrays); it is an equinox Module so that it is a pytree and can be handed to jitted code,
but meshes are built, checked and cut on the host. The finite-element operators in `organtwin.mesh._fem` take its arrays
and are JAX (differentiable, jit-able).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import equinox as eqx
import numpy as np

from .._errors import MeshError

__all__ = ["Mesh", "Surface"]


def _as_index_array(a, name: str, width: int | None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        if a.size and not np.all(np.isfinite(a)) or (a.size and np.any(np.asarray(a) != np.round(a))):
            raise MeshError(f"{name} must hold integer node indices, got {a.dtype} values that are not whole numbers")
    a = a.astype(np.int32)
    if width is not None and (a.ndim != 2 or a.shape[1] != width):
        raise MeshError(f"{name} must have shape (n, {width}), got {a.shape}")
    return a


class Surface(eqx.Module):
    """A named boundary surface: triangles (node indices into the mesh) and an integer tag (the id in the source file)."""

    triangles: np.ndarray
    tag: int = eqx.field(static=True, default=0)

    def __init__(self, triangles, tag: int = 0):
        self.triangles = _as_index_array(np.asarray(triangles).reshape(-1, 3), "surface triangles", 3)
        self.tag = int(tag)

    @property
    def n_faces(self) -> int:
        return int(self.triangles.shape[0])

    @property
    def nodes(self) -> np.ndarray:
        """Sorted unique node indices of the surface."""
        return np.unique(self.triangles)


class Mesh(eqx.Module):
    """A tetrahedral mesh in millimetres.

    Attributes:
        points: (nodes, 3) coordinates in mm.
        tets: (cells, 4) node indices, positively oriented (checked on read).
        regions: (cells,) integer region id per tet (tissue tags, e.g. 1 = LV, 2 = RV).
        fibres: optional (cells, 3) unit fibre direction per tet.
        sheets: optional (cells, 3) unit sheet direction per tet (orthogonal to the fibre).
        surfaces: named boundary surfaces (``{"endo_lv": Surface, ...}``).
        node_sets: named node sets (openCARP .vtx, stimulus sites), node indices.
        point_data / cell_data: any other named arrays, first axis nodes / cells.
        region_names: optional names of region ids, as a tuple of (id, name) pairs.
    """

    points: np.ndarray
    tets: np.ndarray
    regions: np.ndarray
    fibres: np.ndarray | None
    sheets: np.ndarray | None
    surfaces: dict
    node_sets: dict
    point_data: dict
    cell_data: dict
    region_names: tuple = eqx.field(static=True)

    def __init__(
        self,
        points,
        tets,
        regions=None,
        *,
        fibres=None,
        sheets=None,
        surfaces: dict | None = None,
        node_sets: dict | None = None,
        point_data: dict | None = None,
        cell_data: dict | None = None,
        region_names: dict | tuple | None = None,
    ):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise MeshError(f"points must have shape (n, 3), got {points.shape}")
        if points.shape[1] == 2:
            points = np.column_stack([points, np.zeros(len(points))])
        self.points = points
        self.tets = _as_index_array(np.asarray(tets).reshape(-1, 4) if np.asarray(tets).size == 0 else tets, "tets", 4)
        n_cells = self.tets.shape[0]
        if regions is None:
            regions = np.ones(n_cells, dtype=np.int32)
        self.regions = _as_index_array(np.asarray(regions).reshape(-1), "regions", None)
        self.fibres = None if fibres is None else np.asarray(fibres, dtype=np.float64)
        self.sheets = None if sheets is None else np.asarray(sheets, dtype=np.float64)
        self.surfaces = {str(k): (v if isinstance(v, Surface) else Surface(v)) for k, v in (surfaces or {}).items()}
        self.node_sets = {
            str(k): _as_index_array(np.asarray(v).reshape(-1), f"node set {k!r}", None)
            for k, v in (node_sets or {}).items()
        }
        self.point_data = {str(k): np.asarray(v) for k, v in (point_data or {}).items()}
        self.cell_data = {str(k): np.asarray(v) for k, v in (cell_data or {}).items()}
        if isinstance(region_names, dict):
            region_names = tuple(sorted((int(k), str(v)) for k, v in region_names.items()))
        self.region_names = tuple(region_names or ())

    def __check_init__(self):
        n, c = self.n_nodes, self.n_cells
        if self.regions.shape != (c,):
            raise MeshError(f"regions must have one id per tet ({c}), got shape {self.regions.shape}")
        for name in ("fibres", "sheets"):
            a = getattr(self, name)
            if a is not None and a.shape != (c, 3):
                raise MeshError(f"{name} must have shape (cells, 3) = ({c}, 3), got {a.shape}")
        for k, v in self.point_data.items():
            if v.shape[:1] != (n,):
                raise MeshError(f"point field {k!r} has {v.shape[0] if v.ndim else 0} rows, the mesh has {n} nodes")
        for k, v in self.cell_data.items():
            if v.shape[:1] != (c,):
                raise MeshError(f"cell field {k!r} has {v.shape[0] if v.ndim else 0} rows, the mesh has {c} tets")

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.tets.shape[0])

    @property
    def region_ids(self) -> np.ndarray:
        """Sorted unique region ids present."""
        return np.unique(self.regions)

    def region_name(self, rid: int) -> str:
        return dict(self.region_names).get(int(rid), str(int(rid)))

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points.min(axis=0), self.points.max(axis=0)

    def cell_volumes(self) -> np.ndarray:
        """Signed tet volumes in mm³ (host, numpy; positive for well-oriented tets)."""
        p = self.points[self.tets]
        return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0

    def surface_nodes(self, name: str) -> np.ndarray:
        return self._surface(name).nodes

    def _surface(self, name: str) -> Surface:
        try:
            return self.surfaces[name]
        except KeyError:
            have = ", ".join(sorted(self.surfaces)) or "none"
            raise MeshError(f"the mesh has no surface named {name!r} (surfaces: {have})") from None

    def require_fibres(self, who: str = "this solver") -> None:
        """Raise a one-line error if fibres are missing."""
        if self.fibres is None:
            raise MeshError(
                f"{who} needs fibre directions but the mesh has none: read a mesh with a 'fibres' cell array or .lon file, "
                "or compute rule-based fibres with `organtwin mesh fibres` / organtwin.mesh.rule_based_fibres(mesh)"
            )

    def __repr__(self) -> str:  # short, human summary (the default pytree repr would print whole arrays)
        return (
            f"Mesh(nodes={self.n_nodes}, tets={self.n_cells}, regions={self.region_ids.tolist()}, "
            f"surfaces={sorted(self.surfaces)}, fibres={'yes' if self.fibres is not None else 'no'})"
        )

    # ------------------------------------------------------------------ editing (returns new meshes)
    def with_fibres(self, fibres, sheets=None) -> "Mesh":
        return self.replace(
            fibres=np.asarray(fibres, float), sheets=None if sheets is None else np.asarray(sheets, float)
        )

    def replace(self, **changes) -> "Mesh":
        """A copy of the mesh with some attributes replaced (validated again)."""
        kw: dict[str, Any] = dict(
            points=self.points,
            tets=self.tets,
            regions=self.regions,
            fibres=self.fibres,
            sheets=self.sheets,
            surfaces=self.surfaces,
            node_sets=self.node_sets,
            point_data=self.point_data,
            cell_data=self.cell_data,
            region_names=self.region_names,
        )
        unknown = set(changes) - set(kw)
        if unknown:
            raise TypeError(f"Mesh.replace got unknown fields {sorted(unknown)}")
        kw.update(changes)
        pts = kw.pop("points")
        tets = kw.pop("tets")
        regions = kw.pop("regions")
        return Mesh(pts, tets, regions, **kw)

    def scaled(self, factor: int | float) -> "Mesh":
        """Coordinates multiplied by `factor` (e.g. 1e3 for metres to mm)."""
        return self.replace(points=self.points * float(factor))

    def keep_cells(self, mask) -> "Mesh":
        """The mesh made of the tets where `mask` is true, nodes renumbered, surfaces/fields/node sets carried over.

        Surface triangles are kept when they are faces of a kept tet (a surface inside a dropped region disappears).
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_cells,):
            raise MeshError(f"cell mask must have shape ({self.n_cells},), got {mask.shape}")
        tets = self.tets[mask]
        used = np.unique(tets)
        new_index = np.full(self.n_nodes, -1, dtype=np.int64)
        new_index[used] = np.arange(used.size)

        faces = np.sort(tets[:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]].reshape(-1, 3), axis=1)
        face_keys = _face_keys(faces, self.n_nodes)
        surfaces = {}
        for name, s in self.surfaces.items():
            keys = _face_keys(np.sort(s.triangles, axis=1), self.n_nodes)
            keep = np.isin(keys, face_keys)
            if keep.any():
                surfaces[name] = Surface(new_index[s.triangles[keep]], s.tag)
        node_sets = {}
        for name, ns in self.node_sets.items():
            ns = ns[(ns >= 0) & (ns < self.n_nodes)]
            ns = new_index[ns]
            ns = ns[ns >= 0]
            if ns.size:
                node_sets[name] = ns
        present = set(np.unique(self.regions[mask]).tolist())
        return Mesh(
            self.points[used],
            new_index[tets],
            self.regions[mask],
            fibres=None if self.fibres is None else self.fibres[mask],
            sheets=None if self.sheets is None else self.sheets[mask],
            surfaces=surfaces,
            node_sets=node_sets,
            point_data={k: v[used] for k, v in self.point_data.items()},
            cell_data={k: v[mask] for k, v in self.cell_data.items()},
            region_names=tuple((i, n) for i, n in self.region_names if i in present),
        )

    def submesh(self, regions: Iterable[int]) -> "Mesh":
        """Extract the tets of the given region ids (e.g. the ventricles out of a four-chamber heart)."""
        regions = [int(r) for r in regions]
        missing = sorted(set(regions) - set(self.region_ids.tolist()))
        if missing:
            raise MeshError(
                f"region(s) {missing} not in the mesh (regions present: {self.region_ids.tolist()}); "
                "see `organtwin mesh info` for the ids"
            )
        return self.keep_cells(np.isin(self.regions, regions))


def _face_keys(sorted_faces: np.ndarray, n: int) -> np.ndarray:
    """One integer key per sorted triangle (exact for n < 2**21)."""
    f = sorted_faces.astype(np.int64)
    if n < 2**21:
        return (f[:, 0] << 42) | (f[:, 1] << 21) | f[:, 2]
    return np.array([hash(tuple(r)) for r in f.tolist()], dtype=np.int64)
