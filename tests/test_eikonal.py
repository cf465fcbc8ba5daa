"""Anisotropic eikonal activation (organtwin.ep.simulate_eikonal): exactness for plane waves, convergence order for a
point source (log-log fit), multiple sites, the fast endocardial layer, gradients against finite differences, errors.

float64 (tests/conftest.py). Meshes: structured Kuhn boxes (tests/problems.py) and the generated slab.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import central_gradient
from cli import one_error_line, run_cli
from problems import box_mesh

import organtwin.ep as ep
from organtwin.ep._eikonal import EikonalProblem, solve_eikonal
from organtwin.mesh import slab_mesh

V3 = (0.6, 0.4, 0.2)  # m/s along fibre, sheet, normal


def _exact(points, source, fibre, sheet, v):
    f, s = np.asarray(fibre, float), np.asarray(sheet, float)
    n = np.cross(f, s)
    d = np.asarray(points) - np.asarray(source)
    return np.sqrt((d @ f / v[0]) ** 2 + (d @ s / v[1]) ** 2 + (d @ n / v[2]) ** 2)


def _box_tissue(n, L=10.0, fibre=(1.0, 0, 0), sheet=(0, 1.0, 0), v=V3):
    mesh = box_mesh(n, n, n, L, L, L)
    nc = mesh.n_cells
    mesh = mesh.replace(
        fibres=np.tile(np.asarray(fibre, float), (nc, 1)), sheets=np.tile(np.asarray(sheet, float), (nc, 1))
    )
    return mesh, ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(*v))


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_plane_wave(angle):
    """t = 0 on the face x = 0 of a 10 mm box, homogeneous anisotropic medium. Where the characteristic through a node
    (direction V e_x, tilted by the fibres) starts on that face, the exact travel time is linear, t = x / sqrt(V_xx); it
    is longer where the characteristic would start outside the box, with a kink along the characteristic through the
    edge y = 0. The local solver is exact for data linear on a face, so with fibres along x (no kink) the error is
    round-off; at 30° the first-order scheme smears the kink and the error decays geometrically away from it (measured
    at h = 1.25 mm: 0.18 ms next to it, 3.8e-4 ms from 4 mm on). Every discrete time is an upper bound of the exact one
    (each candidate is the length of an admissible path)."""
    a = np.deg2rad(angle)
    fibre, sheet = (np.cos(a), np.sin(a), 0.0), (-np.sin(a), np.cos(a), 0.0)
    mesh, tissue = _box_tissue(8, fibre=fibre, sheet=sheet)
    M = tissue.metric()
    pts = np.asarray(mesh.points)
    src = jnp.asarray(np.where(pts[:, 0] <= 1e-9, 0.0, 1e30))
    t, sweeps = solve_eikonal(EikonalProblem(tissue.points, tissue.tets, M, src))
    t = np.asarray(t)
    V = np.linalg.inv(np.asarray(M[0]))
    plane = pts[:, 0] / np.sqrt(V[0, 0])
    assert np.all(t >= plane - 1e-10)
    if angle == 0.0:
        np.testing.assert_allclose(t, plane, rtol=0, atol=1e-10)
    else:
        y0 = pts[:, 1] - pts[:, 0] * V[1, 0] / V[0, 0]  # where the characteristic meets x = 0
        far = (y0 >= 4.0) & (y0 <= 10.0 + 1e-9)
        assert far.sum() > 200
        np.testing.assert_allclose(t[far], plane[far], rtol=0, atol=1e-3)
    assert int(sweeps) <= 3 * 8


def test_point_source_converges():
    """A point site at a corner with a 2 mm source ball (exact times inside), anisotropic 0.6/0.4/0.2 m/s: the mean
    error falls with h at a measured order ~0.86 (log-log fit over h = 1.67, 0.83, 0.42 mm); asserted >= 0.75. The
    scheme is first order for smooth solutions; the kink of the travel-time cone at the ball's edge costs a little."""
    errs = []
    for n in (6, 12, 24):
        mesh, tissue = _box_tissue(n)
        res = ep.simulate_eikonal(tissue, ep.EikonalSite((0.0, 0.0, 0.0), 0.0, radius=2.0))
        exact = _exact(mesh.points, (0, 0, 0), (1, 0, 0), (0, 1, 0), V3)
        errs.append(np.mean(np.abs(np.asarray(res.activation) - exact)))
    h = 10.0 / np.array([6, 12, 24])
    order = np.polyfit(np.log(h), np.log(errs), 1)[0]
    assert order >= 0.75, (order, errs)
    assert errs[-1] < 0.25  # ms, against times up to 58 ms


def test_two_sites_take_the_earlier_and_onsets_shift():
    """Two sites: the earlier of the two single-site solutions, exactly wherever one wave is > 5 ms ahead; where the
    waves meet (a kink of the exact solution) a face update can mix both and be earlier, by O(h) (measured 0.84 ms at
    h = 1 mm, times up to 60 ms; bound 1 ms), never later. A later onset shifts every time by the delay."""
    mesh, tissue = _box_tissue(10)
    s1 = ep.EikonalSite((0.0, 0.0, 0.0), 0.0, radius=1.5)
    s2 = ep.EikonalSite((10.0, 10.0, 10.0), 5.0, radius=1.5)
    both = np.asarray(ep.simulate_eikonal(tissue, [s1, s2]).activation)
    a1 = np.asarray(ep.simulate_eikonal(tissue, s1).activation)
    a2 = np.asarray(ep.simulate_eikonal(tissue, s2).activation)
    assert np.all(both <= np.minimum(a1, a2) + 1e-9)
    assert np.max(np.minimum(a1, a2) - both) < 1.0
    far1 = a1 < a2 - 5.0
    np.testing.assert_allclose(both[far1], a1[far1], rtol=1e-12)
    late = np.asarray(ep.simulate_eikonal(tissue, ep.EikonalSite((0.0, 0.0, 0.0), 7.0, radius=1.5)).activation)
    np.testing.assert_allclose(late, a1 + 7.0, rtol=1e-12)


def test_fast_endocardial_layer_speeds_activation():
    mesh = slab_mesh((10.0, 4.0, 2.0), 0.5)
    slow = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5, 0.25))
    fast = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5, 0.25), fast_endocardium="z0", fast_velocity=2.0)
    site = ep.EikonalSite((0.0, 2.0, 0.0), 0.0, radius=1.0)
    a_slow = np.asarray(ep.simulate_eikonal(slow, site).activation)
    a_fast = np.asarray(ep.simulate_eikonal(fast, site).activation)
    far = np.asarray(mesh.points[:, 0]) > 9.0
    assert np.all(a_fast <= a_slow + 1e-9) and a_fast[far].mean() < 0.5 * a_slow[far].mean()
    with pytest.raises(ValueError, match="no surface 'endo'"):
        ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5), fast_endocardium="endo")


def _gradient_problem():
    mesh = slab_mesh((6.0, 3.0, 2.0), 0.5)
    cx = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(cx < 3.0, 1, 2))
    a = np.deg2rad(20.0)
    nc = mesh.n_cells
    mesh = mesh.replace(
        fibres=np.tile([np.cos(a), np.sin(a), 0.0], (nc, 1)), sheets=np.tile([-np.sin(a), np.cos(a), 0.0], (nc, 1))
    )
    tissue = ep.EikonalTissue.from_mesh(
        mesh, {1: ep.ConductionVelocity(0.6, 0.4, 0.2), 2: ep.ConductionVelocity(0.5, 0.3, 0.25)}, fast_endocardium="z0"
    )
    w = jnp.asarray(1.0 + np.asarray(mesh.points[:, 0]) / 6.0)

    def activation(theta, forward_mode=False):
        t = tissue.__class__(**{**tissue.__dict__, "velocity": theta[:6].reshape(2, 3), "fast_velocity": theta[6]})
        site = ep.EikonalSite(theta[8:11], theta[7], radius=1.2)
        return ep.simulate_eikonal(t, site, forward_mode=forward_mode).activation

    theta = jnp.concatenate([tissue.velocity.reshape(-1), jnp.array([1.5, 2.0, 0.3, 1.4, 0.6])])
    return activation, w, theta


@pytest.mark.slow  # ~30 s; by default the next test checks the same problem: reverse mode = forward mode, 4 of the 11 columns against finite differences
def test_gradients_against_finite_differences():
    """d(loss)/d(velocities of two regions, the fast layer's velocity, the site's onset and position): implicit
    differentiation of the converged fixed point against central differences (relative step 1e-6). The discrete
    solution is smooth in these parameters as long as no node changes its parent update, which a 1e-6 step almost
    never does: 1e-5 relative agreement."""
    activation, w, theta = _gradient_problem()

    def loss(theta):
        return jnp.sum(w * activation(theta)) / w.size

    ad = np.asarray(jax.grad(loss)(theta))
    fd = central_gradient(loss, np.asarray(theta))
    assert np.all(np.abs(fd) > 1e-6)
    np.testing.assert_allclose(ad, fd, rtol=1e-5, atol=1e-8 * np.abs(fd).max())
    # the onset shifts every time: d(mean weighted time)/d(onset) = mean(w)
    np.testing.assert_allclose(ad[7], float(jnp.mean(w)), rtol=1e-10)
    # and under jit
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(loss))(theta)), ad, rtol=1e-12)


def test_forward_mode_jacobian_matches_reverse_mode_and_finite_differences():
    """``forward_mode=True``: the full Jacobian d(activation at every node)/d(11 parameters) by ``jacfwd`` (the custom
    JVP's causal tangent sweep). Contracted with the weights it equals the reverse-mode gradient (the same linear
    system, solved the other way round: round-off agreement), and its columns match central differences node by
    node (1e-5 relative, as above)."""
    activation, w, theta = _gradient_problem()
    J = np.asarray(jax.jacfwd(lambda th: activation(th, True))(theta))  # (nodes, 11)
    assert J.shape == (w.size, theta.size) and np.all(np.isfinite(J))
    grad = np.asarray(jax.grad(lambda th: jnp.sum(w * activation(th)) / w.size)(theta))
    np.testing.assert_allclose(np.asarray(w) @ J / w.size, grad, rtol=1e-9, atol=1e-12)
    # the onset column is exactly 1 at every node reached from the site
    np.testing.assert_allclose(J[:, 7], 1.0, rtol=1e-10)
    for k in (0, 4, 6, 8):
        e = np.zeros(theta.size)
        e[k] = 1e-6 * max(abs(float(theta[k])), 1.0)
        fd = (np.asarray(activation(theta + e)) - np.asarray(activation(theta - e))) / (2 * e[k])
        np.testing.assert_allclose(J[:, k], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())
    # the values are those of the reverse-mode solver, and it also runs under jit
    np.testing.assert_array_equal(np.asarray(activation(theta, True)), np.asarray(activation(theta)))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.jacfwd(lambda th: activation(th, True)))(theta)), J, rtol=1e-12)


def test_errors():
    mesh, tissue = _box_tissue(4)
    with pytest.raises(ValueError, match="no mesh node lies within"):
        ep.simulate_eikonal(tissue, ep.EikonalSite((50.0, 0.0, 0.0), radius=1.0))
    with pytest.raises(ValueError, match="must be positive"):
        ep.ConductionVelocity(-0.5)
    with pytest.raises(ValueError, match="at least one"):
        ep.simulate_eikonal(tissue, [])
    iso = slab_mesh((2.0, 2.0, 2.0), 1.0).replace(fibres=None)
    with pytest.raises(Exception, match="fibre"):
        ep.EikonalTissue.from_mesh(iso, ep.ConductionVelocity(0.6, 0.3))
    # an isotropic tissue needs no fibres
    t = ep.EikonalTissue.from_mesh(iso, ep.ConductionVelocity(0.5))
    a = ep.simulate_eikonal(t, ep.EikonalSite((0.0, 0.0, 0.0), radius=0.5)).activation
    np.testing.assert_allclose(np.asarray(a), np.linalg.norm(np.asarray(iso.points), axis=1) / 0.5, rtol=0.2)


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_activate_writes_the_mesh_with_activation(tmp_path, capsys):
    import meshio

    from organtwin.mesh import read_mesh, write_mesh

    mesh = slab_mesh((8.0, 3.0, 2.0), 0.5)
    mesh = mesh.replace(regions=np.where(mesh.points[mesh.tets].mean(axis=1)[:, 0] < 4.0, 1, 2))
    write_mesh(mesh, tmp_path / "m.vtu")
    rc, out, err = run_cli(
        capsys,
        "activate",
        tmp_path / "m.vtu",
        "--site",
        "0,0,0",
        "--site",
        "8,3,2@4",
        "--cv-fibre",
        "0.6",
        "--cv-transverse",
        "0.3",
        "--out",
        tmp_path / "a.vtu",
        "--float64",
        "--site-radius",
        "1.0",
    )
    assert rc == 0, err
    assert f"{mesh.n_nodes} of {mesh.n_nodes} nodes reached" in out
    got = np.asarray(meshio.read(tmp_path / "a.vtu").point_data["activation_time"])
    tissue = ep.EikonalTissue.from_mesh(read_mesh(tmp_path / "m.vtu"), ep.ConductionVelocity(0.6, 0.3))
    want = ep.simulate_eikonal(
        tissue, [ep.EikonalSite((0.0, 0.0, 0.0), 0.0, radius=1.0), ep.EikonalSite((8.0, 3.0, 2.0), 4.0, radius=1.0)]
    ).activation
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12)
    # regions: the written mesh is the selected region only
    rc, out, err = run_cli(
        capsys,
        "activate",
        tmp_path / "m.vtu",
        "--site",
        "0,0,0",
        "--cv-fibre",
        "0.5",
        "--regions",
        "1",
        "--out",
        tmp_path / "r.vtu",
    )
    assert rc == 0, err
    r = read_mesh(tmp_path / "r.vtu")
    assert set(np.unique(r.regions).tolist()) == {1} and np.all(np.isfinite(r.point_data["activation_time"]))


@pytest.mark.parametrize(
    "args, words",
    [
        (["--site", "0,0"], "--site must be X,Y,Z"),
        (["--site", "0,0,0@x"], "--site must be X,Y,Z"),
        (["--site", "90,0,0"], "no mesh node within"),
        (["--site", "0,0,0", "--cv-transverse", "-1"], "--cv-transverse must be a positive velocity"),
        (["--site", "0,0,0", "--regions", "7"], "no region 7"),
        (["--site", "0,0,0", "--fast-endo", "endo_lv"], "no surface 'endo_lv'"),
    ],
)
def test_cli_activate_errors_are_one_line(tmp_path, capsys, args, words):
    from organtwin.mesh import write_mesh

    write_mesh(slab_mesh((4.0, 2.0, 2.0), 1.0), tmp_path / "m.vtu")
    rc, out, err = run_cli(
        capsys, "activate", tmp_path / "m.vtu", "--cv-fibre", "0.6", "--out", tmp_path / "a.vtu", *args
    )
    assert rc in (1, 2)
    assert words in one_error_line(err, only=True)
    assert not (tmp_path / "a.vtu").exists()


def test_nearest_node_sites_match_fim_style_point_sources():
    """radius 0: only the node nearest to the site starts (as fim-python's x0): the same as an EikonalProblem with that
    node's source time, and its onset is exact there."""
    mesh, tissue = _box_tissue(6)
    pts = np.asarray(mesh.points)
    p = np.array([3.3, 1.6, 5.1])
    k = int(np.argmin(np.linalg.norm(pts - p, axis=1)))
    res = ep.simulate_eikonal(tissue, ep.EikonalSite(p, 2.0, radius=0.0))
    M = tissue.metric()
    Mk = np.asarray(ep._eikonal.node_metric(tissue.tets, M, mesh.n_nodes))[k]
    d = pts[k] - p
    t0 = 2.0 + np.sqrt(d @ Mk @ d)
    src = jnp.full(mesh.n_nodes, 1e30).at[k].set(t0)
    ref, _ = solve_eikonal(EikonalProblem(tissue.points, tissue.tets, M, src))
    np.testing.assert_allclose(np.asarray(res.activation), np.asarray(ref), rtol=1e-12)
    assert np.argmin(np.asarray(res.activation)) == k
    with pytest.raises(ValueError, match="radius must be >= 0"):
        ep.EikonalSite(p, radius=-1.0)
