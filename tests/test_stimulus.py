"""Stimuli (organtwin.ep._stimulus): node masks of boxes, spheres, node sets and surfaces; units; timing and charge;
multiple beats from period/count in a tissue run."""

import jax.numpy as jnp
import numpy as np
import pytest

import organtwin.ep as ep
from organtwin.ionic import MitchellSchaeffer2003
from organtwin.mesh import slab_mesh


@pytest.fixture(scope="module")
def mesh():
    m = slab_mesh((4.0, 2.0, 1.0), 0.5)
    return m.replace(node_sets={"apex": np.array([0, 5, 7])})


@pytest.fixture(scope="module")
def tissue(mesh):
    return ep.Tissue.from_mesh(mesh, ep.Conductivity(0.1334, 0.0176), MitchellSchaeffer2003())


def _mask(region, tissue):
    return np.asarray(region.node_mask(tissue.points, tissue.surfaces, tissue.node_sets))


def test_box_selects_closed_box(mesh, tissue):
    m = _mask(ep.Box((0, 0, 0), (1.5, 1.0, 0.5)), tissue)
    p = mesh.points
    expected = (p[:, 0] <= 1.5 + 1e-9) & (p[:, 1] <= 1.0 + 1e-9) & (p[:, 2] <= 0.5 + 1e-9)
    np.testing.assert_array_equal(m, expected)
    assert m.sum() == 4 * 3 * 2  # x in {0, .5, 1, 1.5}, y in {0, .5, 1}, z in {0, .5}: boundary nodes included


def test_sphere_selects_ball(mesh, tissue):
    c, r = np.array([2.0, 1.0, 0.5]), 0.6
    m = _mask(ep.Sphere(c, r), tissue)
    np.testing.assert_array_equal(m, np.linalg.norm(mesh.points - c, axis=1) <= r + 1e-9)
    assert m.sum() == 7  # the centre and its six lattice neighbours at 0.5 mm


def test_node_set_by_indices_and_name(mesh, tissue):
    m = _mask(ep.NodeSet([3, 4, 10]), tissue)
    assert np.flatnonzero(m).tolist() == [3, 4, 10]
    m = _mask(ep.NodeSet("apex"), tissue)
    assert np.flatnonzero(m).tolist() == [0, 5, 7]
    with pytest.raises(ValueError, match="no node set named 'base'"):
        _mask(ep.NodeSet("base"), tissue)
    with pytest.raises(ValueError, match="outside"):
        _mask(ep.NodeSet([10_000]), tissue)


def test_named_surface(mesh, tissue):
    m = _mask(ep.NamedSurface("x0"), tissue)
    np.testing.assert_array_equal(m, np.abs(mesh.points[:, 0]) < 1e-12)
    with pytest.raises(ValueError, match="no surface named 'endo'"):
        _mask(ep.NamedSurface("endo"), tissue)


def test_empty_selection_is_an_error(tissue):
    # A box given in metres instead of mm selects nothing: one clear line.
    with pytest.raises(ValueError, match="selects no mesh node"):
        ep.simulate_monodomain(
            tissue, [ep.Stimulus(ep.Box((0.001, 0.001, 0.001), (0.0015, 0.0015, 0.0015)), 1.0)], 1.0, 0.01
        )


def test_bad_construction():
    with pytest.raises(ValueError, match="must not exceed"):
        ep.Box((1, 0, 0), (0, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        ep.Sphere((0, 0, 0), -1.0)
    with pytest.raises(ValueError, match="period"):
        ep.Stimulus(ep.Sphere((0, 0, 0), 1.0), 1.0, count=3)
    with pytest.raises(ValueError, match="longer than the pulse"):
        ep.Stimulus(ep.Sphere((0, 0, 0), 1.0), 1.0, duration=5.0, period=4.0, count=2)
    with pytest.raises(ValueError, match="duration must be positive"):
        ep.Stimulus(ep.Sphere((0, 0, 0), 1.0), 1.0, duration=0.0)


def test_units_niederer():
    # 50,000 µA/cm³ with chi = 140 /mm = 1400 /cm and Cm = 1 µF/cm²: 50000 / 1400 = 35.714 µA/µF.
    s = ep.Stimulus(ep.Box((0, 0, 0), (1.5, 1.5, 1.5)), 50_000.0)
    assert float(s.amplitude(140.0, 1.0)) == pytest.approx(35.7142857, rel=1e-7)
    s = ep.Stimulus(ep.Box((0, 0, 0), (1, 1, 1)), 52.0, units=ep.StimulusUnits.PER_CAPACITANCE)
    assert float(s.amplitude(140.0, 1.0)) == 52.0


@pytest.mark.parametrize("dt", [0.01, 0.03, 0.07])
def test_step_averaged_current_injects_exact_charge(dt):
    # Whatever dt, the pulses deliver duration x count worth of current: the step average is the exact overlap.
    s = ep.Stimulus(ep.Sphere((0, 0, 0), 1.0), 1.0, start=0.25, duration=2.0, period=10.0, count=3)
    t = np.arange(0, 40.0 + dt, dt)
    frac = np.asarray(s.fraction_on(jnp.asarray(t[:-1]), jnp.asarray(t[1:])))  # vectorised over steps
    assert np.all((frac >= 0) & (frac <= 1 + 1e-12))
    assert np.sum(frac * dt) == pytest.approx(6.0, rel=1e-9)
    # Step by step, the fraction is the overlap with the windows [0.25, 2.25], [10.25, 12.25], [20.25, 22.25].
    a, b = t[:-1, None], t[1:, None]
    on = 0.25 + 10.0 * np.arange(3)[None, :]
    exact = np.clip(np.minimum(b, on + 2.0) - np.maximum(a, on), 0, None).sum(axis=1) / (t[1:] - t[:-1])
    np.testing.assert_allclose(frac, exact, atol=1e-9)


def test_pulses_forever():
    s = ep.Stimulus(ep.Sphere((0, 0, 0), 1.0), 1.0, start=0.0, duration=1.0, period=5.0, count=None)
    assert float(s.fraction_on(1000.0, 1000.5)) == 1.0
    assert float(s.fraction_on(1003.0, 1003.5)) == 0.0
    assert float(s.fraction_on(-1.0, -0.5)) == 0.0


def test_period_and_count_give_beats():
    """Three pulses 150 ms apart excite a strand three times (Mitchell–Schaeffer with short closing/opening time constants,
    APD ≈ 40 ms, so that it recovers between beats)."""
    mesh = slab_mesh((3.0, 0.25, 0.25), 0.25)
    model = MitchellSchaeffer2003(tau_close=25.0, tau_open=30.0)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.1334), model, dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 80_000.0, start=1.0, duration=2.0, period=150.0, count=3)
    res = ep.simulate_monodomain(tissue, [stim], 420.0, 0.05, record=ep.Record(beats=True, repolarisation=True))
    count = np.asarray(res.activation_count)
    first, last = np.asarray(res.activation), np.asarray(res.last_activation)
    assert np.all(count == 3)
    # The same wave two periods later (restitution: the third beat, on partly recovered tissue, is < 1 ms late).
    np.testing.assert_allclose(last - first, 300.0, atol=1.0)
    assert np.all(np.asarray(res.apd) > 20) and np.all(np.asarray(res.apd) < 100)
