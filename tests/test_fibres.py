"""Rule-based fibres (Bayer et al. 2012): frame algebra on exact synthetic fields, a slab with exactly linear potentials,
the LV ellipsoid (helix law at the endo- and epicardium), a coarse biventricle (septum), errors, and the picture."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import MeshError
from organtwin.mesh import _fibres, biv_mesh, lv_ellipsoid_mesh, slab_mesh
from organtwin.mesh._fibres import FibrePotentials, FibreRule, fibre_potentials, rule_based_fibres

# the private frame algebra, jitted (op-by-op dispatch of ~100 small ops would dominate the test time)
_bislerp = jax.jit(_fibres._bislerp)
_matrix_from_quat = jax.jit(_fibres._matrix_from_quat)
_orient = jax.jit(_fibres._orient)
_quat_from_matrix = jax.jit(_fibres._quat_from_matrix)
_wall_frame = jax.jit(_fibres._wall_frame)
_helix_in_frame = jax.jit(_fibres._helix_in_frame)


def helix_rule(d, endo=60.0, epi=-60.0):
    return endo * (1 - d) + epi * d


def faces_on(mesh, surface):
    """Cells with a whole face on `surface` (three nodes on it)."""
    return np.isin(mesh.tets, mesh.surface_nodes(surface)).sum(axis=1) >= 3


def assert_orthonormal(f, s, tol=1e-10):
    f, s = np.asarray(f), np.asarray(s)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1, atol=tol)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1, atol=tol)
    np.testing.assert_allclose(np.sum(f * s, axis=1), 0, atol=tol)


N = 40  # cells in the synthetic tests: one shape, so each jitted function compiles once


def random_rotations(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return _matrix_from_quat(jnp.asarray(q / np.linalg.norm(q, axis=1, keepdims=True)))


# ------------------------------------------------------------------ frame algebra (no solver)
def test_quaternion_round_trip_and_bislerp_end_points():
    Ra, Rb = random_rotations(N, 1), random_rotations(N, 2)
    np.testing.assert_allclose(_matrix_from_quat(_quat_from_matrix(Ra)), Ra, atol=1e-12)
    np.testing.assert_allclose(_bislerp(Ra, Rb, jnp.zeros(N)), Ra, atol=1e-12)
    # t = 1 gives Rb up to the flip of two axes (the same lines): |column dots| = 1
    end = np.asarray(_bislerp(Ra, Rb, jnp.ones(N)))
    np.testing.assert_allclose(np.abs(np.einsum("cik,cik->ck", end, np.asarray(Rb))), 1, atol=1e-10)
    mid = np.asarray(_bislerp(Ra, Rb, jnp.full(N, 0.3)))
    np.testing.assert_allclose(np.einsum("cij,cik->cjk", mid, mid), np.broadcast_to(np.eye(3), mid.shape), atol=1e-12)


def test_bislerp_commutes_with_a_common_body_rotation():
    """slerp(Qa R, Qb R, t) = slerp(Qa, Qb, t) R: the reason the free-wall helix law survives the blends."""
    n = N
    Qa = random_rotations(n, 3)
    q = np.column_stack([np.ones(n), 0.2 * np.random.default_rng(4).normal(size=(n, 3))])  # rotations of ~20 deg
    Qb = jnp.einsum("cij,cjk->cik", Qa, _matrix_from_quat(jnp.asarray(q / np.linalg.norm(q, axis=1, keepdims=True))))
    alpha, beta = jnp.linspace(-1.0, 1.0, n), jnp.linspace(0.5, -0.5, n)
    t = jnp.linspace(0, 1, n)
    lhs = _bislerp(_orient(Qa, alpha, beta), _orient(Qb, alpha, beta), t)
    rhs = _orient(_bislerp(Qa, Qb, t), alpha, beta)
    np.testing.assert_allclose(lhs, rhs, atol=1e-10)


def synthetic(n, *, d, t_dir, ab_dir, **extra):
    d = jnp.asarray(d, dtype=jnp.float64)
    return FibrePotentials(
        transmural=d,
        apicobasal=jnp.full(n, 0.5),
        grad_transmural=jnp.broadcast_to(jnp.asarray(t_dir, dtype=jnp.float64), (n, 3)),
        grad_apicobasal=jnp.broadcast_to(jnp.asarray(ab_dir, dtype=jnp.float64), (n, 3)),
        long_axis=jnp.array([0.0, 0.0, 1.0]),
        **extra,
    )


def test_single_ventricle_rule_is_exact_on_synthetic_fields():
    """e_t = z, e_l = y (grad psi is tilted towards z: only its tangential part counts), e_c = y x z = x."""
    n = N
    d = jnp.linspace(0, 1, n)
    p = synthetic(n, d=d, t_dir=[0, 0, 2.0], ab_dir=[0, 1.0, 0.7])
    rule = FibreRule(60.0, -60.0, 20.0, -10.0)
    f, s = rule(p)
    a, b = np.radians(helix_rule(np.asarray(d))), np.radians(helix_rule(np.asarray(d), 20.0, -10.0))
    f_exact = np.column_stack([np.cos(a), np.sin(a), 0 * a])
    g = np.column_stack([-np.sin(a), np.cos(a), 0 * a])  # e_t x f
    s_exact = np.cos(b)[:, None] * np.array([0, 0, 1.0]) + np.sin(b)[:, None] * g
    np.testing.assert_allclose(f, f_exact, atol=1e-14)
    np.testing.assert_allclose(s, s_exact, atol=1e-14)
    np.testing.assert_allclose(rule.helix_angle(p, f), helix_rule(np.asarray(d)), atol=1e-12)


def test_degenerate_apicobasal_gradient_falls_back_to_the_long_axis():
    d = jnp.linspace(0, 1, N)
    p = synthetic(N, d=d, t_dir=[1.0, 0, 0], ab_dir=[1.0, 0, 0])  # grad psi parallel to e_t: e_l from the long axis z
    f, s = FibreRule()(p)
    assert np.all(np.isfinite(np.asarray(f)))
    assert_orthonormal(f, s)
    np.testing.assert_allclose(np.asarray(f)[:, 2] ** 2, np.sin(np.radians(helix_rule(np.asarray(d)))) ** 2, atol=1e-12)
    np.testing.assert_allclose(FibreRule().helix_angle(p, f), helix_rule(np.asarray(d)), atol=1e-12)


def test_biventricular_rule_on_synthetic_septum_and_free_walls():
    n = N + 1  # d_s = 1/2 is a node of the grid
    ds = jnp.linspace(0, 1, n)
    zero = jnp.zeros((n, 3))
    # septum: LV cavity at -x, RV cavity at +x: -grad phi_lv = grad phi_rv = +x; phi_epi = 0
    sept = synthetic(
        n,
        d=jnp.zeros(n),
        t_dir=[0, 0.3, 0],
        ab_dir=[0, 0, 1.0],
        septal=ds,
        grad_lv=jnp.broadcast_to(jnp.array([-1.0, 0, 0]), zero.shape),
        grad_rv=jnp.broadcast_to(jnp.array([1.0, 0, 0]), zero.shape),
    )
    rule = FibreRule()
    f, s = rule(sept)
    assert_orthonormal(f, s)
    # in the LV frame (e_t = x, e_l = z, e_c = z x x = y) the helix goes +60 -> 0 -> -60 across the septum ...
    lv_frame = _wall_frame(jnp.broadcast_to(jnp.array([1.0, 0, 0]), (n, 3)), sept.grad_apicobasal, sept.long_axis)
    np.testing.assert_allclose(_helix_in_frame(f, lv_frame), 60 * (1 - 2 * np.asarray(ds)), atol=1e-10)
    # ... which reads +60 from each cavity (the reported helix angle)
    np.testing.assert_allclose(rule.helix_angle(sept, f), 60 * np.abs(1 - 2 * np.asarray(ds)), atol=1e-10)

    w = jnp.linspace(0, 1, n)
    # LV free wall: d_s = 0, grad phi_lv = -grad phi_epi: exactly alpha(phi_epi)
    lv = synthetic(
        n,
        d=w,
        t_dir=[1.0, 0, 0],
        ab_dir=[0, 0, 1.0],
        septal=jnp.zeros(n),
        grad_lv=jnp.broadcast_to(jnp.array([-1.0, 0, 0]), zero.shape),
        grad_rv=jnp.broadcast_to(jnp.array([0.3, 0.2, -0.1]), zero.shape),
    )
    f, s = rule(lv)
    np.testing.assert_allclose(rule.helix_angle(lv, f), helix_rule(np.asarray(w)), atol=1e-10)
    # RV free wall: d_s = 1, grad phi_rv points into the cavity (-x), outward is +x: alpha(phi_epi) seen from the RV
    rv = synthetic(
        n,
        d=w,
        t_dir=[1.0, 0, 0],
        ab_dir=[0, 0, 1.0],
        septal=jnp.ones(n),
        grad_lv=jnp.broadcast_to(jnp.array([0.1, -0.3, 0.2]), zero.shape),
        grad_rv=jnp.broadcast_to(jnp.array([-1.0, 0, 0]), zero.shape),
    )
    f, s = rule(rv)
    assert_orthonormal(f, s)
    np.testing.assert_allclose(rule.helix_angle(rv, f), helix_rule(np.asarray(w)), atol=1e-10)
    np.testing.assert_allclose(np.abs(np.asarray(s)[:, 0]), 1, atol=1e-12)  # sheets transmural


def test_angles_are_differentiable():
    n = N
    d = jnp.linspace(0, 1, n)
    p = synthetic(n, d=d, t_dir=[0, 0, 1.0], ab_dir=[0, 1.0, 0])

    def total_helix(alpha_endo):
        rule = FibreRule(alpha_endo, -60.0)
        return jnp.sum(rule.helix_angle(p, rule(p)[0]))

    np.testing.assert_allclose(jax.grad(total_helix)(60.0), np.sum(1 - np.asarray(d)), rtol=1e-10)


def test_fibre_rule_rejects_bad_angles():
    with pytest.raises(ValueError, match="alpha_epi"):
        FibreRule(60.0, float("nan"))


# ------------------------------------------------------------------ slab: the potentials are exactly linear
def test_slab_with_linear_potentials_matches_the_analytic_fibres():
    Lz = 2.0
    mesh = slab_mesh((3.0, 2.0, Lz), 0.5)
    mesh = mesh.replace(node_sets={"apex": mesh.surface_nodes("y0")})  # psi = 0 on the whole face y = 0: psi = y / Ly
    out = rule_based_fibres(mesh, endo="z0", epi="z1", base="y1", beta_endo=30.0, beta_epi=-30.0, rtol=1e-13)
    c = mesh.points[mesh.tets].mean(axis=1)
    d = c[:, 2] / Lz
    np.testing.assert_allclose(out.cell_data["transmural"], d, atol=1e-11)
    np.testing.assert_allclose(out.cell_data["apicobasal"], c[:, 1] / 2.0, atol=1e-11)
    a, b = np.radians(helix_rule(d)), np.radians(helix_rule(d, 30.0, -30.0))
    f_exact = np.column_stack([np.cos(a), np.sin(a), 0 * a])  # e_c = e_l x e_t = y x z = x
    s_exact = np.column_stack([-np.sin(b) * np.sin(a), np.sin(b) * np.cos(a), np.cos(b)])
    sign = np.sign(np.sum(out.fibres * f_exact, axis=1))[:, None]
    np.testing.assert_allclose(sign * out.fibres, f_exact, atol=1e-10)
    np.testing.assert_allclose(out.sheets, s_exact, atol=1e-10)
    np.testing.assert_allclose(out.cell_data["helix_angle"], helix_rule(d), atol=1e-8)


# ------------------------------------------------------------------ LV ellipsoid
@pytest.fixture(scope="module")
def lv():
    mesh = lv_ellipsoid_mesh(h=1.5)  # about two tets through the 3 mm wall
    return mesh, rule_based_fibres(mesh)


def test_lv_fibres_are_orthonormal_and_fields_are_set(lv):
    mesh, out = lv
    assert out.fibres.shape == out.sheets.shape == (mesh.n_cells, 3)
    assert_orthonormal(out.fibres, out.sheets)
    for k in ("transmural", "apicobasal", "helix_angle"):
        assert out.cell_data[k].shape == (mesh.n_cells,)
    assert "septal" not in out.cell_data
    assert out.n_nodes == mesh.n_nodes and set(out.surfaces) == set(mesh.surfaces)


def test_lv_transmural_potential_is_bounded_and_increases_outwards(lv):
    mesh, out = lv
    p = fibre_potentials(mesh)
    phi = np.asarray(p.nodal["transmural"])
    assert phi.min() >= -1e-6 and phi.max() <= 1 + 1e-6
    np.testing.assert_allclose(phi[mesh.surface_nodes("endo_lv")], 0, atol=1e-12)
    np.testing.assert_allclose(phi[mesh.surface_nodes("epi")], 1, atol=1e-12)
    # monotone through the wall: grad phi_epi points along the outward normal of the confocal-ish ellipsoids in every tet
    c = mesh.points[mesh.tets].mean(axis=1)
    outward = c / np.array([10.0, 10.0, 20.0]) ** 2
    assert np.all(np.sum(np.asarray(p.grad_transmural) * outward, axis=1) > 0)
    psi = np.asarray(p.nodal["apicobasal"])
    assert psi.min() >= -1e-6 and psi.max() <= 1 + 1e-6
    np.testing.assert_allclose(psi[mesh.surface_nodes("base")], 1, atol=1e-12)


def test_lv_helix_law_at_endo_and_epi(lv):
    """The helix angle of every tet, measured in its own (e_c, e_l, e_t) frame, is alpha(d_cell) to round-off, d_cell the
    mean nodal phi_epi. A tet with a face on the endocardium has d_cell = phi(4th node) / 4 <= 1/4 (discrete maximum
    principle, up to the solver tolerance), so its helix angle is >= 60 - 120/4 = 30 deg; likewise <= -30 at the epi."""
    mesh, out = lv
    d, helix = out.cell_data["transmural"], out.cell_data["helix_angle"]
    np.testing.assert_allclose(helix, helix_rule(d), atol=1e-8)
    endo, epi = faces_on(mesh, "endo_lv"), faces_on(mesh, "epi")
    assert endo.sum() > 100 and epi.sum() > 100
    assert d[endo].max() <= 0.25 + 1e-8 and d[epi].min() >= 0.75 - 1e-8
    assert helix[endo].min() >= 30 - 1e-6 and helix[epi].max() <= -30 + 1e-6
    assert np.median(helix[endo]) > 40 and np.median(helix[epi]) < -40


def test_lv_helix_is_right_handed_at_the_endocardium(lv):
    """Bayer's convention, checked in lab coordinates: e_c = e_l x e_t is counter-clockwise seen from the base (+z), so an
    endocardial fibre rising towards the base runs counter-clockwise (right-handed helix); the epicardial one clockwise."""
    mesh, out = lv
    c = mesh.points[mesh.tets].mean(axis=1)
    ccw = np.column_stack([-c[:, 1], c[:, 0], np.zeros(len(c))])
    ccw /= np.linalg.norm(ccw, axis=1, keepdims=True)
    mid = np.abs(c[:, 2] + 5) < 6  # away from apex and base
    for surface, sign in (("endo_lv", 1), ("epi", -1)):
        cells = faces_on(mesh, surface) & mid
        f = out.fibres[cells] * np.sign(out.fibres[cells, 2])[:, None]  # orient each line upwards (towards the base)
        assert np.all(sign * np.sum(f * ccw[cells], axis=1) > 0)


def test_lv_angles_and_sheets_follow_the_arguments(lv):
    mesh = lv[0]
    out = rule_based_fibres(mesh, alpha_endo=40.0, alpha_epi=-50.0, beta_endo=-65.0, beta_epi=25.0)  # Bayer's values
    assert_orthonormal(out.fibres, out.sheets)
    d = out.cell_data["transmural"]
    np.testing.assert_allclose(out.cell_data["helix_angle"], helix_rule(d, 40.0, -50.0), atol=1e-8)
    p = fibre_potentials(mesh)
    e_t = np.asarray(p.grad_transmural) / np.linalg.norm(np.asarray(p.grad_transmural), axis=1, keepdims=True)
    beta = np.radians(helix_rule(d, -65.0, 25.0))
    np.testing.assert_allclose(np.sum(out.sheets * e_t, axis=1), np.cos(beta), atol=1e-8)


def test_lv_float32_default_tolerance_converges(lv):
    """The command line runs without x64: float32 solves with the float32 default rtol (1e-5) and fields within 1e-3 deg."""
    mesh, ref = lv
    out = rule_based_fibres(mesh, dtype=jnp.float32)
    assert_orthonormal(out.fibres, out.sheets, tol=1e-12)  # re-orthonormalised in float64 on the host
    np.testing.assert_allclose(out.cell_data["transmural"], ref.cell_data["transmural"], atol=1e-4)
    np.testing.assert_allclose(out.cell_data["helix_angle"], helix_rule(out.cell_data["transmural"]), atol=1e-3)


# ------------------------------------------------------------------ biventricle
@pytest.mark.slow  # ~10 s (gmsh + four Laplace solves compiled for one more mesh); the algebra is covered above
def test_biv_septum_and_free_walls():
    mesh = biv_mesh(h=5.0)
    out = rule_based_fibres(mesh)
    assert_orthonormal(out.fibres, out.sheets)
    d, ds, helix = out.cell_data["transmural"], out.cell_data["septal"], out.cell_data["helix_angle"]
    assert 0 <= ds.min() and ds.max() <= 1
    # LV free wall, away from the RV (septal weight < 1 %): the prescribed law within a fraction of a degree
    lv_free = (mesh.regions == 1) & (ds < 0.01)
    assert lv_free.sum() > 200
    assert np.abs(helix[lv_free] - helix_rule(d[lv_free])).max() < 1.0
    # septum interior (phi_epi ~ 0): Bayer's septal law, +60 at each endocardium, circumferential at d_s = 1/2
    septum = d < 1e-3
    assert septum.sum() > 200 and ds[septum].min() < 0.2 and ds[septum].max() > 0.8
    assert np.abs(helix[septum] - 60 * np.abs(1 - 2 * ds[septum])).max() < 1.0
    # both endocardia read >= 30 deg (up to junction tets), the epicardium <= -30 deg
    for surface, sign in (("endo_lv", 1), ("endo_rv", 1), ("epi", -1)):
        cells = faces_on(mesh, surface)
        assert np.mean(sign * helix[cells] >= 30 - 1e-6) > 0.97, surface


# ------------------------------------------------------------------ errors
def test_missing_surfaces_raise_one_line_mesh_errors():
    mesh = slab_mesh((2.0, 2.0, 1.0), 1.0)
    with pytest.raises(MeshError, match="no surface named 'endo_lv'") as e:
        rule_based_fibres(mesh)
    msg = str(e.value)
    assert "\n" not in msg and "surfaces: x0, x1, y0, y1, z0, z1" in msg and "endo=/epi=/base=" in msg
    with pytest.raises(MeshError, match="no surface named 'epi'"):
        rule_based_fibres(mesh, endo="z0")
    with pytest.raises(MeshError, match="no surface named 'bottom'"):
        rule_based_fibres(mesh, endo="z0", epi="z1", base="bottom")
    with pytest.raises(MeshError, match="no surface named 'endo_RV'"):  # an explicit RV name must exist
        rule_based_fibres(mesh, endo=("z0", "endo_RV"), epi="z1", base="y1")
    with pytest.raises(MeshError, match="one \\(LV\\) or two"):
        rule_based_fibres(mesh, endo=("x0", "x1", "y0"), epi="z1", base="y1")
    with pytest.raises(MeshError, match="different surfaces"):
        rule_based_fibres(mesh, endo="z0", epi="z1", base="z1")


# ------------------------------------------------------------------ picture
def test_render_fibres_writes_a_png(lv, tmp_path):
    pytest.importorskip("pyvista")
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from organtwin.viz._fibres_render import render_fibres

    _, out = lv
    path = render_fibres(out, tmp_path / "lv_fibres.png", max_arrows=300, window_size=(600, 250))
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(MeshError, match="no fibres"):
        render_fibres(lv[0], tmp_path / "x.png")
