"""Standard ECG electrode positions around a heart mesh: the nine electrodes RA, LA, LL, V1–V6 placed from the heart's
centre, its long axis and the side the right ventricle lies on.

A canonical adult chest is described in a torso frame (mm, origin at the heart's centre): X towards the patient's left,
Y anterior, Z superior. Positions (rounded from adult anthropometry; the heart's centre sits ~30 mm left of the midline
and ~60 mm behind the sternum):

* V1, V2: 4th intercostal space at the right / left sternal border (±25 mm from the midline), 30 mm above the centre;
* V4: 5th intercostal space, mid-clavicular line (90 mm left of the midline); V3 halfway between V2 and V4;
* V5 anterior axillary and V6 mid-axillary line at the level of V4;
* RA, LA on the right / left shoulder, LL on the left hip (Mason–Likar torso placement, as used for exercise ECGs and
  in simulation studies where the limbs are not modelled).

In that frame the heart's long axis (base → apex) points left, anterior and inferior: ``(0.55, 0.45, -0.70)``
(normalised), and the right ventricle lies to the right and anterior of the left: ``(-0.6, 0.8, 0)`` (its component
normal to the long axis is used). `standard_electrodes` rotates the canonical positions so that these two directions
match the mesh's, and translates them to the mesh's heart centre. The positions are approximate (±2 cm in real
patients); for a patient give measured positions instead.
"""

from __future__ import annotations

import numpy as np

from ._leads import ELECTRODE_NAMES

__all__ = ["CANONICAL_ELECTRODES", "CANONICAL_TORSO", "electrodes_for_mesh", "heart_frame", "standard_electrodes",
           "torso_for_heart"]

# The canonical torso (same frame): an ellipsoid around the chest and abdomen, mm.
CANONICAL_TORSO = {"center": (-30.0, -50.0, -75.0), "radii": (170.0, 115.0, 300.0)}

# torso frame, mm, origin at the heart's centre (X patient's left, Y anterior, Z superior)
CANONICAL_ELECTRODES = {
    "RA": (-180.0, 0.0, 200.0),
    "LA": (120.0, 0.0, 200.0),
    "LL": (60.0, 0.0, -350.0),
    "V1": (-55.0, 60.0, 30.0),
    "V2": (-5.0, 60.0, 30.0),
    "V3": (27.5, 52.5, 15.0),
    "V4": (60.0, 45.0, 0.0),
    "V5": (100.0, 10.0, 0.0),
    "V6": (120.0, -40.0, 0.0),
}
_LONG_AXIS = np.array([0.55, 0.45, -0.70])
_RV_SIDE = np.array([-0.6, 0.8, 0.0])


def _frame(axis, side) -> np.ndarray:
    """Orthonormal columns (a, b, a × b) with a the axis and b the side direction's part normal to it."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    b = np.asarray(side, float)
    b = b - (b @ a) * a
    nb = np.linalg.norm(b)
    if nb < 1e-9:
        raise ValueError("standard_electrodes: the right-ventricle direction must not be parallel to the long axis")
    b = b / nb
    return np.stack([a, b, np.cross(a, b)], axis=1)


def standard_electrodes(centre, long_axis, rv_direction, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    """The nine standard electrode positions (mm, in the mesh's frame) for a heart with this ``centre`` (mm), long axis
    (base → apex) and direction from the left to the right ventricle. ``scale`` multiplies the canonical chest (e.g.
    0.9 for a small adult). Returns ``{name: (3,) position}`` in the order of `ELECTRODE_NAMES`."""
    if not scale > 0:
        raise ValueError(f"standard_electrodes: scale must be positive, got {scale}")
    R = _frame(long_axis, rv_direction) @ _frame(_LONG_AXIS, _RV_SIDE).T  # torso frame -> mesh frame
    c = np.asarray(centre, float).reshape(3)
    return {name: c + scale * (R @ np.asarray(CANONICAL_ELECTRODES[name])) for name in ELECTRODE_NAMES}


def heart_frame(mesh, *, lv: int | None = None, rv: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centre, long_axis, rv_direction)`` of a biventricular `Mesh`: centre = the centroid of the tissue, long axis
    from the base surface's centroid to the node farthest from it (the apex), right-ventricle direction from the LV
    region's centroid to the RV region's (regions named 'LV'/'RV', or the ids ``lv``/``rv``)."""
    pts = np.asarray(mesh.points, float)
    names = {v.upper(): k for k, v in dict(mesh.region_names).items()}
    lv = names.get("LV") if lv is None else lv
    rv = names.get("RV") if rv is None else rv
    if lv is None or rv is None:
        raise ValueError("the mesh needs regions named LV and RV to place electrodes (or give lv=, rv= region ids)")
    if "base" not in mesh.surfaces:
        raise ValueError("the mesh needs a surface named 'base' to find the heart's long axis for the electrodes")
    centroid = pts[np.asarray(mesh.tets)].mean(axis=1)

    def region_centre(r):
        m = np.asarray(mesh.regions) == r
        if not m.any():
            raise ValueError(f"no region {r} in the mesh")
        return centroid[m].mean(axis=0)

    base = pts[np.unique(mesh.surfaces["base"].triangles)].mean(axis=0)
    apex = pts[np.argmax(np.linalg.norm(pts - base, axis=1))]
    return centroid.mean(axis=0), apex - base, region_centre(rv) - region_centre(lv)


def electrodes_for_mesh(mesh, *, lv: int | None = None, rv: int | None = None, scale: float = 1.0) -> dict[str, np.ndarray]:
    """`standard_electrodes` for a biventricular `Mesh`, its frame from `heart_frame`."""
    c, axis, side = heart_frame(mesh, lv=lv, rv=rv)
    return standard_electrodes(c, axis, side, scale=scale)


def torso_for_heart(mesh, *, scale: float = 1.0, h_far: float = 20.0, h_near: float = 5.0, lv: int | None = None,
                    rv: int | None = None):
    """A homogeneous torso volume conductor around a biventricular `Mesh` and the standard electrodes on its skin.

    The canonical torso ellipsoid (`CANONICAL_TORSO`, times ``scale``) is meshed in the torso frame (element size
    ``h_near`` mm within 80 mm of the heart, ``h_far`` elsewhere) and moved rigidly into the mesh's frame with the same
    rotation as the electrodes (`heart_frame`); each canonical electrode goes to the nearest skin node. Returns
    ``(torso Mesh, {name: (3,) position on the skin})``. The torso does not conform to the heart mesh (see
    `lead_field_matrix`).
    """
    from ..mesh import ellipsoid_volume_mesh

    c, axis, side = heart_frame(mesh, lv=lv, rv=rv)
    R = _frame(axis, side) @ _frame(_LONG_AXIS, _RV_SIDE).T
    tc = np.asarray(CANONICAL_TORSO["center"]) * scale
    torso = ellipsoid_volume_mesh(tuple(tc), tuple(np.asarray(CANONICAL_TORSO["radii"]) * scale), h_far=h_far,
                                  h_near=h_near, near_center=(0.0, 0.0, 0.0), near_radius=80.0 * scale)
    canon = {n: scale * np.asarray(CANONICAL_ELECTRODES[n]) for n in ELECTRODE_NAMES}
    skin = np.unique(torso.surfaces["skin"].triangles)
    tp = np.asarray(torso.points)
    on_skin = {n: tp[skin[np.argmin(np.linalg.norm(tp[skin] - p, axis=1))]] for n, p in canon.items()}
    torso = torso.replace(points=c + tp @ R.T)
    return torso, {n: c + R @ p for n, p in on_skin.items()}
