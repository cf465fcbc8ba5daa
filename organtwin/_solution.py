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

import diffrax

__all__ = ["RESULTS", "is_successful"]


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
    ode_failed = "The ODE integrator failed (step size underflow or rejected steps). The network may be stiff or ill-posed."
    eikonal_not_converged = (
        "The eikonal fast-iterative sweeps did not converge within max_iterations. Raise max_iterations or check "
        "the conduction velocities."
    )


def is_successful(result: RESULTS) -> bool:
    """Host-side check: True when ``result`` is ``RESULTS.successful`` (a concrete result only)."""
    return bool(result == RESULTS.successful)

