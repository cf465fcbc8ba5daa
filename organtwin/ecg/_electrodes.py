"""Standard ECG electrode positions on a generated chest around a heart mesh: the nine electrodes RA, LA, LL, V1–V6 on
the skin of an ellipsoidal torso sized from the heart and placed from its long axis and the side the right ventricle
lies on. The same positions serve the infinite-medium pseudo-ECG (`pseudo_ecg_matrix`) and the torso lead-field ECG
(`torso_for_heart` meshes that very ellipsoid).

Torso frame (mm, origin at the centre of the ventricles): X towards the patient's left, Y anterior, Z superior. In it
the heart's long axis (base → apex) points left, anterior and inferior, ``(0.55, 0.45, -0.70)`` normalised (≈ 45° to
the left in the frontal plane, ≈ 30° forward: the usual oblique lie of the heart), and the right ventricle lies to
the right of and in front of the left, ``(-0.6, 0.8, 0)`` (its part normal to the long axis). A heart mesh is rotated
into this frame from its own axes (`heart_frame`: base → apex from the 'base' surface, LV → RV from the regions).

Reference adult (scale ``s = 1``; every length below is multiplied by ``s``):

* Heart: ventricular length base → apex ``L0 = 90 mm`` (the whole heart, atria included, is ~120 mm long, ~85 mm
  wide and ~60 mm deep: Gray's Anatomy). ``s = L / L0`` from the mesh's own ventricular length
  ``L`` (its extent along the long axis), so a small heart gets a small chest; ``L`` outside 50–150 mm (a child's heart
  is ~50 mm; a heart in metres or cm is 1000× or 10× off) warns (`MeshWarning`) and is still scaled proportionately.
* Chest at the level of the heart: an elliptic cross-section 320 mm wide (left–right) and 220 mm deep
  (front–back) — adult chest breadth ~300–350 mm and depth ~200–250 mm. The torso is the ellipsoid with that
  cross-section at Z = 0, vertical semi-axis 420 mm centred 130 mm below the heart (top ~290 mm above the heart: the
  shoulders; bottom ~550 mm below: the pelvis). The heart's centre is 40 mm left of the midline, and its most
  anterior point ``GAP = 35 mm`` behind the anterior skin (sternum and chest wall, ~20–40 mm in adults); the apex then
  lies near the anterior chest wall, as palpated at the 5th intercostal space, mid-clavicular line.
* Precordial electrodes (AHA/ACCF/HRS 2007 recommendations for the standardization of the ECG, part I, Kligfield et
  al., Circulation 115:1306): V1 / V2 in the 4th intercostal space at the right / left sternal border (25 mm either
  side of the midline), 30 mm above V4; V4 in the 5th intercostal space on the mid-clavicular line (95 mm left of the
  midline) at the height of the heart's apex; V3 halfway between V2 and V4; V5 on the anterior axillary line and V6
  on the mid-axillary line (the lateral extreme of the chest), both at V4's height. Each is put on the anterior skin
  of the ellipsoid at its (X, Z).
* Limb electrodes at the torso's limb junctions (Mason–Likar placement, Am Heart J 71:196, 1966, as used for
  exercise ECGs and in simulations where the limbs are not modelled): RA / LA below the right / left clavicle towards
  the shoulder (120 mm above the heart, 60% of the chest's half-width from the midline, anterior skin), LL at the
  left hip (200 mm below the heart, 50% of the half-width to the left). The limbs themselves are linear conductors
  that add no potential difference, so the potential at a limb's junction with the trunk is the limb lead's.

With these, the nearest electrode (usually V2–V4) lies ``GAP`` ≈ 30–40 mm from the myocardium and the limb electrodes
~80–160 mm from it (the built-in BiV: V1 55, V2 34, V3 31, V4 38, V5 53, V6 88, RA 121, LA 79, LL 156 mm), and a
normal activation of the built-in BiV gives QRS amplitudes within the published adult limits (`qrs_amplitude_check`)
with both the pseudo-ECG (times `SKIN_FACTOR`) and the torso lead field, at σ_i 0.1 and σ_b 0.2 S/m. The positions
are approximate (±2 cm in real patients): for a patient, give measured ones.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .._errors import InputError, MeshError, MeshWarning
from ._leads import ELECTRODE_NAMES

__all__ = [
    "CANONICAL_ELECTRODES",
    "CANONICAL_TORSO",
    "ChestPlacement",
    "chest_for_heart",
    "chest_geometry",
    "electrodes_for_mesh",
    "heart_frame",
    "standard_electrodes",
    "torso_for_heart",
]

_LONG_AXIS = np.array([0.55, 0.45, -0.70])
_RV_SIDE = np.array([-0.6, 0.8, 0.0])

REFERENCE_HEART_LENGTH_MM = 90.0  # ventricular base -> apex length of the reference adult heart
PLAUSIBLE_HEART_LENGTH_MM = (50.0, 150.0)
_CHEST_WIDTH, _CHEST_DEPTH = 320.0, 220.0  # at the heart's level
_TORSO_HALF_HEIGHT, _TORSO_DROP = 420.0, 130.0  # vertical semi-axis; the ellipsoid's centre below the heart
_MIDLINE = -40.0  # the midline's X: the heart's centre is 40 mm left of it
GAP_MM = 35.0  # from the heart's most anterior point to the anterior skin
_REF_ANTERIOR = 40.0  # the reference heart's most anterior point, Y (for the canonical positions only)
_REF_APEX_Z = -35.0  # the reference heart's apex height, Z (for the canonical positions only)


def _frame(axis, side) -> np.ndarray:
    """Orthonormal columns (a, b, a × b) with a the axis and b the side direction's part normal to it."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    b = np.asarray(side, float)
    b = b - (b @ a) * a
    nb = np.linalg.norm(b)
    if nb < 1e-9:
        raise InputError("standard_electrodes: the right-ventricle direction must not be parallel to the long axis")
    b = b / nb
    return np.stack([a, b, np.cross(a, b)], axis=1)


def chest_geometry(scale: float = 1.0, *, anterior: float | None = None, apex_z: float | None = None) -> dict:
    """The generated chest in the torso frame (mm, module docstring), every length times ``scale``: ``{"center",
    "radii"}`` of the torso ellipsoid and ``"electrodes"`` ``{name: (3,) on its skin}``. ``anterior``: the heart's most
    anterior Y and ``apex_z`` its apex's Z in this frame (mm, already at this scale; default: the reference heart's)."""
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"chest_geometry: scale must be positive, got {scale}")
    s = float(scale)
    anterior = _REF_ANTERIOR * s if anterior is None else float(anterior)
    apex_z = _REF_APEX_Z * s if apex_z is None else float(apex_z)
    hw, hd = 0.5 * _CHEST_WIDTH * s, 0.5 * _CHEST_DEPTH * s  # half-width, half-depth at Z = 0
    xc = _MIDLINE * s
    yc = anterior + GAP_MM * s - hd
    zc = -_TORSO_DROP * s
    rz = _TORSO_HALF_HEIGHT * s
    f0 = np.sqrt(1.0 - (zc / rz) ** 2)
    rx, ry = hw / f0, hd / f0
    center, radii = np.array([xc, yc, zc]), np.array([rx, ry, rz])

    def skin(x, z, front=True):
        q = 1.0 - ((x - xc) / rx) ** 2 - ((z - zc) / rz) ** 2
        return np.array([x, yc + (1.0 if front else -1.0) * ry * np.sqrt(max(q, 0.0)), z])

    z4 = apex_z
    z2 = z4 + 30.0 * s
    half4 = rx * np.sqrt(max(1.0 - ((z4 - zc) / rz) ** 2, 0.0))  # the chest's half-width at V4's height
    x4, x6 = xc + 95.0 * s, xc + half4
    v2, v4 = skin(xc + 25.0 * s, z2), skin(x4, z4)
    mid = 0.5 * (v2 + v4)
    el = {
        "RA": skin(xc - 0.6 * hw, 120.0 * s),
        "LA": skin(xc + 0.6 * hw, 120.0 * s),
        "LL": skin(xc + 0.5 * hw, -200.0 * s),
        "V1": skin(xc - 25.0 * s, z2),
        "V2": v2,
        "V3": skin(mid[0], mid[2]),
        "V4": v4,
        "V5": skin(0.5 * (x4 + x6), z4),
        "V6": np.array([x6, yc, z4]),
    }
    return {"center": center, "radii": radii, "electrodes": {n: el[n] for n in ELECTRODE_NAMES}}


_CANON = chest_geometry(1.0)
# The reference adult's torso and electrodes (torso frame, mm, origin at the heart's centre).
CANONICAL_TORSO = {
    "center": tuple(float(v) for v in _CANON["center"]),
    "radii": tuple(float(v) for v in _CANON["radii"]),
}
CANONICAL_ELECTRODES = {n: tuple(float(v) for v in p) for n, p in _CANON["electrodes"].items()}


def standard_electrodes(centre, long_axis, rv_direction, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    """The nine standard electrode positions (mm, in the mesh's frame) of the reference chest (`CANONICAL_ELECTRODES`,
    times ``scale``) for a heart with this ``centre`` (mm), long axis (base → apex) and direction from the left to the
    right ventricle. Returns ``{name: (3,) position}`` in the order of `ELECTRODE_NAMES`. For a mesh, prefer
    `electrodes_for_mesh`, which sizes the chest from the heart."""
    if not scale > 0:
        raise InputError(f"standard_electrodes: scale must be positive, got {scale}")
    R = _frame(long_axis, rv_direction) @ _frame(_LONG_AXIS, _RV_SIDE).T  # torso frame -> mesh frame
    c = np.asarray(centre, float).reshape(3)
    return {name: c + scale * (R @ np.asarray(CANONICAL_ELECTRODES[name])) for name in ELECTRODE_NAMES}


def _ventricle_ids(mesh, lv, rv) -> tuple[list[int], list[int]]:
    """The LV and RV region ids by the one rule of `organtwin.mesh.ventricle_regions` (septum with the LV)."""
    from ..mesh import ventricle_regions

    lv_ids, rv_ids, _ = ventricle_regions(mesh, lv, rv)
    return lv_ids, rv_ids


def heart_frame(mesh, *, lv=None, rv=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centre, long_axis, rv_direction)`` of a heart `Mesh`: centre = the centroid of the LV and RV cells; long axis
    from the base surface's centroid (a surface named 'base', or with the word 'base' in its name, e.g. 'ventricular
    base') to the ventricular node farthest from it (the apex) or, without one, the LV's principal axis normal to the
    LV → RV direction, pointing to its tapered end (the apex; a four-chamber mesh: away from the atria and vessels);
    right-ventricle direction from the LV regions' centroid to the RV regions' (the regions chosen by
    `organtwin.mesh.ventricle_regions`, or the ids ``lv``/``rv``: an id or a list of ids)."""
    lv, rv = _ventricle_ids(mesh, lv, rv)
    pts = np.asarray(mesh.points, float)
    tets = np.asarray(mesh.tets)
    regions = np.asarray(mesh.regions)
    centroid = pts[tets].mean(axis=1)

    def region_cells(r):
        m = np.isin(regions, r)
        if not m.any():
            raise MeshError(f"no region {r} in the mesh (regions {sorted(set(regions.tolist()))})")
        return m

    mlv, mrv = region_cells(lv), region_cells(rv)
    vent = mlv | mrv
    centre = centroid[vent].mean(axis=0)
    vnodes = pts[np.unique(tets[vent])]
    side = centroid[mrv].mean(axis=0) - centroid[mlv].mean(axis=0)
    base_names = [n for n in mesh.surfaces if n.lower() == "base"] or [
        n for n in mesh.surfaces if "base" in n.lower().replace("_", " ").replace("-", " ").split()
    ]
    if base_names:  # 'base', or e.g. 'ventricular base' from a name map
        tri = np.concatenate([np.asarray(mesh.surfaces[n].triangles).reshape(-1) for n in base_names])
        base = pts[np.unique(tri)].mean(axis=0)
        apex = vnodes[np.argmax(np.linalg.norm(vnodes - base, axis=1))]
        axis = apex - base
    else:
        # the LV's principal axis normal to the LV -> RV direction (the two ventricles side by side are often wider
        # than long, so the principal axis of both can be the LV -> RV direction itself)
        u = side / max(np.linalg.norm(side), 1e-300)
        x = centroid[mlv] - centroid[mlv].mean(axis=0)
        x = x - np.outer(x @ u, u)
        w, V = np.linalg.eigh(x.T @ x)
        axis = V[:, -1]
        others = centroid[~vent]
        if others.shape[0] > 0:  # atria, vessels: on the base side
            if (others.mean(axis=0) - centre) @ axis > 0:
                axis = -axis
        elif np.mean((x @ axis) ** 3) < 0:  # the tail of the distribution is the tapered apex
            axis = -axis
        proj = (vnodes - centre) @ axis
        axis = axis * (proj.max() - proj.min())
    return centre, axis, side


@dataclasses.dataclass(frozen=True)
class ChestPlacement:
    """Where the generated chest and its electrodes sit around a heart mesh (mm, the mesh's frame).

    ``centre``: the ventricles' centre; ``rotation``: torso frame → mesh frame (3, 3); ``scale``: chest scale (the
    heart's ventricular length over 90 mm); ``heart_length_mm``; ``torso_center`` and ``torso_radii``: the torso
    ellipsoid (centre in the mesh frame, semi-axes along the rotated torso axes); ``electrodes``: ``{name: (3,)}``;
    ``distance_mm``: each electrode's distance to the nearest heart node; ``chest_mm``: (width, depth) at the heart."""

    centre: np.ndarray
    rotation: np.ndarray
    scale: float
    heart_length_mm: float
    torso_center: np.ndarray
    torso_radii: np.ndarray
    electrodes: dict
    distance_mm: dict
    chest_mm: tuple

    def summary(self) -> str:
        """One line: torso size, heart length and each electrode's distance from the heart."""
        d = ", ".join(f"{n} {self.distance_mm[n]:.3g}" for n in ELECTRODE_NAMES)
        return (
            f"generated chest {self.chest_mm[0]:.3g} x {self.chest_mm[1]:.3g} mm (width x depth) around ventricles "
            f"{self.heart_length_mm:.3g} mm long (scale {self.scale:.3g} of the adult reference); electrodes "
            f"on its skin, distance to the heart (mm): {d}"
        )


def chest_for_heart(mesh, *, lv=None, rv=None, scale: float | None = None) -> ChestPlacement:
    """The generated chest around a heart `Mesh` and the nine electrodes on its skin (module docstring).

    ``scale`` None: from the heart's ventricular length (warns when it is outside 50–150 mm: a child's heart or a
    mesh not in mm); a number forces it."""
    from scipy.spatial import KDTree

    c, axis, side = heart_frame(mesh, lv=lv, rv=rv)
    R = _frame(axis, side) @ _frame(_LONG_AXIS, _RV_SIDE).T  # torso frame -> mesh frame
    lv_, rv_ = _ventricle_ids(mesh, lv, rv)
    pts = np.asarray(mesh.points, float)
    vent = np.isin(np.asarray(mesh.regions), [*lv_, *rv_])
    vnodes = pts[np.unique(np.asarray(mesh.tets)[vent])]
    local = (vnodes - c) @ R  # torso-frame coordinates of the ventricles' nodes
    along = local @ (_LONG_AXIS / np.linalg.norm(_LONG_AXIS))
    length = float(along.max() - along.min())
    lo, hi = PLAUSIBLE_HEART_LENGTH_MM
    if scale is None:
        if not lo <= length <= hi:
            warnings.warn(
                f"the heart's ventricles are {length:.3g} mm long base to apex, outside the {lo:g}-{hi:g} "
                f"mm of an adult heart (is the mesh in mm?); the generated chest is scaled with it "
                f"(x{length / REFERENCE_HEART_LENGTH_MM:.3g})",
                MeshWarning,
                stacklevel=2,
            )
        scale = length / REFERENCE_HEART_LENGTH_MM
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"chest_for_heart: the chest scale must be positive, got {scale} (heart length {length:g} mm)")
    apex_z = float(local[np.argmax(along), 2])
    every = (pts - c) @ R  # the whole mesh (atria and vessels too) stays behind the anterior chest wall
    g = chest_geometry(scale, anterior=float(max(local[:, 1].max(), every[:, 1].max())), apex_z=apex_z)
    q = np.sum(((every - g["center"]) / g["radii"]) ** 2, axis=1)
    if np.any(q >= 1.0):
        warnings.warn(
            f"{int(np.sum(q >= 1.0))} of {pts.shape[0]} mesh nodes lie outside the generated chest (the "
            f"mesh reaches {np.sqrt(q.max()):.2f} x the torso's radius); the torso lead field needs the "
            "heart inside it: give measured --electrodes, or a mesh of the heart alone",
            MeshWarning,
            stacklevel=2,
        )
    el = {n: c + R @ p for n, p in g["electrodes"].items()}
    tree = KDTree(pts)
    dist = {n: float(tree.query(p)[0]) for n, p in el.items()}
    f0 = np.sqrt(1.0 - (g["center"][2] / g["radii"][2]) ** 2)
    return ChestPlacement(
        centre=c,
        rotation=R,
        scale=float(scale),
        heart_length_mm=length,
        torso_center=c + R @ g["center"],
        torso_radii=g["radii"],
        electrodes=el,
        distance_mm=dist,
        chest_mm=(float(2 * g["radii"][0] * f0), float(2 * g["radii"][1] * f0)),
    )


def electrodes_for_mesh(mesh, *, lv=None, rv=None, scale: float | None = None) -> dict[str, np.ndarray]:
    """The nine standard electrodes ``{name: (3,) mm}`` on the skin of the chest generated around a heart `Mesh`
    (`chest_for_heart`; the same positions `torso_for_heart` uses)."""
    return chest_for_heart(mesh, lv=lv, rv=rv, scale=scale).electrodes


def torso_for_heart(
    mesh,
    *,
    scale: float | None = None,
    h_far: float = 40.0,
    h_near: float = 8.0,
    lv=None,
    rv=None,
    placement: ChestPlacement | None = None,
):
    """A homogeneous torso volume conductor around a heart `Mesh` and the standard electrodes on its skin.

    The chest ellipsoid of `chest_for_heart` is meshed in the torso frame (element size ``h_near`` mm within
    ~1.5 heart lengths of the heart, ``h_far`` elsewhere) and moved rigidly into the mesh's frame; each electrode goes
    to the nearest skin node. Returns ``(torso Mesh, {name: (3,) position on the skin})``. The torso does not conform
    to the heart mesh (see `lead_field_matrix`).
    """
    from ..mesh import ellipsoid_volume_mesh

    p = chest_for_heart(mesh, lv=lv, rv=rv, scale=scale) if placement is None else placement
    s = p.scale
    R = p.rotation
    center_t = R.T @ (p.torso_center - p.centre)
    near = max(80.0 * s, 0.75 * p.heart_length_mm + 40.0 * s)
    torso = ellipsoid_volume_mesh(
        tuple(center_t),
        tuple(p.torso_radii),
        h_far=h_far * s,
        h_near=h_near * s,
        near_center=(0.0, 0.0, 0.0),
        near_radius=near,
    )
    tp = np.asarray(torso.points)
    skin = np.unique(torso.surfaces["skin"].triangles)
    canon = {n: R.T @ (x - p.centre) for n, x in p.electrodes.items()}
    on_skin = {n: tp[skin[np.argmin(np.linalg.norm(tp[skin] - q, axis=1))]] for n, q in canon.items()}
    torso = torso.replace(points=p.centre + tp @ R.T)
    return torso, {n: p.centre + R @ q for n, q in on_skin.items()}
