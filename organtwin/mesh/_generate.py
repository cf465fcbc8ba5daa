"""Mesh generators: the Niederer slab (structured, numpy) and idealized LV / biventricular ellipsoids (gmsh, OCC kernel).

Every generator returns a `Mesh` in millimetres whose tets are positively oriented, whose nodes are all used, and whose
named surfaces partition the boundary (each boundary triangle is in exactly one surface, oriented outward).

The gmsh generators run gmsh in-process, single-threaded and with fixed options so that the same arguments give the same
mesh on the same gmsh version. gmsh is imported lazily: the slab needs nothing but numpy.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
from dataclasses import dataclass

import numpy as np

from .._errors import MeshError
from ._mesh import Mesh, Surface

__all__ = ["slab_mesh", "lv_ellipsoid_mesh", "biv_mesh", "builtin_mesh_path", "BUILTIN_MESHES"]

# Surface tags (the integer ids written to files). Distinct from the region ids so a reader that names by tag alone
# cannot confuse a surface with a region. The cardiac tags follow the pulse / cardiac-geometries convention.
SLAB_SURFACE_TAGS = {"x0": 11, "x1": 12, "y0": 13, "y1": 14, "z0": 15, "z1": 16}
HEART_SURFACE_TAGS = {"base": 10, "endo_rv": 20, "endo_lv": 30, "epi": 40}


# ====================================================================================================== slab (numpy)
def slab_mesh(size=(20.0, 7.0, 3.0), dx: float = 0.5, *, fibre=(1.0, 0.0, 0.0), origin=(0.0, 0.0, 0.0)) -> Mesh:
    """A structured tetrahedral slab ``[0, Lx] x [0, Ly] x [0, Lz]`` mm (shifted by `origin`).

    Each axis has ``round(L / dx) + 1`` nodes, evenly spaced (the spacing is ``L / round(L / dx)``, so the box is exact
    even when `dx` does not divide `L`). Each hexahedron is split into 6 tets by the Kuhn (Freudenthal) split along its
    main diagonal; the split is translation invariant, so neighbouring hexes share their face triangulations and the mesh
    is conforming. All tets are positively oriented.

    The defaults are the Niederer et al. 2011 benchmark slab (20 x 7 x 3 mm, fibres along x); at dx = 0.1 mm it has
    201 x 71 x 31 = 442,401 nodes and 2,520,000 tets and builds in about a second (fully vectorised).

    Args:
        size: (Lx, Ly, Lz) in mm.
        dx: target node spacing in mm.
        fibre: fibre direction, the same in every tet (normalised here).
        origin: the corner of the slab with the smallest coordinates.

    Returns:
        A Mesh with region 1 (``"slab"``), per-tet fibres, and the six faces as surfaces ``x0, x1, y0, y1, z0, z1``
        (``x0`` is the face at x = origin x, ``x1`` at x = origin x + Lx, ...), triangles oriented outward.
    """
    size = np.asarray(size, dtype=np.float64).reshape(-1)
    if size.shape != (3,) or not np.all(np.isfinite(size)) or np.any(size <= 0):
        raise MeshError(f"slab size must be three positive lengths in mm, got {tuple(size.tolist())}")
    dx = float(dx)
    if not np.isfinite(dx) or dx <= 0:
        raise MeshError(f"slab dx must be a positive length in mm, got {dx}")
    with np.errstate(over="ignore"):
        ratio = size / dx  # as floats first: a huge ratio must not wrap around in int64
    if not np.all(ratio < 2**31):
        ratio = np.where(np.isfinite(ratio), ratio, np.inf)
        raise MeshError(
            f"slab {tuple(size.tolist())} mm at dx = {dx:g} mm has {' x '.join(f'{r:.3g}' for r in ratio)} "
            f"cells, above the limit of {2**31 - 1:,} (int32 indices); use a larger dx (at least "
            f"{float(np.prod(size) * 6 / 2**31) ** (1 / 3):.3g} mm)"
        )
    cells = np.maximum(np.round(ratio).astype(np.int64), 1)
    nx, ny, nz = (cells + 1).tolist()
    n_cells = int(cells[0]) * int(cells[1]) * int(cells[2])
    if nx * ny * nz >= 2**31 or 6 * n_cells >= 2**31:
        raise MeshError(
            f"slab {tuple(size.tolist())} mm at dx = {dx:g} mm has {nx:,} x {ny:,} x {nz:,} = "
            f"{float(nx) * ny * nz:.3g} nodes and {6.0 * n_cells:.3g} tets, above the limit of "
            f"{2**31 - 1:,} (int32 indices); use a larger dx (at least "
            f"{float(np.prod(size) * 6 / 2**31) ** (1 / 3):.3g} mm)"
        )
    _check_generate_bytes(
        6.0 * n_cells,
        f"slab {'x'.join(f'{v:g}' for v in size.tolist())} mm at dx = {dx:g} mm",
        "use a larger dx",
        _SLAB_BYTES_PER_TET,
    )
    fibre = np.asarray(fibre, dtype=np.float64).reshape(-1)
    if fibre.shape != (3,) or not np.all(np.isfinite(fibre)) or np.linalg.norm(fibre) == 0:
        raise MeshError(f"fibre must be a non-zero 3-vector, got {fibre.tolist()}")
    fibre = fibre / np.linalg.norm(fibre)
    origin = np.asarray(origin, dtype=np.float64).reshape(3)

    # Nodes: index = i + nx * (j + ny * k), x fastest. The last coordinate is set to L exactly (no round-off).
    axes = [origin[a] + size[a] * (np.arange(n) / (n - 1)) for a, n in enumerate((nx, ny, nz))]
    for a in range(3):
        axes[a][-1] = origin[a] + size[a]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([gx.ravel(order="F"), gy.ravel(order="F"), gz.ravel(order="F")])

    strides = np.array([1, nx, nx * ny], dtype=np.int64)
    # The 6 Kuhn tets of the unit cube: for each permutation p of the axes, walk 0 -> e_p0 -> e_p0+e_p1 -> (1,1,1).
    # det[e_p0, e_p1, e_p2] = sign(p): swap the middle two vertices of odd permutations to make every tet positive.
    local = []
    for perm in itertools.permutations(range(3)):
        corner = np.zeros(3, dtype=np.int64)
        walk = [corner.copy()]
        for a in perm:
            corner[a] = 1
            walk.append(corner.copy())
        walk = np.array(walk)
        if _perm_sign(perm) < 0:
            walk[[1, 2]] = walk[[2, 1]]
        local.append(walk @ strides)
    local = np.array(local, dtype=np.int64)  # (6, 4) node offsets

    ci, cj, ck = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), np.arange(nz - 1), indexing="ij")
    base = (ci.ravel(order="F") + nx * (cj.ravel(order="F") + ny * ck.ravel(order="F"))).astype(np.int64)
    tets = (base[:, None, None] + local[None, :, :]).reshape(-1, 4).astype(np.int32)

    surfaces = {}
    n = np.array([nx, ny, nz])
    for axis, side in itertools.product(range(3), (0, 1)):
        name = "xyz"[axis] + str(side)
        u, v = [a for a in range(3) if a != axis]
        iu, iv = np.meshgrid(np.arange(n[u] - 1), np.arange(n[v] - 1), indexing="ij")
        iu, iv = iu.ravel(), iv.ravel()
        c00 = iu * strides[u] + iv * strides[v] + side * (n[axis] - 1) * strides[axis]
        c10, c01, c11 = c00 + strides[u], c00 + strides[v], c00 + strides[u] + strides[v]
        # The Kuhn split restricted to a face is the 2D Kuhn split: diagonal from the (u, v) min corner to the max corner.
        # (c00, c10, c11) has normal +e_u x e_v, which is +e_axis up to the orientation of (u, v, axis).
        tri = np.concatenate([np.column_stack([c00, c10, c11]), np.column_stack([c00, c11, c01])])
        outward = 1.0 if side == 1 else -1.0
        sign = _perm_sign((u, v, axis))  # e_u x e_v = sign * e_axis
        if sign * outward < 0:
            tri = tri[:, [0, 2, 1]]
        surfaces[name] = Surface(tri.astype(np.int32), SLAB_SURFACE_TAGS[name])

    fibres = np.broadcast_to(fibre, (tets.shape[0], 3)).copy()
    return Mesh(
        points,
        tets,
        np.ones(tets.shape[0], dtype=np.int32),
        fibres=fibres,
        surfaces=surfaces,
        region_names=((1, "slab"),),
    )


# Bytes per tet while a mesh is generated, checked and written (connectivity, int64 intermediates, face keys, fibres,
# the quality checks, the VTU writer), a little under the peak measured through `organtwin mesh generate`: the slab
# ~290 B per tet (dx 0.1 mm, 2.5M tets), the gmsh LV ~1.4 kB per tet (h 0.6 mm, 68k tets; gmsh's own structures).
_SLAB_BYTES_PER_TET = 250
_GMSH_BYTES_PER_TET = 1000
# Generated meshes key boundary faces by three node numbers of 21 bits each (`_face_keys`).
_MAX_GENERATED_NODES = 2**21


def _check_generate_bytes(tets: float, what: str, fix: str, per_tet: int) -> None:
    from .._sizes import SizeError, check_bytes

    try:
        check_bytes(tets * per_tet, what=f"{what}: {tets:.3g} tets x ~{per_tet} B", fix=fix)
    except SizeError as e:
        raise MeshError(str(e)) from None


def _truncated_ellipsoid_volume(radii, base_z: float, center_z: float = 0.0) -> float:
    """Volume (mm³) of the axis-aligned ellipsoid with ``radii`` below the plane z = ``base_z``."""
    a, b, c = (float(r) for r in radii)
    z = min(max(base_z - center_z, -c), c)
    return float(np.pi * a * b * ((z + c) - (z**3 + c**3) / (3 * c * c)))


def _check_h(what: str, h: float, wall_mm3: float, thickness: float, extent: float, default: float) -> None:
    """The element size against the geometry before gmsh runs: not coarser than the heart, and an estimate of the
    nodes (about 0.9 wall volume / h³, measured on the LV from h = 3 to 0.5 mm) within the face-key limit and memory."""
    if h > extent:
        raise MeshError(
            f"{what}: h = {h:g} mm is larger than the geometry itself ({extent:g} mm across); use h <= "
            f"{thickness:g} mm (the wall thickness; default {default:g} mm)"
        )
    nodes = 0.9 * wall_mm3 / h**3
    if nodes > _MAX_GENERATED_NODES:
        raise MeshError(
            f"{what}: h = {h:g} mm makes about {nodes:.3g} nodes ({wall_mm3 / 1000:.3g} mL of wall / h^3), "
            f"above the limit of {_MAX_GENERATED_NODES:,} nodes of a generated mesh; use h >= "
            f"{(0.9 * wall_mm3 / _MAX_GENERATED_NODES) ** (1 / 3):.3g} mm (default {default:g} mm)"
        )
    _check_generate_bytes(4.5 * wall_mm3 / h**3, f"{what} at h = {h:g} mm", "use a larger h", _GMSH_BYTES_PER_TET)


def _perm_sign(perm) -> int:
    perm = list(perm)
    sign = 1
    for i in range(len(perm)):
        for j in range(i + 1, len(perm)):
            if perm[i] > perm[j]:
                sign = -sign
    return sign


# ====================================================================================================== gmsh plumbing
# Options set for every generator run: quiet, single-threaded, fixed algorithms and seed (deterministic output).
_GMSH_OPTIONS = {
    "General.Terminal": 0,
    "General.Verbosity": 0,
    "General.NumThreads": 1,
    "Geometry.OCCParallel": 0,
    "Mesh.MaxNumThreads1D": 1,
    "Mesh.MaxNumThreads2D": 1,
    "Mesh.MaxNumThreads3D": 1,
    "Mesh.RandomSeed": 1,
    "Mesh.Algorithm": 6,  # Frontal-Delaunay surfaces
    "Mesh.Algorithm3D": 1,  # Delaunay volumes
    "Mesh.ElementOrder": 1,
    "Mesh.Optimize": 1,
    "Mesh.OptimizeNetgen": 1,
    "Mesh.MeshSizeFromCurvature": 0,
    "Mesh.MeshSizeFromPoints": 0,
    "Mesh.MeshSizeExtendFromBoundary": 1,
}


@contextlib.contextmanager
def _gmsh_model(name: str, h: float, *, what: str = "", hint: str = ""):
    """A fresh gmsh model with deterministic options; gmsh is finalized afterwards if we initialized it.

    gmsh reports a geometry it cannot mesh (e.g. "PLC Error: A segment and a facet intersect") as a plain Exception:
    it becomes a one-line MeshError naming ``what`` (the geometry), ``h`` and the gmsh message, with ``hint``.

    If the caller already has gmsh initialized, we add our own model, restore every option we touched and remove the
    model at the end, leaving the caller's session as it was.
    """
    try:
        import gmsh
    except ImportError as e:  # pragma: no cover - gmsh is a dependency
        raise MeshError("the ellipsoid generators need gmsh (`pip install gmsh`)") from e
    own = not gmsh.isInitialized()
    if own:
        try:
            gmsh.initialize(readConfigFiles=False, interruptible=False)
        except TypeError:  # gmsh < 4.12 has no `interruptible` argument
            gmsh.initialize(readConfigFiles=False)
    options = dict(_GMSH_OPTIONS, **{"Mesh.MeshSizeMin": h, "Mesh.MeshSizeMax": h})
    saved = {} if own else {k: gmsh.option.getNumber(k) for k in options}
    previous_model = None if own else gmsh.model.getCurrent()
    try:
        for k, v in options.items():
            gmsh.option.setNumber(k, v)
        gmsh.model.add(name)
        try:
            yield gmsh
        except Exception as e:
            if type(e) is not Exception:  # gmsh's own errors are plain Exceptions; ours and Python's pass through
                raise
            msg = " ".join(str(e).split()) or "no message"
            raise MeshError(
                f"gmsh could not mesh {what or name} at h = {h:g} mm ({msg}){'; ' + hint if hint else ''}"
            ) from None
    finally:
        if own:
            gmsh.finalize()
        else:
            with contextlib.suppress(Exception):
                gmsh.model.remove()
                if previous_model:
                    gmsh.model.setCurrent(previous_model)
            for k, v in saved.items():
                with contextlib.suppress(Exception):
                    gmsh.option.setNumber(k, v)


@dataclass(frozen=True)
class _Ellipsoid:
    """An axis-aligned ellipsoid ``sum(((x - c) / r)**2) = 1`` (radii rx, ry, rz) in mm."""

    center: tuple
    radii: tuple

    def level(self, x: np.ndarray) -> np.ndarray:
        """Signed level set, approximately a distance in mm near the surface (negative inside)."""
        q = (np.asarray(x) - np.asarray(self.center)) / np.asarray(self.radii)
        return (np.sqrt(np.sum(q * q, axis=-1)) - 1.0) * float(np.min(self.radii))

    def add_to(self, occ) -> int:
        tag = occ.addSphere(*self.center, 1.0)
        occ.dilate([(3, tag)], *self.center, *self.radii)
        return tag


def _base_box(occ, base_z: float, reach: float) -> int:
    """A box covering everything above the base plane z = base_z (the part cut away)."""
    return occ.addBox(-reach, -reach, base_z, 2 * reach, 2 * reach, reach)


def _extract(gmsh, volume_regions: dict, surface_names: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Points, tets, regions and {name: triangles} from the meshed model, nodes compacted to those used by tets.

    volume_regions: {volume tag: region id}; surface_names: {surface tag: surface name}.
    """
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    node_tags = np.asarray(node_tags, dtype=np.int64)
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    lookup = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
    lookup[node_tags] = np.arange(node_tags.size)

    tets, regions = [], []
    for vol, rid in sorted(volume_regions.items()):
        types, _, conn = gmsh.model.mesh.getElements(3, vol)
        for t, c in zip(types, conn):
            if t != 4:  # 4-node tetrahedron
                raise MeshError(f"gmsh produced element type {t} in volume {vol}; expected linear tets")
            c = lookup[np.asarray(c, dtype=np.int64)].reshape(-1, 4)
            tets.append(c)
            regions.append(np.full(c.shape[0], rid, dtype=np.int32))
    tets = np.concatenate(tets)
    regions = np.concatenate(regions)

    pieces: dict[str, list[np.ndarray]] = {}
    for surf, name in sorted(surface_names.items()):
        types, _, conn = gmsh.model.mesh.getElements(2, surf)
        for t, c in zip(types, conn):
            if t != 2:  # 3-node triangle
                raise MeshError(f"gmsh produced element type {t} on surface {surf}; expected linear triangles")
            pieces.setdefault(name, []).append(lookup[np.asarray(c, dtype=np.int64)].reshape(-1, 3))
    tris = {k: np.concatenate(v) for k, v in pieces.items()}

    # Compact: drop nodes no tet uses (geometry points, seams of removed cavities).
    used = np.unique(tets)
    renumber = np.full(coords.shape[0], -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    points = coords[used]
    tets = renumber[tets]
    tris = {k: renumber[v] for k, v in tris.items()}
    if any(np.any(v < 0) for v in tris.values()):
        raise MeshError("a boundary triangle uses a node that no tet uses (gmsh surface and volume meshes disagree)")
    return points, tets, regions, tris


def _orient_tets(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Tets with the last two vertices swapped where the signed volume is negative."""
    p = points[tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    if np.any(vol == 0):
        raise MeshError(f"{int(np.sum(vol == 0))} degenerate (zero-volume) tets in the generated mesh")
    tets = tets.copy()
    neg = vol < 0
    tets[neg] = tets[neg][:, [0, 1, 3, 2]]
    return tets


_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])  # face i is opposite vertex i


def _face_keys(faces: np.ndarray, n_nodes: int) -> np.ndarray:
    f = np.sort(faces.astype(np.int64), axis=1)
    if n_nodes >= 2**21:
        raise MeshError("face keys support meshes below 2**21 nodes")
    return (f[:, 0] << 42) | (f[:, 1] << 21) | f[:, 2]


def _boundary_faces(tets: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces that belong to exactly one tet: (faces (m, 3) oriented outward, owning tet index (m,))."""
    faces = tets[:, _TET_FACES].reshape(-1, 3)  # face opposite vertex i, in tet order
    keys = _face_keys(faces, n_nodes)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    once = counts[inverse] == 1
    owner = np.nonzero(once)[0] // 4
    f = faces[once]
    # For a positive tet (v0, v1, v2, v3) the outward faces are (1,2,3), (0,3,2), (0,1,3), (0,2,1): fix the parity.
    opposite = np.nonzero(once)[0] % 4
    flip = (opposite == 1) | (opposite == 3)
    f[flip] = f[flip][:, [0, 2, 1]]
    return f, owner


def _orient_outward(points: np.ndarray, tets: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Boundary triangles reordered so their normals point out of the (positively oriented) tet they bound."""
    bfaces, _ = _boundary_faces(tets, points.shape[0])
    bkeys = _face_keys(bfaces, points.shape[0])
    order = np.argsort(bkeys)
    keys = _face_keys(tris, points.shape[0])
    pos = np.searchsorted(bkeys, keys, sorter=order)
    pos = np.minimum(pos, bkeys.size - 1)
    hit = bkeys[order[pos]] == keys
    if not np.all(hit):
        raise MeshError(f"{int(np.sum(~hit))} surface triangles are not boundary faces of the tet mesh")
    return bfaces[order[pos]]


def _finish(points, tets, regions, tris, surface_tags, region_names) -> Mesh:
    tets = _orient_tets(points, tets)
    surfaces = {name: Surface(_orient_outward(points, tets, t), surface_tags[name]) for name, t in tris.items()}
    return Mesh(points, tets, regions, surfaces=surfaces, region_names=region_names)


# ====================================================================================================== LV ellipsoid
def lv_ellipsoid_mesh(
    *,
    r_short_endo: float = 7.0,
    r_short_epi: float = 10.0,
    r_long_endo: float = 17.0,
    r_long_epi: float = 20.0,
    base_z: float = 5.0,
    h: float = 1.5,
) -> Mesh:
    """An idealized left ventricle: a prolate-ellipsoid shell truncated by the base plane, meshed with gmsh.

    Endocardium ``(x² + y²) / r_short_endo² + z² / r_long_endo² = 1``, epicardium likewise, long axis z, apex at
    z = -r_long_epi, base plane z = `base_z` (everything above it is cut away). The defaults are the Land et al. 2015
    mechanics benchmark / cardiac-geometries-core ``lv-ellipsoid`` shape in mm (7/10 mm short, 17/20 mm long radii, base
    at 5 mm): a small, 3 mm thick LV with a 2.5 mL cavity and a 3.23 mL wall.

    Built with the OCC kernel: two dilated unit spheres, the base half-space removed by a box, the inner ellipsoid removed
    from the outer. `h` is the uniform characteristic element length in mm. Deterministic (single thread, fixed seed).

    Returns:
        A Mesh with region 1 ``"LV"`` and surfaces ``endo_lv``, ``epi``, ``base`` (outward triangles), no fibres.
    """
    _check_positive(
        h=h, r_short_endo=r_short_endo, r_short_epi=r_short_epi, r_long_endo=r_long_endo, r_long_epi=r_long_epi
    )
    if not (r_short_endo < r_short_epi and r_long_endo < r_long_epi):
        raise MeshError("the endocardial radii must be smaller than the epicardial radii")
    if not (-r_long_endo < base_z < r_long_endo):
        raise MeshError(f"base_z = {base_z} mm must cut the endocardium (|base_z| < r_long_endo = {r_long_endo} mm)")
    endo = _Ellipsoid((0.0, 0.0, 0.0), (r_short_endo, r_short_endo, r_long_endo))
    epi = _Ellipsoid((0.0, 0.0, 0.0), (r_short_epi, r_short_epi, r_long_epi))
    reach = 4.0 * max(r_short_epi, r_long_epi)
    thickness = min(r_short_epi - r_short_endo, r_long_epi - r_long_endo)
    wall = _truncated_ellipsoid_volume(epi.radii, base_z) - _truncated_ellipsoid_volume(endo.radii, base_z)
    _check_h("the LV ellipsoid", float(h), wall, thickness, 2.0 * max(r_short_epi, r_long_epi), 1.5)
    with _gmsh_model(
        "organtwin_lv_ellipsoid",
        float(h),
        what="the LV ellipsoid",
        hint=f"h is probably too coarse for its {thickness:g} mm wall: use h <= {thickness:g} mm (default 1.5 mm)",
    ) as gmsh:
        occ = gmsh.model.occ
        outer = epi.add_to(occ)
        inner = endo.add_to(occ)
        box = _base_box(occ, base_z, reach)
        wall, _ = occ.cut([(3, outer)], [(3, inner), (3, box)])
        occ.synchronize()
        volumes = [t for d, t in wall if d == 3]
        names = {}
        for _, s in gmsh.model.getBoundary([(3, v) for v in volumes], oriented=False, combined=True):
            names[abs(s)] = None
        gmsh.model.mesh.generate(3)
        levels = {"base": _Plane(base_z), "endo_lv": endo, "epi": epi}
        for s in names:
            names[s] = _classify_entity(gmsh, s, levels)
        points, tets, regions, tris = _extract(gmsh, {v: 1 for v in volumes}, names)
    return _finish(points, tets, regions, tris, HEART_SURFACE_TAGS, ((1, "LV"),))


@dataclass(frozen=True)
class _Plane:
    z: float

    def level(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)[..., 2] - self.z


def _classify_entity(gmsh, surface_tag: int, levels: dict) -> str:
    """The name whose analytic surface passes closest to the nodes of a meshed gmsh surface entity."""
    _, coords, _ = gmsh.model.mesh.getNodes(2, surface_tag, includeBoundary=True)
    x = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    if x.size == 0:
        raise MeshError(f"gmsh surface {surface_tag} has no nodes")
    err = {name: float(np.median(np.abs(s.level(x)))) for name, s in levels.items()}
    return min(err, key=lambda name: err[name])


def _check_positive(**values) -> None:
    for k, v in values.items():
        if not np.isfinite(v) or v <= 0:
            raise MeshError(f"{k} must be a positive length in mm, got {v}")


# ====================================================================================================== biventricle
def biv_mesh(
    *,
    h: float = 2.5,
    lv_endo_radii=(22.0, 22.0, 60.0),
    lv_epi_radii=(30.0, 30.0, 68.0),
    rv_center=(0.0, -14.0, 0.0),
    rv_endo_radii=(38.0, 28.0, 55.0),
    rv_epi_radii=(42.0, 32.0, 59.0),
    base_z: float = 10.0,
) -> Mesh:
    """An idealized biventricular heart: LV and RV ellipsoidal shells fused, truncated by a flat base, meshed with gmsh.

    Geometry (mm; long axis z, apex at negative z, base plane z = `base_z`, everything above it cut away):

    * LV: ellipsoids centred at the origin with radii `lv_endo_radii` (cavity) and `lv_epi_radii` (outer wall);
    * RV: a larger, flatter pair centred at `rv_center` (shifted to -y: the RV free wall is on the -y side, the septum
      is the -y part of the LV wall), radii `rv_endo_radii` and `rv_epi_radii`; the RV cavity is the RV endo ellipsoid
      minus the LV outer ellipsoid, so the septum is LV wall.

    Regions come from the construction, not from a guess after meshing: region 1 ``"LV"`` is the LV outer ellipsoid minus
    the LV cavity (septum included), region 2 ``"RV"`` is the RV outer ellipsoid minus the RV cavity and minus the LV
    outer ellipsoid; the two are fragmented so the interface between them is conforming. The layout follows the
    cardiac-geometries ``biv-ellipsoid`` (RV a shifted, larger ellipsoid pair) scaled to human-ish mm: with the defaults
    the LV cavity is 75.9 mL and the LV wall 80.4 mL (analytic), the RV cavity about 58 mL and the RV free wall about
    36 mL; the heart is 84 x 76 x 78 mm. At the default h = 2.5 mm the mesh has about 11k nodes and 40k tets (the
    built-in ``biv`` mesh; gmsh takes about 10 s, h = 4 mm about 4 s).

    Returns:
        A Mesh with regions 1 ``"LV"`` and 2 ``"RV"``; surfaces ``endo_lv``, ``endo_rv`` (RV free wall and the RV side of
        the septum), ``epi`` and ``base``; outward triangles; no fibres.
    """
    _check_positive(
        h=h,
        **{f"lv_endo_radii[{i}]": r for i, r in enumerate(lv_endo_radii)},
        **{f"lv_epi_radii[{i}]": r for i, r in enumerate(lv_epi_radii)},
        **{f"rv_endo_radii[{i}]": r for i, r in enumerate(rv_endo_radii)},
        **{f"rv_epi_radii[{i}]": r for i, r in enumerate(rv_epi_radii)},
    )
    if not (np.all(np.less(lv_endo_radii, lv_epi_radii)) and np.all(np.less(rv_endo_radii, rv_epi_radii))):
        raise MeshError("every endocardial radius must be smaller than the matching epicardial radius")
    lv_endo = _Ellipsoid((0.0, 0.0, 0.0), tuple(float(r) for r in lv_endo_radii))
    lv_epi = _Ellipsoid((0.0, 0.0, 0.0), tuple(float(r) for r in lv_epi_radii))
    rv_endo = _Ellipsoid(tuple(float(c) for c in rv_center), tuple(float(r) for r in rv_endo_radii))
    rv_epi = _Ellipsoid(tuple(float(c) for c in rv_center), tuple(float(r) for r in rv_epi_radii))
    if not (-lv_endo.radii[2] < base_z < lv_endo.radii[2]):
        raise MeshError(f"base_z = {base_z} mm must cut the LV cavity (|base_z| < {lv_endo.radii[2]} mm)")
    reach = 4.0 * (max(lv_epi.radii + rv_epi.radii) + float(np.max(np.abs(rv_center))))
    thickness = float(
        min(np.min(np.subtract(lv_epi_radii, lv_endo_radii)), np.min(np.subtract(rv_epi_radii, rv_endo_radii)))
    )
    wall = sum(
        _truncated_ellipsoid_volume(e.radii, base_z, e.center[2]) * sign
        for e, sign in ((lv_epi, 1), (lv_endo, -1), (rv_epi, 1), (rv_endo, -1))
    )  # about: the overlap counts
    extent = 2.0 * (max(lv_epi.radii + rv_epi.radii) + float(np.max(np.abs(rv_center))))
    _check_h("the biventricular geometry", float(h), wall, thickness, extent, 2.5)
    with _gmsh_model(
        "organtwin_biv",
        float(h),
        what="the biventricular geometry",
        hint=f"h is probably too coarse for its {thickness:g} mm thinnest wall: use h <= {thickness:g} mm "
        "(default 2.5 mm)",
    ) as gmsh:
        occ = gmsh.model.occ
        lv, _ = occ.cut([(3, lv_epi.add_to(occ))], [(3, lv_endo.add_to(occ)), (3, _base_box(occ, base_z, reach))])
        rv, _ = occ.cut(
            [(3, rv_epi.add_to(occ))],
            [(3, rv_endo.add_to(occ)), (3, lv_epi.add_to(occ)), (3, _base_box(occ, base_z, reach))],
        )
        if not lv or not rv:
            raise MeshError("the biventricular geometry is empty: check that the RV ellipsoids reach beyond the LV")
        _, pieces = occ.fragment(lv, rv)
        occ.synchronize()
        lv_vols = sorted({t for d, t in itertools.chain(*pieces[: len(lv)]) if d == 3})
        rv_vols = sorted({t for d, t in itertools.chain(*pieces[len(lv) :]) if d == 3})
        volumes = {**{v: 1 for v in lv_vols}, **{v: 2 for v in rv_vols}}
        boundary = []
        for _d, s in gmsh.model.getEntities(2):
            up, _ = gmsh.model.getAdjacencies(2, s)
            if len([v for v in up if v in volumes]) == 1:
                boundary.append(s)
        gmsh.model.mesh.generate(3)
        levels = {"base": _Plane(base_z), "endo_lv": lv_endo, "lv_epi": lv_epi, "endo_rv": rv_endo, "epi": rv_epi}
        names = {}
        for s in boundary:
            name = _classify_entity(gmsh, s, levels)
            if name == "lv_epi":  # the LV outer surface is RV endocardium where it faces the RV cavity, else epicardium
                _, x, _ = gmsh.model.mesh.getNodes(2, s, includeBoundary=False)
                x = np.asarray(x).reshape(-1, 3)
                name = "endo_rv" if x.size and np.median(rv_endo.level(x)) < 0 else "epi"
            names[s] = name
        points, tets, regions, tris = _extract(gmsh, volumes, names)
    return _finish(points, tets, regions, tris, HEART_SURFACE_TAGS, ((1, "LV"), (2, "RV")))


# ====================================================================================================== built-in meshes
@dataclass(frozen=True)
class _Builtin:
    """A shipped mesh: its file name in meshes/ and the generator call that makes it (the recipe is the provenance)."""

    file: str
    generator: str
    kwargs: tuple  # ((name, value), ...)

    def generate(self) -> Mesh:
        return _GENERATORS[self.generator](**dict(self.kwargs))


_GENERATORS = {"slab_mesh": slab_mesh, "lv_ellipsoid_mesh": lv_ellipsoid_mesh, "biv_mesh": biv_mesh}

BUILTIN_MESHES = {
    "niederer_slab_0.5mm": _Builtin("niederer_slab_0.5mm.vtu", "slab_mesh", (("size", (20.0, 7.0, 3.0)), ("dx", 0.5))),
    "lv_ellipsoid": _Builtin("lv_ellipsoid.vtu", "lv_ellipsoid_mesh", ()),
    "biv": _Builtin("biv.vtu", "biv_mesh", ()),
}


def _builtin_dirs() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).resolve().parent  # organtwin/mesh
    return [
        here.parent / "_meshes",  # inside an installed wheel, if the build includes meshes/ there
        here.parent.parent / "meshes",  # the source checkout (editable install): <repo>/meshes
    ]


def _builtin_cache_dir() -> pathlib.Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(root) / "organtwin" / "meshes"


def builtin_mesh_path(name: str) -> pathlib.Path:
    """The path of a built-in mesh file: ``"niederer_slab_0.5mm"``, ``"lv_ellipsoid"`` or ``"biv"`` (``.vtu`` optional).

    Looks in the package's ``_meshes/`` folder (installed wheel) and then in ``meshes/`` next to the package (a source
    checkout or editable install). If neither has the file, the mesh is generated on the fly with the same generator call
    that made the shipped file (see `BUILTIN_MESHES`; the biventricular mesh takes about 10-20 s), written once to the
    user cache (``$XDG_CACHE_HOME/organtwin/meshes`` or ``~/.cache/organtwin/meshes``), and that path is returned. A
    regenerated gmsh mesh can differ in detail from the shipped one if the gmsh version differs.
    """
    key = str(name)
    if key.endswith(".vtu"):
        key = key[: -len(".vtu")]
    try:
        spec = BUILTIN_MESHES[key]
    except KeyError:
        raise MeshError(f"no built-in mesh named {name!r} (built-in meshes: {', '.join(BUILTIN_MESHES)})") from None
    for folder in _builtin_dirs():
        path = folder / spec.file
        if path.is_file():
            return path
    path = _builtin_cache_dir() / spec.file
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_builtin_vtu(spec.generate(), path)  # atomic: a concurrent caller sees either no file or a whole one
    return path


def _write_builtin_vtu(mesh: Mesh, path) -> None:
    """Write a mesh as a compressed binary VTU in the gmsh-physical convention the mesh reader understands, atomically,
    with organtwin's one VTU writer (`organtwin.io.VtuWriter`).

    One ``tetra`` block and one ``triangle`` block (all surfaces, in name order); cell data ``gmsh:physical`` holds the
    region id of each tet and the surface tag of each triangle; field data ``{name: [tag, dim]}`` names both (dim 3 for
    regions, 2 for surfaces); per-tet ``fibres`` (and ``sheets``) are written when present, zero on the triangles.
    """
    from ._vtu import VtuWriter

    names = sorted(mesh.surfaces)
    tris = [mesh.surfaces[n].triangles for n in names]
    tri = np.concatenate(tris) if tris else np.zeros((0, 3), dtype=np.int32)
    tri_tags = (
        np.concatenate([np.full(len(t), mesh.surfaces[n].tag, dtype=np.int32) for n, t in zip(names, tris)])
        if tris
        else np.zeros(0, dtype=np.int32)
    )
    tags = [mesh.surfaces[n].tag for n in names]
    if len(set(tags)) != len(tags):
        raise MeshError(f"surface tags must be distinct to be written, got {dict(zip(names, tags))}")
    cell_data: dict[str, np.ndarray] = {"gmsh:physical": np.concatenate([mesh.regions.astype(np.int32), tri_tags])}
    for field in ("fibres", "sheets"):
        value = getattr(mesh, field)
        if value is not None:
            cell_data[field] = np.concatenate([value.astype(np.float64), np.zeros((len(tri), 3))])
    field_data = {n: (mesh.surfaces[n].tag, 2) for n in names}
    field_data.update({rname: (rid, 3) for rid, rname in mesh.region_names})
    VtuWriter(
        mesh.points, mesh.tets.astype(np.int32), cell_data, triangles=tri.astype(np.int32), field_data=field_data
    ).write(path)


def ellipsoid_volume_mesh(
    center, radii, *, h_far: float = 20.0, h_near: float = 4.0, near_center=None, near_radius: float = 60.0
) -> Mesh:
    """A tetrahedral ellipsoid (semi-axes ``radii`` mm, axis-aligned, centred at ``center``) with element size
    ``h_near`` within ``near_radius`` mm of ``near_center`` (default: the centre), growing to ``h_far`` outside: a
    homogeneous volume conductor (e.g. a torso around a heart). One region (1, "torso"), surface "skin"."""
    _check_positive(h_far=h_far, h_near=h_near, near_radius=near_radius)
    radii = tuple(float(r) for r in radii)
    if len(radii) != 3 or min(radii) <= 0:
        raise MeshError(f"ellipsoid radii must be three positive lengths in mm, got {radii}")
    center = tuple(float(c) for c in center)
    near = center if near_center is None else tuple(float(c) for c in near_center)
    with _gmsh_model(
        "torso", h_far, what="the torso ellipsoid", hint="check the torso's radii and element sizes"
    ) as gmsh:
        gmsh.option.setNumber("Mesh.MeshSizeMin", min(h_near, h_far))
        occ = gmsh.model.occ
        vol = _Ellipsoid(center, radii).add_to(occ)
        occ.synchronize()
        ball = gmsh.model.mesh.field.add("Ball")
        gmsh.model.mesh.field.setNumber(ball, "VIn", h_near)
        gmsh.model.mesh.field.setNumber(ball, "VOut", h_far)
        gmsh.model.mesh.field.setNumber(ball, "Radius", near_radius)
        gmsh.model.mesh.field.setNumber(ball, "Thickness", 2.0 * near_radius)
        for k, v in zip("XYZ", near):
            gmsh.model.mesh.field.setNumber(ball, k + "Center", v)
        gmsh.model.mesh.field.setAsBackgroundMesh(ball)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.model.mesh.generate(3)
        surfaces = [tag for dim, tag in gmsh.model.getBoundary([(3, vol)], oriented=False)]
        points, tets, regions, tris = _extract(gmsh, {vol: 1}, {s: "skin" for s in surfaces})
    return _finish(points, tets, regions, tris, {"skin": 10}, {1: "torso"})
