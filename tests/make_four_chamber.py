"""A coarse four-chamber heart test mesh, shaped like the public cohort meshes, written as a third-party file would be.

`python tests/make_four_chamber.py` rewrites tests/data/four_chamber/ (the files are committed; the test suite reads
them and does not need gmsh). `--out DIR` writes elsewhere (the slow regeneration test does). See the README next to
the files for what each field means. The layout follows the cohort meshes of Strocchi et al. 2020 (PLoS ONE
15:e0235145) and Rodero et al. 2021 in kind, not in detail: ellipsoidal ventricles, thin atrial shells and two short
vessel stubs.

Geometry (mm; long axis z, apex at negative z; the atrioventricular (AV) plane is z = 0):

* LV: ellipsoids centred at the origin, cavity radii `LV_ENDO`, outer radii `LV_EPI` (10 mm wall). The cavity stops
  `LID` mm below the AV plane; the ventricles' myocardium closes it with a fibrous "lid" pierced by two valve channels,
  mitral and aortic, that run up to z = 0.
* RV: a larger ellipsoid pair shifted to -y (`RV_CENTRE`, `RV_ENDO`, `RV_EPI`, 4 mm free wall); its cavity is the RV
  endocardial ellipsoid minus the LV outer ellipsoid (a crescent wrapping the LV's -y side), closed by the same lid with
  the tricuspid and pulmonary channels.
* septum (region 7): the part of the LV wall inside the ellipsoid `SEPTUM` (the RV cavity ellipsoid, widened in y so
  that it spans the LV wall between the cavities) below the lid (z < -`LID`); the rest of the LV wall is region 1.
* LA and RA: 2.5 mm ellipsoidal shells above and behind (+x) the ventricles, each joined to its AV valve opening by an
  oblique funnel (a ruled loft from the valve ring at z = 0 up into the atrial body).
* aorta and pulmonary artery: straight tubes (2 mm wall) 25 mm long on the aortic and pulmonary openings.

Openings are not meshed (cavities are empty, as in the cohort files); the four valve planes are caps over the channel
openings at z = 0, triangulated from the ring nodes only (no extra nodes), so they are the only triangles in the file
that are not tet faces. Everything else is a tet face, checked below.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "data" / "four_chamber"

H = 4.0  # target element size, mm (the thin atrial walls get flat tets: real meshes have them too)
SEED = 1  # gmsh Mesh.RandomSeed
LID = 8.0  # thickness of the basal lid, mm: the ventricular cavities stop at z = -LID
LV_ENDO, LV_EPI = (31.0, 26.0, 78.0), (41.0, 36.0, 88.0)
RV_CENTRE = (0.0, -28.0, 0.0)
RV_ENDO, RV_EPI = (46.0, 42.0, 74.0), (50.0, 46.0, 78.0)
SEPTUM = (46.0, 52.0, 74.0)  # septum selector ellipsoid (centre RV_CENTRE), cut at z = -LID
# valve channels (x, y, radius), running from the cavity top (z = -LID - 1) to the AV plane z = 0
MITRAL, AORTIC = (14.5, 0.0, 12.5), (-16.0, 0.0, 11.0)
TRICUSPID, PULMONARY = (14.0, -51.0, 11.5), (-16.0, -50.0, 11.0)
# atria: body ellipsoid (centre, inner radii); the funnel from the AV valve ring (z = 0) to a circle (x, y, z, radius)
LA_BODY, RA_BODY = ((30.0, 2.0, 27.0), (24.0, 21.0, 18.0)), ((30.0, -52.0, 27.0), (24.0, 20.0, 18.0))
LA_FUNNEL_TOP, RA_FUNNEL_TOP = (28.0, 2.0, 24.0, 12.0), (28.0, -52.0, 24.0, 11.5)
ATRIAL_WALL = 2.5
VESSEL_WALL, VESSEL_LENGTH = 2.0, 25.0

REGIONS = {"LV": 1, "RV": 2, "LA": 3, "RA": 4, "aorta": 5, "pulmonary artery": 6, "septum": 7}
SURFACES = {
    "LV endocardium": 10,
    "RV endocardium": 11,
    "LV epicardium": 12,
    "RV epicardium": 13,
    "mitral valve plane": 14,
    "tricuspid valve plane": 15,
    "aortic valve plane": 16,
    "pulmonary valve plane": 17,
    "LA endocardium": 18,
    "RA endocardium": 19,
    "atrial and vessel epicardium": 20,
    "ventricular base": 21,
    "AV junction": 22,
    "VA junction": 23,
    "aorta lumen": 24,
    "pulmonary artery lumen": 25,
}
VENTRICLES = (1, 2, 7)
LV_CAVITY_ML, RV_CAVITY_ML = (100.0, 140.0), (120.0, 190.0)
MAX_BYTES = 2_000_000

_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])  # tet faces, outward for a positive tet


# ============================================================================================================ geometry
def _inside_ellipsoid(p, centre, radii):
    return (((p - np.asarray(centre)) / np.asarray(radii)) ** 2).sum(axis=-1) < 1.0


def _inside_cylinder(p, x, y, r, z0, z1):
    return ((p[..., 0] - x) ** 2 + (p[..., 1] - y) ** 2 < r * r) & (p[..., 2] > z0) & (p[..., 2] < z1)


def _outer(radii, wall):
    return tuple(r + wall for r in radii)


def _lv_cavity(p):
    return (
        (_inside_ellipsoid(p, (0, 0, 0), LV_ENDO) & (p[..., 2] < -LID))
        | _inside_cylinder(p, *MITRAL, -LID - 1, 0)
        | _inside_cylinder(p, *AORTIC, -LID - 1, 0)
    )


def _rv_cavity(p):
    return (
        (_inside_ellipsoid(p, RV_CENTRE, RV_ENDO) & ~_inside_ellipsoid(p, (0, 0, 0), LV_EPI) & (p[..., 2] < -LID))
        | _inside_cylinder(p, *TRICUSPID, -LID - 1, 0)
        | _inside_cylinder(p, *PULMONARY, -LID - 1, 0)
    )


def _inside_funnel(p, valve, top):
    (x0, y0, r0), (x1, y1, z1, r1) = valve, top
    t = p[..., 2] / z1
    x, y, r = x0 + t * (x1 - x0), y0 + t * (y1 - y0), r0 + t * (r1 - r0)
    return ((p[..., 0] - x) ** 2 + (p[..., 1] - y) ** 2 < r * r) & (t > 0) & (t < 1)


def _atrial_cavity(p, body, valve, top):
    return _inside_ellipsoid(p, *body) | _inside_funnel(p, valve, top)


def _vessel_lumen(p, valve):
    return _inside_cylinder(p, *valve, 0, VESSEL_LENGTH)


def _check_design():
    """The valve channels start inside their cavity (>= 1 mm from its wall) and the openings leave room for the atrial
    and vessel rings on the lid; the parts themselves must not overlap (checked in `_build_gmsh`)."""
    a = np.linspace(0, 2 * np.pi, 181)
    for valve, cavity in ((MITRAL, _lv_cavity), (AORTIC, _lv_cavity), (TRICUSPID, _rv_cavity), (PULMONARY, _rv_cavity)):
        x, y, r = valve
        ring = np.column_stack([x + (r + 1) * np.cos(a), y + (r + 1) * np.sin(a), np.full(a.size, -LID - 0.5)])
        assert cavity(ring).all(), f"the valve channel at ({x}, {y}) does not start inside its cavity"
        rr = r + ATRIAL_WALL + 1
        lid = np.column_stack([x + rr * np.cos(a), y + rr * np.sin(a), np.full(a.size, -0.5)])
        assert (_inside_ellipsoid(lid, (0, 0, 0), LV_EPI) | _inside_ellipsoid(lid, RV_CENTRE, RV_EPI)).all(), (
            f"the ring around the valve at ({x}, {y}) leaves the ventricles' top"
        )


def _build_gmsh(gmsh, h: float) -> dict:
    """The seven parts as OpenCASCADE solids, fragmented into one conforming model; returns {volume tag: region id}."""
    _check_design()
    occ = gmsh.model.occ
    big = 500.0

    def ell(centre, radii):
        t = occ.addSphere(*centre, 1.0)
        occ.dilate([(3, t)], *centre, *radii)
        return [(3, t)]

    def below(z):
        return [(3, occ.addBox(-big, -big, -big, 2 * big, 2 * big, big + z))]

    def cyl(x, y, r, z0, z1):
        return [(3, occ.addCylinder(x, y, z0, 0, 0, z1 - z0, r))]

    def cut(a, b):
        out, _ = occ.cut(a, b)
        return out

    def common(a, b):
        out, _ = occ.intersect(a, b)
        return out

    def fuse(a, b):
        out, _ = occ.fuse(a, b)
        return out

    def lv_cavity():
        c = common(ell((0, 0, 0), LV_ENDO), below(-LID))
        return fuse(fuse(c, cyl(*MITRAL, -LID - 1, 0)), cyl(*AORTIC, -LID - 1, 0))

    def rv_cavity():
        c = cut(common(ell(RV_CENTRE, RV_ENDO), below(-LID)), ell((0, 0, 0), LV_EPI))
        return fuse(fuse(c, cyl(*TRICUSPID, -LID - 1, 0)), cyl(*PULMONARY, -LID - 1, 0))

    def lv_wall():
        return cut(cut(common(ell((0, 0, 0), LV_EPI), below(0)), lv_cavity()), rv_cavity())

    def funnel(valve, top, wall):
        (x0, y0, r0), (x1, y1, z1, r1) = valve, top
        loops = [
            occ.addCurveLoop([occ.addCircle(x0, y0, 0, r0 + wall)]),
            occ.addCurveLoop([occ.addCircle(x1, y1, z1, r1 + wall)]),
        ]
        return [x for x in occ.addThruSections(loops, makeSolid=True, makeRuled=True) if x[0] == 3]

    def septum():
        return common(ell(RV_CENTRE, SEPTUM), below(-LID))

    def atrium(body, valve, top):
        c, radii = body
        outer = fuse(ell(c, _outer(radii, ATRIAL_WALL)), funnel(valve, top, ATRIAL_WALL))
        return cut(outer, fuse(ell(c, radii), funnel(valve, top, 0.0)))

    def vessel(valve):
        x, y, r = valve
        return cut(cyl(x, y, r + VESSEL_WALL, 0, VESSEL_LENGTH), cyl(x, y, r, -1, VESSEL_LENGTH + 1))

    parts = [
        (1, cut(lv_wall(), septum())),
        (7, common(lv_wall(), septum())),
        (2, cut(cut(common(ell(RV_CENTRE, RV_EPI), below(0)), ell((0, 0, 0), LV_EPI)), rv_cavity())),
        (3, atrium(LA_BODY, MITRAL, LA_FUNNEL_TOP)),
        (4, atrium(RA_BODY, TRICUSPID, RA_FUNNEL_TOP)),
        (5, vessel(AORTIC)),
        (6, vessel(PULMONARY)),
    ]
    occ.synchronize()
    for region, dimtags in parts:
        assert dimtags and all(d == 3 for d, _ in dimtags), f"region {region} is empty"
    # no two parts may overlap: they only touch (the fragment below would otherwise cut them into shared pieces)
    mass = {region: sum(occ.getMass(3, t) for _, t in dt) for region, dt in parts}
    objects = [dt for _, dt in parts]
    flat = [x for dt in objects for x in dt]
    _, pieces = occ.fragment(flat, [])
    occ.synchronize()
    volumes, k = {}, 0
    for region, dimtags in parts:
        for _ in dimtags:
            for _d, t in pieces[k]:
                assert t not in volumes, f"parts overlap: volume {t} is in regions {volumes[t]} and {region}"
                volumes[t] = region
            k += 1
    after = {r: sum(occ.getMass(3, t) for t, rr in volumes.items() if rr == r) for r in mass}
    for r in mass:
        assert abs(after[r] - mass[r]) < 1e-3 * mass[r], f"region {r} changed in the fragment: {mass} -> {after}"
    return volumes


def _mesh(h: float):
    """Mesh the model with fixed options; returns points (mm), tets, their region ids, the gmsh surface entity of each
    surface triangle (a dict from sorted node triple to entity tag) and the gmsh version."""
    import gmsh

    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add("four_chamber")
        volumes = _build_gmsh(gmsh, h)
        for name, value in (
            ("Mesh.MeshSizeMax", h),
            ("Mesh.MeshSizeMin", 0.5 * h),
            ("Mesh.MeshSizeFromCurvature", 0),
            ("Mesh.MeshSizeExtendFromBoundary", 1),
            ("Mesh.Algorithm", 6),
            ("Mesh.Algorithm3D", 1),
            ("Mesh.RandomSeed", SEED),
            ("Mesh.Optimize", 1),
            ("Mesh.OptimizeNetgen", 0),
            ("Mesh.ElementOrder", 1),
        ):
            gmsh.option.setNumber(name, value)
        gmsh.model.mesh.generate(3)
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        index = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
        index[node_tags] = np.arange(node_tags.size)
        points = np.asarray(coords).reshape(-1, 3)
        tets, regions = [], []
        for vol, region in sorted(volumes.items()):
            types, _, conn = gmsh.model.mesh.getElements(3, vol)
            assert list(types) == [4], f"volume {vol}: element types {list(types)}, expected only linear tets"
            t = index[np.asarray(conn[0]).reshape(-1, 4)]
            tets.append(t)
            regions.append(np.full(t.shape[0], region, dtype=np.int32))
        entity = {}
        for _, s in gmsh.model.getEntities(2):
            types, _, conn = gmsh.model.mesh.getElements(2, s)
            for k in np.sort(index[np.asarray(conn[0]).reshape(-1, 3)], axis=1).tolist():
                entity[tuple(k)] = s
        version = gmsh.__version__
    finally:
        gmsh.finalize()
    tets, regions = np.concatenate(tets), np.concatenate(regions)
    used = np.unique(tets)  # drop nodes used by no tet (gmsh keeps none here, but be sure)
    remap = np.full(points.shape[0], -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    entity = {tuple(sorted(remap[list(k)].tolist())): s for k, s in entity.items()}
    return points[used], remap[tets], regions, entity, version


# ============================================================================================================ surfaces
def _tet_volumes(points, tets):
    p = points[tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0


def _faces(tets):
    """All tet faces (outward for positive tets), their owning tet, and their sorted-node keys."""
    faces = tets[:, _FACES].reshape(-1, 3)
    owner = np.repeat(np.arange(tets.shape[0]), 4)
    return faces, owner, np.sort(faces, axis=1)


def boundary_faces(tets):
    """Faces used by exactly one tet, outward oriented (tets positive)."""
    faces, _, keys = _faces(tets)
    _, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return faces[counts[inv.ravel()] == 1]


def _classify(points, tets, regions, entity):
    """Triangles and their surface ids: boundary faces and the ventricle/atrium and ventricle/artery interfaces.

    A boundary face is labelled by where a point 0.5 mm outside it lies (LV cavity, RV cavity, atrial cavity, vessel
    lumen or outside), by majority over its gmsh surface entity: each entity is one smooth patch of one surface, and the
    vote keeps faces in the acute wedges at the RV insertions (where the point outside can land wrongly) right.
    """
    faces, owner, keys = _faces(tets)
    _, first, inv, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    assert counts.max() <= 2, "a face is shared by more than two tets: the mesh is not conforming"
    vent = np.isin(regions, VENTRICLES)
    tris, ids = [], []
    # interfaces: one face per pair, oriented out of the ventricle
    shared = np.flatnonzero(counts[inv] == 2)
    other = np.empty(faces.shape[0], dtype=np.int64)
    order = np.argsort(inv[shared], kind="stable")
    pairs = shared[order].reshape(-1, 2)
    other[pairs[:, 0]], other[pairs[:, 1]] = owner[pairs[:, 1]], owner[pairs[:, 0]]
    own_v = vent[owner[shared]]
    oth = regions[other[shared]]
    for label, kinds in ((22, (3, 4)), (23, (5, 6))):
        sel = shared[own_v & np.isin(oth, kinds)]
        tris.append(faces[sel])
        ids.append(np.full(sel.size, label))
    # boundary faces, classified by where a point just outside the face lies
    bnd = np.flatnonzero(counts[inv] == 1)
    f = faces[bnd]
    reg = regions[owner[bnd]]
    p = points[f]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    q = p.mean(axis=1) + 0.5 * n
    label = np.zeros(bnd.size, dtype=np.int64)
    is_v = np.isin(reg, VENTRICLES)
    top = np.abs(p[:, :, 2]).max(axis=1) < 1e-6
    label[is_v] = np.where(reg[is_v] == 2, 13, 12)
    label[is_v & _rv_cavity(q)] = 11
    label[is_v & _lv_cavity(q)] = 10
    label[is_v & top] = 21
    for region, endo, cavity in (
        (3, 18, lambda x: _atrial_cavity(x, LA_BODY, MITRAL, LA_FUNNEL_TOP)),
        (4, 19, lambda x: _atrial_cavity(x, RA_BODY, TRICUSPID, RA_FUNNEL_TOP)),
        (5, 24, lambda x: _vessel_lumen(x, AORTIC)),
        (6, 25, lambda x: _vessel_lumen(x, PULMONARY)),
    ):
        m = reg == region
        label[m] = np.where(cavity(q[m]), endo, 20)
    assert (label > 0).all()
    ent = np.array([entity[tuple(k)] for k in np.sort(f, axis=1).tolist()])
    for e in np.unique(ent):
        m = ent == e
        votes = np.bincount(label[m])
        label[m] = int(np.argmax(votes))
    tris.append(f)
    ids.append(label)
    return np.concatenate(tris), np.concatenate(ids)


def _cap(points, ring_nodes, x, y):
    """Triangulate the opening bounded by `ring_nodes` (nodes on a circle around (x, y) at z = 0) without new nodes, in
    a zig-zag strip (fewer slivers than a fan); normals point to -z (into the ventricle: with the endocardium, whose
    triangles point out of the tissue into the cavity, the cavity surface is consistently oriented)."""
    v = ring_nodes[np.argsort(np.arctan2(points[ring_nodes, 1] - y, points[ring_nodes, 0] - x))]
    n = v.size
    tri = [(0, 1, n - 1)]
    lo, hi, turn = 1, n - 1, True
    while hi - lo > 1:
        if turn:
            tri.append((lo, lo + 1, hi))
            lo += 1
        else:
            tri.append((lo, hi - 1, hi))
            hi -= 1
        turn = not turn
    tri = v[np.array(tri)]
    return tri[:, [0, 2, 1]]  # counter-clockwise seen from +z, flipped to point down


def _ring(points, tets, x, y, r):
    used = np.unique(tets)
    p = points[used]
    on = (np.abs(p[:, 2]) < 1e-6) & (np.abs(np.hypot(p[:, 0] - x, p[:, 1] - y) - r) < 1e-4 * r)
    return used[on]


# ============================================================================================================== checks
def _edges_ok(tris, what):
    """A closed, consistently oriented surface: every directed edge once, its reverse once."""
    e = tris[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
    directed = {tuple(x) for x in e.tolist()}
    assert len(directed) == e.shape[0], f"{what}: an edge is used twice in one direction (inconsistent orientation)"
    missing = sum((b, a) not in directed for a, b in directed)
    assert missing == 0, f"{what}: {missing} edges have no neighbour on the other side (the surface is not closed)"


def enclosed_volume_ml(points, tris):
    """Volume (mL) enclosed by a closed triangle surface whose normals point INTO the enclosed region."""
    p = points[tris]
    return -np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0 / 1000.0


def components(tets):
    """Number of face-connected components of a tet set."""
    faces, owner, keys = _faces(tets)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    s = inv[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    a, b = owner[order[dup]], owner[order[dup + 1]]
    parent = np.arange(tets.shape[0])

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(a.tolist(), b.tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[ri] = rj
    return len({find(i) for i in range(tets.shape[0])})


def dihedral_angles(points, tets):
    """The six interior dihedral angles (degrees) of each tet."""
    p = points[tets]
    n = np.stack([np.cross(p[:, b] - p[:, a], p[:, c] - p[:, a]) for a, b, c in _FACES], axis=1)
    n /= np.linalg.norm(n, axis=2, keepdims=True)  # outward face normals
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    cos = np.stack([-(n[:, i] * n[:, j]).sum(axis=1) for i, j in pairs], axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def check(points, tets, regions, tris, sids) -> dict:
    """The consistency checks (assertions); returns the figures quoted in the README."""
    vol = _tet_volumes(points, tets)
    assert (vol > 0).all(), f"{(vol <= 0).sum()} tets are not positively oriented"
    assert components(tets) == 1, "the mesh is not one connected piece"
    vt = tets[np.isin(regions, VENTRICLES)]
    assert components(vt) == 1, "the ventricles (regions 1, 2, 7) are not one connected piece"
    caps = np.isin(sids, [14, 15, 16, 17])
    tetface = {tuple(x) for x in np.sort(tets[:, _FACES].reshape(-1, 3), axis=1).tolist()}
    off = [tuple(x) for x in np.sort(tris[~caps], axis=1).tolist() if tuple(x) not in tetface]
    assert not off, f"{len(off)} surface triangles (not valve planes) are not tet faces"
    bnodes = set(np.unique(boundary_faces(tets)).tolist())
    assert set(np.unique(tris[caps]).tolist()) <= bnodes, "valve-plane nodes must lie on the mesh boundary"
    # the ventricles' boundary is exactly LV/RV endocardium, epicardium and the base (free top + junctions)
    vb = {tuple(x) for x in np.sort(boundary_faces(vt), axis=1).tolist()}
    tagged = {tuple(x) for x in np.sort(tris[np.isin(sids, [10, 11, 12, 13, 21, 22, 23])], axis=1).tolist()}
    assert vb == tagged, f"ventricle boundary vs tags: {len(vb - tagged)} untagged, {len(tagged - vb)} extra"
    # the cavities, closed by their valve planes
    out = {}
    for name, ids, (lo, hi) in (
        ("LV", (10, 14, 16), LV_CAVITY_ML),
        ("RV", (11, 15, 17), RV_CAVITY_ML),
        ("LA", (18, 14), (0, np.inf)),
        ("RA", (19, 15), (0, np.inf)),
    ):
        t = tris[np.isin(sids, ids)]
        if name in ("LA", "RA"):  # the atrial side of the valve plane faces the other way
            cap = np.isin(sids[np.isin(sids, ids)], [14, 15])
            t = np.where(cap[:, None], t[:, [0, 2, 1]], t)
        _edges_ok(t, f"{name} cavity surface")
        v = enclosed_volume_ml(points, t)
        assert lo <= v <= hi, f"{name} cavity {v:.1f} mL outside [{lo}, {hi}] mL"
        out[f"{name} cavity (mL)"] = round(float(v), 1)
    for name, ids in (
        ("LV", (1, 7)),
        ("RV", (2,)),
        ("septum", (7,)),
        ("LA", (3,)),
        ("RA", (4,)),
        ("aorta", (5,)),
        ("pulmonary artery", (6,)),
    ):
        out[f"{name} tissue (mL)"] = round(float(vol[np.isin(regions, ids)].sum() / 1000.0), 1)
    dih = dihedral_angles(points, tets)
    out["min dihedral angle (deg)"] = round(float(dih.min()), 2)
    out["tets with a dihedral angle < 10 deg"] = int((dih.min(axis=1) < 10).sum())
    return out


# ============================================================================================================= writing
def build(h: float = H):
    points, tets, regions, entity, version = _mesh(h)
    vol = _tet_volumes(points, tets)
    tets[vol < 0] = tets[vol < 0][:, [0, 2, 1, 3]]  # gmsh tets are positive already; be sure
    tris, sids = _classify(points, tets, regions, entity)
    caps = []
    for valve, label in ((MITRAL, 14), (TRICUSPID, 15), (AORTIC, 16), (PULMONARY, 17)):
        ring = _ring(points, tets, *valve)
        assert ring.size >= 8, f"valve plane {label}: only {ring.size} ring nodes found"
        c = _cap(points, ring, valve[0], valve[1])
        caps.append((c, np.full(c.shape[0], label)))
    tris = np.concatenate([tris] + [c for c, _ in caps])
    sids = np.concatenate([sids] + [s for _, s in caps])
    order = np.argsort(sids, kind="stable")
    return points, tets, regions, tris[order], sids[order], version


def write(outdir: Path, h: float = H) -> dict:
    import meshio

    points, tets, regions, tris, sids, version = build(h)
    figures = check(points, tets, regions, tris, sids)
    outdir.mkdir(parents=True, exist_ok=True)
    nt, nf = tets.shape[0], tris.shape[0]
    zt, zf = np.zeros(nt, dtype=np.int32), np.zeros(nf, dtype=np.int32)
    tag = np.where(regions == 7, 1, regions).astype(np.int32)

    def const(v, n):
        return np.tile(np.asarray(v, dtype=np.float32), (n, 1))

    heart = meshio.Mesh(
        points,
        [("tetra", tets), ("triangle", tris)],
        cell_data={
            "_volume-id": [regions.astype(np.int32), zf],
            "_surface-id": [zt, sids.astype(np.int32)],
            "tag": [tag, zf],
            "fibres": [const((0, 0, 1), nt), const((0, 0, 1), nf)],
            "sheets": [const((0, 1, 1), nt), const((0, 1, 1), nf)],
        },
    )
    meshio.write(outdir / "heart.vtu", heart, binary=True, compression="zlib")
    vent = np.isin(regions, VENTRICLES)
    used = np.unique(tets[vent])
    remap = np.full(points.shape[0], -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    ventricles = meshio.Mesh(
        points[used], [("tetra", remap[tets[vent]])], cell_data={"_volume-id": [regions[vent].astype(np.int32)]}
    )
    meshio.write(outdir / "ventricles_untagged.vtu", ventricles, binary=True, compression="zlib")
    (outdir / "heart_surfaces.json").write_text(json.dumps(SURFACES, indent=1) + "\n")
    (outdir / "heart_regions.json").write_text(json.dumps(REGIONS, indent=1) + "\n")
    size = (outdir / "heart.vtu").stat().st_size
    assert size < MAX_BYTES, f"heart.vtu is {size} bytes, over {MAX_BYTES}"
    counts = {s: int((sids == s).sum()) for s in sorted(SURFACES.values())}
    figures.update(
        {
            "gmsh": version,
            "h (mm)": h,
            "nodes": int(points.shape[0]),
            "tets": int(nt),
            "triangles": int(nf),
            "heart.vtu bytes": int(size),
            "ventricles nodes": int(used.size),
            "ventricles tets": int(vent.sum()),
            "ventricles_untagged.vtu bytes": int((outdir / "ventricles_untagged.vtu").stat().st_size),
            "tets per region": {r: int((regions == r).sum()) for r in sorted(REGIONS.values())},
            "triangles per surface": counts,
        }
    )
    return figures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    ap.add_argument("--h", type=float, default=H, help=f"element size, mm (default {H})")
    args = ap.parse_args(argv)
    figures = write(args.out, args.h)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
