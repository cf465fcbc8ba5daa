"""Rule-based myocardial fibres (Bayer et al. 2012): Laplace potentials, a local wall frame per tet, helix/sheet rotations.

Reference: J. D. Bayer, R. C. Blake, G. Plank, N. A. Trayanova, "A novel rule-based algorithm for assigning myocardial fiber
orientation to computational heart models", Ann. Biomed. Eng. 40(10):2243–2254, 2012 (the "LDRB" algorithm).

Two steps, split so that the second is differentiable:

1. `fibre_potentials(mesh)` (host): Laplace solves with `laplace_solve` and their per-tet values and gradients:
   transmural ``phi_epi`` (epi = 1, every endocardium = 0), apico-basal ``psi`` (base = 1, apex = 0) and, for two
   ventricles, ``phi_lv`` (endo_lv = 1; epi, endo_rv = 0) and ``phi_rv`` (endo_rv = 1; epi, endo_lv = 0).
2. `FibreRule(...)(potentials)` (pure JAX, jit-able, differentiable w.r.t. the four angles): per tet a right-handed
   orthonormal frame ``(e_c, e_l, e_t)`` and the rotation by the helix angle ``alpha`` about ``e_t`` and the sheet angle
   ``beta`` about the fibre.

`rule_based_fibres(mesh)` does both and returns the mesh with fibres, sheets and the cell fields ``transmural``,
``apicobasal`` and ``helix_angle``.

Conventions (Bayer's, stated once):

- ``e_t`` transmural, from the endocardium towards the epicardium (``grad phi_epi``); ``e_l`` apico-basal, from the apex
  towards the base (``grad psi`` made orthogonal to ``e_t``); ``e_c = e_l x e_t`` circumferential. On an LV with its long
  axis along +z (apex at -z) ``e_c`` runs counter-clockwise seen from the base (from +z). Deviation from Bayer's ``axis``:
  Bayer keeps ``grad psi`` and orthogonalises the transmural direction against it; we keep the transmural direction and
  orthogonalise ``grad psi``, so that sheets are exactly transmural (beta = 0) and the helix lies in the wall's tangent
  plane. The two agree where the gradients are orthogonal (most of the wall, and exactly in a slab).
- fibre ``f = cos(alpha) e_c + sin(alpha) e_l``: a positive helix angle is a right-handed helix (the endocardium, +60°),
  a negative one left-handed (the epicardium, -60°).
- ``alpha(d) = alpha_endo (1 - d) + alpha_epi d`` and ``beta(d)`` likewise, linear in the transmural coordinate
  ``d = phi_epi`` (0 on the endocardium, 1 on the epicardium). On a single ventricle this is exact: the fibre of every
  tet makes exactly the angle ``alpha(d_cell)`` in its frame, with ``d_cell`` the mean of its four nodal values.
- sheet ``s = cos(beta) e_t + sin(beta) g`` with ``g = e_t x f`` (in the wall, across the fibre): the sheet is ``e_t``
  rotated by ``beta`` about the fibre; sheet normal ``n = f x s``. Bayer's frame after ``orient`` is ``[f, ., s]``.

Two ventricles (septum), as Bayer: with the septal weight ``d_s = phi_rv / (phi_lv + phi_rv)`` (0 at the LV
endocardium, 1 at the RV endocardium), frames ``Q_lv`` (transmural ``-grad phi_lv``) and ``Q_rv`` (``+grad phi_rv``,
pointing from LV to RV through the septum) are rotated by ``(1 - 2 d_s) alpha(phi_epi)`` and blended with quaternion
"bislerp" by ``d_s`` into ``Q_endo``; ``Q_epi`` (transmural ``grad phi_epi``) is rotated by ``alpha(phi_epi)``; the fibre
frame is ``bislerp(Q_endo, Q_epi, phi_epi)``. One deliberate change: Bayer rotates ``Q_lv``/``Q_rv`` by the endocardial
law ``(1 - 2 d_s) alpha_endo`` and lets bislerp blend towards the epicardial frame, which makes the free-wall helix angle
quadratic in ``phi_epi`` (``alpha_endo + phi_epi² (alpha_epi - alpha_endo)``) and, for ``|alpha_endo - alpha_epi| > 90°``,
lets bislerp take the short way round (through the longitudinal direction). Rotating both frames by ``alpha(phi_epi)``
instead keeps Bayer's septum (``phi_epi ≈ 0`` there) and makes the free walls follow ``alpha(phi_epi)``: exactly where
the frames agree (slerp commutes with a common rotation), up to the small disagreement of ``grad phi_lv`` and
``grad phi_epi`` (and ``d_s > 0``) elsewhere. The septum goes from ``+alpha_endo`` at the LV side through circumferential
to ``-alpha_endo`` (in the LV frame) at the RV side, which is ``+alpha_endo`` seen from the RV cavity.

bislerp (Bayer's appendix): the second quaternion is replaced by the one of ``q_b, q_b i, q_b j, q_b k`` (the same frame
with two axes flipped: fibres and sheets are lines, not arrows) closest to ``q_a``, then slerped.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._errors import InputError, MeshError
from ._fem import P1Geometry, cell_gradient
from ._mesh import Mesh
from ._solve import laplace_solve
from ._sparse import SparsityPattern, assemble_stiffness

__all__ = ["FibreRule", "FibrePotentials", "fibre_potentials", "rule_based_fibres"]

_DEFAULT_ENDO = ("endo_lv", "endo_rv")


# ====================================================================================================== potentials (host)
class FibrePotentials(eqx.Module):
    """Per-tet values and gradients of the Laplace potentials of the rule (final).

    Attributes:
        transmural: (cells,) ``phi_epi`` at the tet centroid (0 on the endocardia, 1 on the epicardium).
        apicobasal: (cells,) ``psi`` at the centroid (0 at the apex, 1 on the base).
        grad_transmural: (cells, 3) ``grad phi_epi``, 1/mm.
        grad_apicobasal: (cells, 3) ``grad psi``, 1/mm.
        long_axis: (3,) unit normal of the base plane, from the apex towards the base (fallback for ``e_l`` where
            ``grad psi`` is parallel to the transmural direction, e.g. at the apex).
        grad_lv, grad_rv: (cells, 3) ``grad phi_lv``, ``grad phi_rv`` for two ventricles, else None.
        septal: (cells,) ``phi_rv / (phi_lv + phi_rv)`` for two ventricles, else None.
        nodal: the nodal potentials by name (``"transmural"``, ``"apicobasal"``, ``"lv"``, ``"rv"``), for plots and stimuli.
    """

    transmural: Float[Array, " cells"]
    apicobasal: Float[Array, " cells"]
    grad_transmural: Float[Array, "cells 3"]
    grad_apicobasal: Float[Array, "cells 3"]
    long_axis: Float[Array, "3"]
    grad_lv: Float[Array, "cells 3"] | None = None
    grad_rv: Float[Array, "cells 3"] | None = None
    septal: Float[Array, " cells"] | None = None
    nodal: dict = eqx.field(default_factory=dict)

    @property
    def biventricular(self) -> bool:
        return self.septal is not None


def _endo_names(mesh: Mesh, endo, epi: str, base: str) -> tuple[str, ...]:
    """Validated surface names; the default's ``endo_rv`` may be absent (a single ventricle)."""
    names = (endo,) if isinstance(endo, str) else tuple(str(e) for e in endo)
    if names == _DEFAULT_ENDO and _DEFAULT_ENDO[0] in mesh.surfaces and _DEFAULT_ENDO[1] not in mesh.surfaces:
        names = names[:1]
    if not 1 <= len(names) <= 2:
        raise MeshError(f"rule-based fibres take one (LV) or two (LV, RV) endocardial surfaces, got endo={names!r}")
    have = ", ".join(sorted(mesh.surfaces)) or "none"
    for name in (*names, epi, base):
        if name not in mesh.surfaces:
            raise MeshError(
                f"mesh has no surface named {name!r} (surfaces: {have}); rule-based fibres need endo/epi/base surfaces: "
                f"name them {'/'.join(_DEFAULT_ENDO)}/epi/base or pass endo=/epi=/base= with the mesh's names"
            )
    all_names = (*names, epi, base)
    if len(set(all_names)) != len(all_names):
        raise MeshError(
            f"the endo/epi/base surfaces must be different surfaces, got endo={names!r}, epi={epi!r}, base={base!r}"
        )
    return names


def _apex_and_axis(mesh: Mesh, epi: str, base: str) -> tuple[np.ndarray, np.ndarray]:
    """Apex node(s) (the node set ``"apex"`` if present, else the epicardial node farthest from the base plane) and the
    unit normal of the base plane (least-squares plane through the base nodes) pointing away from the tissue."""
    pb = mesh.points[mesh.surface_nodes(base)]
    c = pb.mean(axis=0)
    normal = np.linalg.svd(pb - c, full_matrices=False)[2][-1]
    if np.dot(mesh.points.mean(axis=0) - c, normal) > 0:
        normal = -normal
    if "apex" in mesh.node_sets and mesh.node_sets["apex"].size:
        apex = np.unique(mesh.node_sets["apex"]).astype(np.int64)
    else:
        epi_nodes = mesh.surface_nodes(epi)
        height = (mesh.points[epi_nodes] - c) @ normal
        apex = epi_nodes[[int(np.argmin(height))]].astype(np.int64)
    if np.any(np.isin(apex, mesh.surface_nodes(base))):
        raise MeshError("the apex lies on the base surface: check the base surface or give a node set named 'apex'")
    return apex, normal


@eqx.filter_jit
def _laplacian(geom, pattern):
    return assemble_stiffness(geom, 1.0, pattern)


def fibre_potentials(
    mesh: Mesh, *, endo=_DEFAULT_ENDO, epi: str = "epi", base: str = "base", rtol: float | None = None, dtype=None
) -> FibrePotentials:
    """Solve the Laplace problems of the rule on `mesh` and return their per-tet values and gradients.

    Args:
        mesh: a tetrahedral mesh with endocardial, epicardial and base surfaces.
        endo: the endocardial surface name(s): one (a single ventricle) or two (LV first, then RV). With the default
            ``("endo_lv", "endo_rv")`` a mesh without ``endo_rv`` is treated as a single ventricle.
        epi, base: the epicardial and base surface names.
        rtol: relative residual tolerance of the Laplace solves; default 1e-8 in float64, 1e-5 in float32 (what float32
            CG can reach; fibre directions need far less).
        dtype: floating dtype of the geometry and the solves (default: JAX's default float).

    The apex (``psi = 0``) is the node set ``"apex"`` if the mesh has one, else the epicardial node farthest from the
    least-squares plane through the base nodes. Raises MeshError (one line) if a surface is missing.
    """
    endo_names = _endo_names(mesh, endo, epi, base)
    apex, axis = _apex_and_axis(mesh, epi, base)
    geom = P1Geometry.from_mesh(mesh, dtype=dtype)
    if rtol is None:
        rtol = 1e-8 if jnp.finfo(geom.dtype).bits >= 64 else 1e-5
    stiffness = _laplacian(geom, SparsityPattern.from_mesh(mesh))  # one assembly for all the solves

    def solve(fixed):  # a node in several sets takes the value of the last one (the endocardia, for phi_epi)
        return laplace_solve(mesh, fixed, rtol=rtol, stiffness=stiffness).astype(geom.dtype)

    def at_cells(u):
        return jnp.mean(u[geom.tets], axis=1)

    nodal = {
        "transmural": solve({epi: 1.0, **{e: 0.0 for e in endo_names}}),
        "apicobasal": solve({base: 1.0, tuple(apex.tolist()): 0.0}),
    }
    extra = {}
    if len(endo_names) == 2:
        lv, rv = endo_names
        nodal["lv"] = solve({lv: 1.0, epi: 0.0, rv: 0.0})
        nodal["rv"] = solve({rv: 1.0, epi: 0.0, lv: 0.0})
        plv, prv = at_cells(nodal["lv"]), at_cells(nodal["rv"])
        total = plv + prv
        extra = dict(
            grad_lv=cell_gradient(geom, nodal["lv"]),
            grad_rv=cell_gradient(geom, nodal["rv"]),
            septal=jnp.clip(jnp.where(total > 0, prv / jnp.where(total > 0, total, 1), 0.5), 0, 1),
        )
    return FibrePotentials(
        transmural=at_cells(nodal["transmural"]),
        apicobasal=at_cells(nodal["apicobasal"]),
        grad_transmural=cell_gradient(geom, nodal["transmural"]),
        grad_apicobasal=cell_gradient(geom, nodal["apicobasal"]),
        long_axis=jnp.asarray(axis, dtype=geom.dtype),
        nodal=nodal,
        **extra,
    )


# ====================================================================================================== the rule (JAX)
def _dot(a, b):
    return jnp.sum(a * b, axis=-1, keepdims=True)


def _norm(v):
    return jnp.sqrt(jnp.maximum(jnp.sum(v * v, axis=-1, keepdims=True), jnp.finfo(v.dtype).tiny))


def _wall_frame(t, ab, long_axis):
    """(cells, 3, 3) right-handed orthonormal frames with columns ``(e_c, e_l, e_t)``.

    ``e_t = t / |t|``; ``e_l`` = the part of ``ab`` orthogonal to ``e_t``, normalised; where ``ab`` is (nearly) parallel
    to ``e_t`` the long axis is used instead, and where that is parallel too, the coordinate axis least aligned with ``e_t``.
    ``e_c = e_l x e_t``.
    """
    e_t = t / _norm(t)

    def tangential(v):
        return v - _dot(v, e_t) * e_t

    l_ab = tangential(ab)
    l_ax = tangential(jnp.broadcast_to(long_axis, t.shape))
    least = jax.nn.one_hot(jnp.argmin(jnp.abs(e_t), axis=-1), 3, dtype=t.dtype)
    l_any = tangential(least)
    ok_ab = _norm(l_ab) > 1e-6 * _norm(ab)
    ok_ax = _norm(l_ax) > 1e-3
    e_l = jnp.where(ok_ab, l_ab, jnp.where(ok_ax, l_ax, l_any))
    e_l = e_l / _norm(e_l)
    e_c = jnp.cross(e_l, e_t)
    return jnp.stack([e_c, e_l, e_t], axis=-1)


def _orient(Q, alpha, beta):
    """Bayer's ``orient``: ``Q R_z(alpha) R_x(beta)`` (radians, per cell): helix about ``e_t``, then sheet about the fibre."""
    ca, sa, cb, sb = jnp.cos(alpha), jnp.sin(alpha), jnp.cos(beta), jnp.sin(beta)
    e_c, e_l, e_t = Q[..., 0], Q[..., 1], Q[..., 2]
    f = ca[:, None] * e_c + sa[:, None] * e_l
    g = -sa[:, None] * e_c + ca[:, None] * e_l
    return jnp.stack([f, cb[:, None] * g - sb[:, None] * e_t, sb[:, None] * g + cb[:, None] * e_t], axis=-1)


def _quat_from_matrix(R):
    """Unit quaternions ``(w, x, y, z)`` of rotation matrices (Shepperd's method: the best-conditioned of four formulas)."""
    r00, r11, r22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    tiny = jnp.finfo(R.dtype).tiny

    def s(x):
        return 2 * jnp.sqrt(jnp.maximum(x, tiny))

    s0, s1, s2, s3 = s(1 + r00 + r11 + r22), s(1 + r00 - r11 - r22), s(1 - r00 + r11 - r22), s(1 - r00 - r11 + r22)
    q0 = jnp.stack(
        [
            s0 / 4,
            (R[..., 2, 1] - R[..., 1, 2]) / s0,
            (R[..., 0, 2] - R[..., 2, 0]) / s0,
            (R[..., 1, 0] - R[..., 0, 1]) / s0,
        ],
        -1,
    )
    q1 = jnp.stack(
        [
            (R[..., 2, 1] - R[..., 1, 2]) / s1,
            s1 / 4,
            (R[..., 0, 1] + R[..., 1, 0]) / s1,
            (R[..., 0, 2] + R[..., 2, 0]) / s1,
        ],
        -1,
    )
    q2 = jnp.stack(
        [
            (R[..., 0, 2] - R[..., 2, 0]) / s2,
            (R[..., 0, 1] + R[..., 1, 0]) / s2,
            s2 / 4,
            (R[..., 1, 2] + R[..., 2, 1]) / s2,
        ],
        -1,
    )
    q3 = jnp.stack(
        [
            (R[..., 1, 0] - R[..., 0, 1]) / s3,
            (R[..., 0, 2] + R[..., 2, 0]) / s3,
            (R[..., 1, 2] + R[..., 2, 1]) / s3,
            s3 / 4,
        ],
        -1,
    )
    which = jnp.argmax(jnp.stack([r00 + r11 + r22, r00, r11, r22], -1), axis=-1)
    q = jnp.take_along_axis(jnp.stack([q0, q1, q2, q3], -2), which[..., None, None], axis=-2)[..., 0, :]
    return q / _norm(q)


def _matrix_from_quat(q):
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def _quat_mul(a, b):
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return jnp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        -1,
    )


def _bislerp(Qa, Qb, t):
    """Bayer's bislerp: slerp from frame ``Qa`` (t = 0) to the axis-flip of ``Qb`` closest to ``Qa`` (t = 1).

    The candidates ``q_b, q_b i, q_b j, q_b k`` (right products: ``Qb`` with two of its columns negated) and their
    negatives describe the same lines; the one with the largest ``|q_a . q|`` is used (its sign fixed), so the blend takes
    the shortest rotation between the two line frames. ``t`` is per cell in [0, 1].
    """
    qa, qb = _quat_from_matrix(Qa), _quat_from_matrix(Qb)
    units = jnp.eye(4, dtype=qa.dtype)  # 1, i, j, k
    cands = _quat_mul(qb[..., None, :], jnp.broadcast_to(units, qb.shape[:-1] + (4, 4)))  # (cells, 4, 4)
    dots = jnp.sum(qa[..., None, :] * cands, axis=-1)
    best = jnp.argmax(jnp.abs(dots), axis=-1)
    qm = jnp.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    dot = jnp.take_along_axis(dots, best[..., None], axis=-1)
    qm = jnp.where(dot < 0, -qm, qm)
    dot = jnp.clip(jnp.abs(dot), 0.0, 1.0)
    theta = jnp.arccos(dot)
    small = theta < 1e-6
    sin_t = jnp.sin(jnp.where(small, 1.0, theta))
    t = t[..., None]
    wa = jnp.where(small, 1 - t, jnp.sin((1 - t) * theta) / sin_t)
    wb = jnp.where(small, t, jnp.sin(t * theta) / sin_t)
    q = wa * qa + wb * qm
    return _matrix_from_quat(q / _norm(q))


def _helix_in_frame(f, Q):
    """Angle (deg) of the line ``f`` from ``e_c`` towards ``e_l`` in frame ``Q``, in (-90, 90]."""
    a = jnp.degrees(jnp.arctan2(jnp.sum(f * Q[..., 1], -1), jnp.sum(f * Q[..., 0], -1)))
    a = jnp.where(a > 90, a - 180, a)
    return jnp.where(a <= -90, a + 180, a)


def _angle(name: str, x):
    if not isinstance(x, jax.core.Tracer):
        v = np.asarray(x)
        if v.shape != () or not np.isfinite(v):
            raise InputError(f"FibreRule: {name} must be a finite angle in degrees, got {x!r}")
    return jnp.asarray(x, dtype=jnp.result_type(float))


class FibreRule(eqx.Module):
    """Helix and sheet angles of the Bayer et al. 2012 rule, in degrees (final); a pytree of arrays, so the angles can
    be calibrated (``jax.grad`` through `FibreRule.__call__`).

    ``alpha(d) = alpha_endo (1 - d) + alpha_epi d`` (helix, about the transmural axis; positive = right-handed),
    ``beta(d) = beta_endo (1 - d) + beta_epi d`` (sheet, about the fibre), ``d`` the transmural coordinate (0 endo, 1 epi).
    Defaults +60° / -60° helix (Streeter et al. 1969; the common simulation choice) and 0° sheet (sheets transmural).
    Bayer et al. 2012 used alpha = +40° / -50°, beta = -65° / +25°.
    """

    alpha_endo: Float[Array, ""]
    alpha_epi: Float[Array, ""]
    beta_endo: Float[Array, ""]
    beta_epi: Float[Array, ""]

    def __init__(self, alpha_endo=60.0, alpha_epi=-60.0, beta_endo=0.0, beta_epi=0.0):
        self.alpha_endo = _angle("alpha_endo", alpha_endo)
        self.alpha_epi = _angle("alpha_epi", alpha_epi)
        self.beta_endo = _angle("beta_endo", beta_endo)
        self.beta_epi = _angle("beta_epi", beta_epi)

    def helix(self, d: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """Helix angle (deg) at transmural coordinate ``d``."""
        return self.alpha_endo * (1 - d) + self.alpha_epi * d

    def sheet(self, d: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """Sheet angle (deg) at transmural coordinate ``d``."""
        return self.beta_endo * (1 - d) + self.beta_epi * d

    @eqx.filter_jit
    def frames(self, p: FibrePotentials) -> Float[Array, "cells 3 3"]:
        """Per-tet right-handed orthonormal frames with columns ``(f, -n, s)``: fibre, minus the sheet normal, sheet."""
        d = p.transmural
        alpha, beta = jnp.radians(self.helix(d)), jnp.radians(self.sheet(d))
        Q_epi = _orient(_wall_frame(p.grad_transmural, p.grad_apicobasal, p.long_axis), alpha, beta)
        if not p.biventricular:
            return Q_epi
        assert p.septal is not None and p.grad_lv is not None and p.grad_rv is not None  # biventricular
        ds = p.septal
        a_s, b_s = (1 - 2 * ds) * alpha, (1 - 2 * ds) * beta
        Q_lv = _orient(_wall_frame(-p.grad_lv, p.grad_apicobasal, p.long_axis), a_s, b_s)
        Q_rv = _orient(_wall_frame(p.grad_rv, p.grad_apicobasal, p.long_axis), a_s, b_s)
        Q_endo = _bislerp(Q_lv, Q_rv, ds)
        return _bislerp(Q_endo, Q_epi, d)

    def __call__(self, p: FibrePotentials) -> tuple[Float[Array, "cells 3"], Float[Array, "cells 3"]]:
        """``(fibres, sheets)``: per-tet unit vectors, orthogonal."""
        Q = self.frames(p)
        return Q[..., 0], Q[..., 2]

    @eqx.filter_jit
    def helix_angle(self, p: FibrePotentials, fibres: Float[ArrayLike, "cells 3"]) -> Float[Array, " cells"]:
        """The helix angle (deg, in (-90, 90]) of `fibres` measured in the local wall frame.

        The frame's transmural axis points out of the cavity: ``grad phi_epi`` on a single ventricle; with two, out of the
        nearer cavity (``-grad phi_lv`` where ``septal < 1/2``, else ``-grad phi_rv``), so both septal surfaces read
        ``+alpha_endo``.
        """
        t = p.grad_transmural
        if p.biventricular:
            assert p.septal is not None and p.grad_lv is not None and p.grad_rv is not None
            t = jnp.where(p.septal[:, None] < 0.5, -p.grad_lv, -p.grad_rv)
        return _helix_in_frame(jnp.asarray(fibres), _wall_frame(t, p.grad_apicobasal, p.long_axis))


# ====================================================================================================== entry point
def rule_based_fibres(
    mesh: Mesh,
    *,
    alpha_endo: float = 60.0,
    alpha_epi: float = -60.0,
    beta_endo: float = 0.0,
    beta_epi: float = 0.0,
    endo=_DEFAULT_ENDO,
    epi: str = "epi",
    base: str = "base",
    rtol: float | None = None,
    dtype=None,
) -> Mesh:
    """Rule-based fibres and sheets (Bayer et al., Ann. Biomed. Eng. 40:2243–2254, 2012) on a ventricular mesh.

    Args:
        mesh: a tet mesh with endocardial, epicardial and base surfaces (see `fibre_potentials` for the apex).
        alpha_endo, alpha_epi: helix angles (deg) at the endocardium and the epicardium, linear in between; positive is
            a right-handed helix (counter-clockwise seen from the base while rising towards it).
        beta_endo, beta_epi: sheet angles (deg) about the fibre; 0 puts the sheets along the transmural direction.
        endo: endocardial surface name(s): ``"endo_lv"`` alone, or (LV, RV) for a biventricular mesh; with the default
            a mesh without ``endo_rv`` is a single ventricle.
        epi, base: epicardial and base surface names.
        rtol: relative residual tolerance of the Laplace solves (default 1e-8 in float64, 1e-5 in float32).
        dtype: floating dtype of the computation (default: JAX's default float); the fields are stored as float64.

    Returns:
        The mesh with ``fibres`` and ``sheets`` (cells, 3) set (unit, orthogonal) and the cell fields ``transmural``
        (``phi_epi`` per tet, in [0, 1]), ``apicobasal`` (``psi`` per tet, 0 apex to 1 base) and ``helix_angle`` (deg,
        measured as in `FibreRule.helix_angle`); for two ventricles also ``septal`` (``phi_rv / (phi_lv + phi_rv)``).

    Raises:
        MeshError: one line, if a named surface is missing.
    """
    rule = FibreRule(alpha_endo, alpha_epi, beta_endo, beta_epi)
    p = fibre_potentials(mesh, endo=endo, epi=epi, base=base, rtol=rtol, dtype=dtype)
    fibres, sheets = rule(p)
    cell_data = dict(mesh.cell_data)
    cell_data["transmural"] = np.asarray(p.transmural, dtype=np.float64)
    cell_data["apicobasal"] = np.asarray(p.apicobasal, dtype=np.float64)
    cell_data["helix_angle"] = np.asarray(rule.helix_angle(p, fibres), dtype=np.float64)
    if p.biventricular:
        cell_data["septal"] = np.asarray(p.septal, dtype=np.float64)
    # stored in float64, orthonormal to round-off even when computed in float32 (one Gram-Schmidt step on the host)
    f = np.asarray(fibres, dtype=np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    s = np.asarray(sheets, dtype=np.float64)
    s = s - np.sum(s * f, axis=1, keepdims=True) * f
    s = s / np.linalg.norm(s, axis=1, keepdims=True)
    return mesh.replace(fibres=f, sheets=s, cell_data=cell_data)
