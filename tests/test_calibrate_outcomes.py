"""How a fit ended: `FitResult.result` (`organtwin.RESULTS`), ``throw=`` on the fitters, the outcome in the report.
A toy model (one parameter, a quadratic objective): fast."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest

from organtwin import RESULTS
from organtwin._solution import SOLVER_FAILURES, result_name
from organtwin.calibrate import FreeParameter, FreeParameters, Unbounded, fit_adam, fit_least_squares


class Toy(eqx.Module):
    a: jnp.ndarray


def _problem():
    model = Toy(jnp.asarray(0.0))
    return model, FreeParameters([FreeParameter("a", Unbounded())], model)


def _residuals(m):  # a* = 3
    return jnp.stack([m.a - 3.0, 0.5 * (m.a - 3.0)])


def test_a_converged_fit_is_successful_and_the_report_names_it():
    from organtwin.calibrate import Term, fit_report

    model, free = _problem()
    res = fit_least_squares(_residuals, free, model, max_steps=20, progress=False)
    assert res.result == RESULTS.successful and "converged" in res.message
    assert float(res.values["a"]) == pytest.approx(3.0)
    adam = fit_adam(lambda m: jnp.sum(_residuals(m) ** 2), free, model, steps=3, progress=False)
    assert adam.result == RESULTS.successful and adam.message == "3 Adam steps" and adam.steps == 3

    from organtwin.calibrate._fit import AbstractLoss

    class Loss(AbstractLoss):  # the report needs a loss with residuals and noise
        noise_sd: float = 1.0

        def residuals(self, p):
            return p

        def whitened(self, p):
            return p

        def observables(self, p):
            return None

    term = Term("toy", Loss(), _residuals)
    rep = fit_report(res, free, model, [term])
    assert rep.to_dict()["fit"]["result"] == "successful"


def test_a_fit_that_uses_its_step_budget_returns_max_steps_reached_also_with_throw():
    model, free = _problem()
    slow = optx.GaussNewton(rtol=1e-30, atol=1e-30)  # never meets its tolerance
    res = fit_least_squares(_residuals, free, model, solver=slow, max_steps=2, progress=False, stationary_rtol=0.0)
    assert res.result == RESULTS.max_steps_reached and result_name(res.result) == "max_steps_reached"
    assert "stopped at max_steps after 2 steps" in res.message


def _nan_loss(m):
    return jnp.sum(_residuals(m) ** 2) + jnp.where(m.a > 0.05, jnp.nan, 0.0)


def test_a_loss_that_becomes_non_finite_is_diverged_raised_in_one_line_or_returned():
    model, free = _problem()
    with pytest.raises(SOLVER_FAILURES, match=r"^fit: the loss became nan at step \d+; lower the learning rate") as e:
        fit_adam(_nan_loss, free, model, learning_rate=0.1, steps=20, progress=False)
    assert "\n" not in str(e.value)
    from organtwin.cli._main import _user_error

    assert _user_error(e.value) == str(e.value)  # the CLI's one line: the user's (a solver outcome), not a bug
    res = fit_adam(_nan_loss, free, model, learning_rate=0.1, steps=20, progress=False, throw=False)
    assert res.result == RESULTS.diverged and result_name(res.result) == "diverged"
    assert res.message.startswith("fit: the loss became nan at step") and res.steps < 20
    assert res.history.shape == (res.steps + 1,)


def test_every_start_ending_non_finite_is_diverged():
    model, free = _problem()

    def r(m):
        return _residuals(m) * jnp.where(m.a > 0.5, jnp.nan, 1.0)

    u0 = np.array([[1.0], [2.0]])  # both starts non-finite from the first evaluation
    with pytest.raises(SOLVER_FAILURES, match="every start ended with a non-finite objective"):
        fit_least_squares(r, free, model, u0=u0, max_steps=3, progress=False)
    res = fit_least_squares(r, free, model, u0=u0, max_steps=3, progress=False, throw=False)
    assert res.result == RESULTS.diverged and res.starts_loss.shape == (2,)


def test_a_calibration_eikonal_fails_as_nan_in_its_program_and_raises_with_concrete_values():
    """The eikonal inside a calibration's compiled program (`io._calibration._activation`): a failed solve gives NaN
    activation times and the program holds no host callback (JAX keeps it in its persistent cache; an in-program
    check is a callback, and such a program was compiled again in every process); with concrete values the same
    failure raises the solver's own one-line message."""
    import jax

    from organtwin import OrgantwinError, ep
    from organtwin.io._calibration import _activation
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((2.0, 1.0, 1.0), 0.5).replace(fibres=None)
    tissue = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))
    model = {"tissue": tissue, "sites": {"corner": ep.EikonalSite((0.0, 0.0, 0.0), radius=0.6)}}
    run = jax.jit(lambda m: _activation(m, False))
    ok = np.asarray(run(model))
    assert np.all(np.isfinite(ok)) and ok.max() > 0
    assert "callback" not in run.lower(model).as_text()
    checked = jax.jit(lambda m: ep.simulate_eikonal(m["tissue"], tuple(m["sites"].values())).activation)
    assert "callback" in checked.lower(model).as_text()  # the in-program check that _activation leaves out
    bad = eqx.tree_at(lambda m: m["tissue"].velocity, model, jnp.full_like(tissue.velocity, jnp.nan))
    assert np.all(np.isnan(np.asarray(run(bad))))
    with pytest.raises(OrgantwinError, match="simulate_eikonal: tissue.velocity must be positive and finite"):
        _activation(bad, False)
