"""Free parameters by name: pack / unpack round trips, smooth bounds, priors, gradients through unpack, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import ep
from organtwin.calibrate import (
    Bounded,
    CalibrationError,
    FreeParameter,
    FreeParameters,
    LogNormal,
    Normal,
    Positive,
    Unbounded,
)
from organtwin.flow import zerod as z
from organtwin.mesh import read_mesh


@pytest.mark.parametrize(
    "tr, x",
    [
        (Unbounded(), -3.0),
        (Positive(), 1e-3),
        (Positive(2.0), 50.0),
        (Bounded(0.5, 5.0), 0.51),
        (Bounded(-1.0, 1.0), 0.3),
    ],
)
def test_transforms_are_inverse_bijections(tr, x):
    u = tr.inverse(jnp.asarray(x))
    assert float(tr.forward(u)) == pytest.approx(x, rel=1e-9)
    # smooth: the derivative is finite and positive
    assert float(jax.grad(lambda v: tr.forward(v))(u)) > 0


def test_circulation_parameters_round_trip_and_differentiate():
    circ = z.regazzoni2022()
    free = FreeParameters(
        [
            FreeParameter("model.blocks.LV.e_active", Bounded(0.5, 5.0), Normal(2.75, 0.5)),
            FreeParameter("model.blocks.sys_art_RL.resistance", Positive()),
            "model.blocks.RV.e_passive",
        ],
        circ,
    )
    assert free.names[2] == "model.blocks.RV.e_passive" and free.size == 3
    u = free.pack(circ)
    back = free.unpack(circ, u)
    for name, v in free.values(u).items():
        np.testing.assert_allclose(v, FreeParameter(name).get(circ), rtol=1e-10)
    assert back.model.blocks["LV"].e_active.shape == ()
    assert float(back.model.blocks["sys_art_RL"].resistance[0]) == pytest.approx(0.8, rel=1e-10)
    # a new value lands where it should and leaves the rest as it was
    u2 = u.at[0].set(free.parameters[0].transform.inverse(3.0))
    m2 = free.unpack(circ, u2)
    assert float(m2.model.blocks["LV"].e_active) == pytest.approx(3.0, rel=1e-10)
    assert float(m2.model.blocks["RV"].e_active) == float(circ.model.blocks["RV"].e_active)
    assert float(free.prior_penalty(u2)) == pytest.approx(0.5 * ((3.0 - 2.75) / 0.5) ** 2, rel=1e-10)

    def lv_pressure(uu):  # a loss through the unpacked model: d/du by the chain rule through the transform
        m = free.unpack(circ, uu).model
        return m.blocks["LV"].pressure(0.1, 120.0)

    g = jax.grad(lv_pressure)(u)
    eps = 1e-6
    fd = (lv_pressure(u.at[0].add(eps)) - lv_pressure(u.at[0].add(-eps))) / (2 * eps)
    assert float(g[0]) == pytest.approx(float(fd), rel=1e-6) and float(g[1]) == 0.0


def test_indexed_eikonal_velocities():
    mesh = read_mesh("meshes/biv.vtu")
    tissue = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.6))  # isotropic: no fibres needed
    free = FreeParameters(
        [
            FreeParameter("velocity[0, 0]", Bounded(0.1, 2.0), LogNormal(0.6, 0.3)),
            FreeParameter("velocity[1]", Positive()),
        ],
        tissue,
    )
    assert free.size == 4
    u = free.pack(tissue)
    t2 = free.unpack(tissue, u.at[0].set(Bounded(0.1, 2.0).inverse(0.9)))
    assert float(t2.velocity[0, 0]) == pytest.approx(0.9) and float(t2.velocity[0, 1]) == pytest.approx(0.6)
    np.testing.assert_allclose(t2.velocity[1], tissue.velocity[1], rtol=1e-6)
    assert float(free.prior_penalty(u)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "params, match",
    [
        (["model.blocks.XX.e_active"], "no key 'XX'"),
        (["model.blocks.LV.emax"], "has no field 'emax'"),
        (["model.blocks.LV.e_active[3]"], "outside the array"),
        (["model..x"], "cannot read"),
        ([FreeParameter("model.blocks.LV.e_active", Bounded(3.0, 5.0))], "not strictly inside its bounds"),
        (["model.blocks.LV.name"], "not a floating array"),  # (the heart period is one since issue 19)
        (["model.blocks.LV.e_active", "model.blocks.LV.e_active"], "named twice"),
        ([], "no free parameters"),
    ],
)
def test_bad_parameter_choices_are_one_line_errors(params, match):
    """Each names what is wrong and how to fix it, in one line (at set-up, before any fit runs)."""
    circ = z.regazzoni2022()
    with pytest.raises(CalibrationError, match=match) as e:
        FreeParameters(params, circ)
    assert "\n" not in str(e.value)


def test_bounds_must_be_ordered():
    with pytest.raises(CalibrationError, match="need lower < upper"):
        Bounded(5.0, 3.0)
