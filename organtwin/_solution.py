"""Solver outcomes: one enumeration of how a solve ended, carried by every solution object.

Built on diffrax's ``RESULTS`` (itself built on optimistix's and lineax's), so an outcome from a diffrax or optimistix
solve inside an organtwin solver is promoted without translation (``RESULTS.promote(diffrax_result)``). Every entry
function takes ``throw: bool = True`` and ends with ``solution.result.error_if(...)``-style checking through
``raise_if_failed``: one code path, eager and under ``jax.jit`` (equinox's ``error_if`` raises an ``EquinoxRuntimeError``
under jit and a Python error eagerly; the CLI prints either on one line).

Where the failing time and place are known (a NaN in the monodomain at t = 12.3 ms, node 412), the solution carries
them as array fields beside ``result`` (``failed_time``, ``failed_index``) so the message can be completed on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import diffrax
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.core
from jaxtyping import PyTree

__all__ = ["RESULTS", "SOLVER_FAILURES", "is_successful", "raise_if_failed", "result_name"]

#: The exceptions a failed solver outcome is raised as: `raise_if_failed` eagerly (EquinoxTracetimeError) and
#: ``error_if`` under jit (EquinoxRuntimeError). Both are RuntimeErrors; any other RuntimeError is not an outcome.
SOLVER_FAILURES = (eqx.EquinoxRuntimeError, eqx.EquinoxTracetimeError)


class RESULTS(diffrax.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """How an organtwin solve ended. ``RESULTS.successful`` or one of the failures below (and diffrax's, optimistix's
    and lineax's own, e.g. ``max_steps_reached``, ``nonlinear_max_steps_reached``, ``singular``)."""

    successful = ""
    cg_not_converged = (
        "The conjugate-gradient solve of the diffusion step did not converge. Reduce dt, refine the mesh, or raise "
        "the solver's max_steps / loosen its tolerance."
    )
    diverged = (
        "The solution became NaN or infinite. Reduce the time step, the stimulus strength or the conductivities "
        "(the failing time and place are given where known)."
    )
    max_cycles_reached = (
        "The periodic steady state was not reached within the allowed number of cardiac cycles. Raise max_cycles "
        "or loosen the cycle-to-cycle tolerance."
    )
    ode_failed = (
        "The ODE integrator failed (step size underflow or rejected steps). The network may be stiff or ill-posed."
    )
    sampling_not_converged = (
        "The posterior sampler's chains did not converge (R-hat above 1.01, too few effective samples, or divergent "
        "transitions). Draw more, or read the credible intervals with care."
    )
    eikonal_invalid_velocity = (
        "A conduction velocity is not positive and finite (m/s). Check the tissue's velocities (inside a fit or a "
        "sampler: the free parameters and their bounds)."
    )
    eikonal_not_converged = (
        "The eikonal fast-iterative sweeps did not converge within max_iterations. Raise max_iterations or check "
        "the conduction velocities."
    )


def is_successful(result: RESULTS) -> bool:
    """Host-side check: True when ``result`` is ``RESULTS.successful`` (a concrete result only)."""
    return bool(result == RESULTS.successful)


def result_name(result: RESULTS) -> str:
    """The outcome's member name (``"successful"``, ``"diverged"``, ...) of a concrete result: what a solution's
    ``to_json`` / summary records as ``"result"``."""
    index = int(result._value)  # pyright: ignore[reportAttributeAccessIssue]
    names = RESULTS._name_to_item  # pyright: ignore[reportAttributeAccessIssue]
    return next(name for name, item in names.items() if int(item._value) == index)


def raise_if_failed(
    x: PyTree,
    result: RESULTS,
    messages: Sequence[tuple[RESULTS, str]] = (),
    describe: Callable[[RESULTS], str] | None = None,
) -> PyTree:
    """``x`` unchanged, after raising if ``result`` is not ``RESULTS.successful``: ``result.error_if(x, failed)`` in the
    solver's own words. One code path, eager and under ``jax.jit`` (equinox's ``branched_error_if``).

    Args:
        x: the pytree the check is threaded on (return it and use the returned value, or under jit the check is dead
            code).
        result: the solve's outcome.
        messages: ``(outcome, text)`` pairs: the solver's wording of some outcomes (the others keep RESULTS' own).
        describe: ``describe(result)``, the complete one-line message of a failure known now (an eager run, whose
            solution has values: the time, node and coordinates can be named); not called under jit.

    Raises:
        equinox.EquinoxTracetimeError (a RuntimeError): the outcome is known now (eager) and is a failure.
        equinox.EquinoxRuntimeError: under ``eqx.filter_jit``, when the computation runs (``jax.jit``: an XLA
            runtime error carrying the same message).
    """
    texts = list(RESULTS._index_to_message)  # pyright: ignore[reportAttributeAccessIssue]
    for member, text in messages:
        texts[member._value] = text
    failed = result != RESULTS.successful
    if not isinstance(failed, jax.core.Tracer):  # known now: raised now, as equinox does for a static predicate
        if bool(failed):
            raise eqx.EquinoxTracetimeError(texts[int(result._value)] if describe is None else describe(result))
        return x
    return eqxi.branched_error_if(x, failed, result._value, texts)
