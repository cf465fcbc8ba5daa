"""Time integration of a compiled 0D model with diffrax, and its periodic steady state.

``Integrator.adaptive()`` (default): Tsit5 with a PID step-size controller — measured fastest at equal accuracy on the
valve-switching closed loop (the implicit methods spend most steps rejecting Newton failures at valve switches);
``Integrator.implicit()``: Kvaerno5 (L-stable ESDIRK) + PID, for stiff networks; ``Integrator.fixed(dt, solver)``: fixed
steps (Kvaerno3 by default, ``diffrax.Tsit5()`` for non-stiff cohorts); ``Integrator.implicit_euler(dt)``: fixed
steps of implicit Euler with Newton. Where `spectral_radius` at the start says the network is stiff, `run_svzerod`'s
default is fixed-step Kvaerno3 at a tenth of the output step with Newton to rtol 1e-9 / atol 1e-4, then implicit Euler
where that Newton fails, then adaptive Kvaerno5; explicit Tsit5 that fails (stiffness after the start) goes down the
same chain (`._svzerod_json.default_svzerod_integrator`, `._svzerod_json._fallbacks`). Time is in seconds.

Stiff networks (issue 25 item 3, measured): a capacitor of 1e-12 behind resistances of 100 (tests/data/zerod/
stiff_rc.json, eigenvalue -1e10/s), an inductor against a closed valve's Rmax (svZeroDSolver's
chamber_elastance_inductor case, -1.4e8/s at the start) or closed valves around a sphere (chamber_sphere, -2e6/s)
hold Tsit5 to steps of ~3.5/ρ. The adaptive implicit methods do not rescue them: Kvaerno5 and Kvaerno3 with a PID
controller stop at the step limit on stiff_rc within microseconds, with diffrax's chord iteration or a full Newton
alike, because the rates there carry the round-off of flows divided by a tiny compliance (eps |Q| / C ~ 1e-3 per s)
and their embedded error estimates, h times that, exceed any useful tolerance; a Newton that must also bring the
residual below an absolute 1e-8 cannot meet it either. Implicit Euler at a fixed step has no error estimate to
defeat and damps the stiff modes (L-stable); with Newton to rtol 1e-9 / atol 1e-4 (``cauchy_termination=False``
instead stops as "diverged" on round-off-sized updates at a valve switch) it runs stiff_rc (agreeing with svzerod
converged, at 1001 points, to 6e-16) and chamber_elastance_inductor (1.1 % relative L2 from svzerod at 10x its
points on the worst series, the valve's flow; the peer's own expected results at its 101 points are 7.7 % from it).
Kvaerno3 at a fixed step stops as "diverged" on stiff_rc. Where implicit Euler's Newton fails (the decomposed
closed-loop heart's steepness-1e4 valves: its step limit at 0.44 s) `run_svzerod` runs once more with
``Integrator.implicit()`` (Kvaerno5), which runs that case (through ``organtwin flow zerod``: median 0.48 %, worst
1.1 % relative L2 from the peer's expected results, but for sys_Rd's outlet pressure, 19 %, where the peer's own
start rings 0, 7.0, 3.5, 5.2 about 4.7); chamber_sphere stops with both (a non-finite Newton iterate at 2e-4 s with
implicit Euler). Non-stiff networks keep Tsit5: their cost changes by one compiled Jacobian and one eigensolve at the
start (tests/data/zerod's bifurcation, coronary, closed_loop_heart: run_svzerod no slower within this machine's noise).

Outcomes: every solve runs diffrax with ``throw=False`` and promotes its outcome into `organtwin.RESULTS`; each
solution carries ``result`` (and ``failed_time``, where the integration stopped, NaN on success). The entry functions
(`simulate_zerod`, `simulate_cohort`; `periodic_steady_state` in `._steady`) take ``throw: bool = True`` and end with
``result.error_if(...)``: one code path, eager and under ``jax.jit``. ``throw=False`` returns the solution for the caller
to inspect (``sol.result == RESULTS.successful``). Host-level runners that return NumPy results (`simulate_circulation`,
`run_svzerod`) solve with ``throw=False`` and turn a failed ``result`` into a one-line `NetworkError` with
`check_result`, naming the time and the failure from the ``RESULTS`` member (no error text is parsed).
"""

from __future__ import annotations

from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from ..._errors import NetworkError
from ..._solution import RESULTS
from ._kept import call_kept
from ._model import ZeroDModel

__all__ = [
    "Cohort",
    "CohortSolution",
    "Integrator",
    "ZeroDSolution",
    "check_result",
    "default_integrator",
    "failed_state",
    "simulate_cohort",
    "simulate_zerod",
    "spectral_radius",
]


class Integrator(eqx.Module):
    """How to integrate (final): a diffrax solver, a step-size controller and the first step dt0 (s)."""

    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    dt0: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=200_000)

    @classmethod
    def adaptive(cls, rtol: float = 1e-7, atol: float = 1e-8, solver=None, dt0: float = 1e-4) -> "Integrator":
        """Tsit5 (explicit, 5th order) with a PID controller: the fastest accurate choice for the valve-switching
        circulation here (262 steps per beat for Regazzoni 2022 at rtol 1e-6; benchmarks/RESULTS.md)."""
        return cls(solver or diffrax.Tsit5(), diffrax.PIDController(rtol=rtol, atol=atol), dt0)

    @classmethod
    def implicit(cls, rtol: float = 1e-7, atol: float = 1e-8, dt0: float = 1e-4) -> "Integrator":
        """Kvaerno5 (L-stable ESDIRK) with a PID controller, for stiff networks (tiny compliances behind valves)."""
        return cls(diffrax.Kvaerno5(), diffrax.PIDController(rtol=rtol, atol=atol), dt0)

    @classmethod
    def fixed(cls, dt: float, solver=None, *, newton_tol: float = 1e-9) -> "Integrator":
        """Fixed steps of ``dt`` s; the default Kvaerno3 (L-stable ESDIRK) solves its stages by Newton's method to
        ``newton_tol`` (a fresh Jacobian every iteration: a chord iteration with a frozen one diverges where a valve
        switches between Rmin and Rmax within a step).

        At svZeroDSolver's step (period / (points - 1)) the explicit ``diffrax.Midpoint()`` (two right-hand sides per
        step) was the cheapest solver about as accurate as svZeroDSolver itself on its closed-loop and RCR
        configurations; ``diffrax.Bosh3()`` is ten times more accurate for 1.4 times the cost (benchmarks/RESULTS.md,
        "0D circulation")."""
        if not dt > 0:
            raise NetworkError(f"fixed time step must be > 0 s (got {dt})")
        if solver is None:
            solver = diffrax.Kvaerno3(root_finder=optx.Newton(rtol=newton_tol, atol=newton_tol, norm=optx.max_norm))
        return cls(solver, diffrax.ConstantStepSize(), float(dt))

    @classmethod
    def implicit_euler(cls, dt: float, *, newton_rtol: float = 1e-9, newton_atol: float = 1e-4) -> "Integrator":
        """Fixed steps of ``dt`` s of implicit Euler (L-stable, first order), each solved by Newton's method (a fresh
        Jacobian every iteration) to ``newton_rtol`` on the update and ``newton_atol`` on it and on the residual: the
        residual of a stiff network holds the round-off of its largest flows divided by tiny compliances (~1e-5 on
        stiff_rc.json at a 0.01 s step), which 1e-8 cannot meet. No error estimate, which round-off of the same size
        defeats in the embedded estimates of Kvaerno3/5. `run_svzerod`'s default for stiff networks
        (`._svzerod_json.default_svzerod_integrator`)."""
        if not dt > 0:
            raise NetworkError(f"fixed time step must be > 0 s (got {dt})")
        newton = optx.Newton(rtol=newton_rtol, atol=newton_atol, norm=optx.max_norm)
        return cls(diffrax.ImplicitEuler(root_finder=newton), diffrax.ConstantStepSize(), float(dt))


def spectral_radius(model: ZeroDModel, t: float, y, *, kept: Path | None = None) -> float:
    """Host side: the largest |eigenvalue| (1/s) of the right-hand side's Jacobian ∂f/∂y at (``t``, ``y``), by forward
    mode and a dense eigensolve (0D networks have tens of states). An explicit method's stable step is about
    3.5 / this (Tsit5). ``kept``: a folder where the traced Jacobian is kept for later runs (`._kept.call_kept`)."""
    y = jnp.asarray(y)
    if y.size == 0:
        return 0.0
    jac = np.asarray(call_kept(_jacobian, (model, jnp.asarray(t, y.dtype), y), kept, "zerod_jacobian"), float)
    if not np.all(np.isfinite(jac)):
        return 0.0  # (the solve will say what is not finite)
    return float(np.max(np.abs(np.linalg.eigvals(jac))))


@eqx.filter_jit
def _jacobian(model: ZeroDModel, t, y):
    """∂rhs/∂y at (t, y), compiled once (eagerly, each of its operations would compile on its own)."""
    return jax.jacfwd(lambda x: model.rhs(t, x))(y)


def default_integrator(dtype) -> Integrator:
    """The integrator used when none is given: adaptive Tsit5 at rtol 1e-7 / atol 1e-8 for float64 states, rtol 1e-5
    / atol 1e-5 for float32 ones (a float32 solve cannot meet float64 tolerances: its step size would collapse)."""
    if jnp.dtype(dtype) == jnp.float64:
        return Integrator.adaptive()
    return Integrator.adaptive(rtol=1e-5, atol=1e-5)


def failure_message(result: RESULTS, what: str, failed_time=None, state: str = "") -> str:
    """One line for a failed ``result`` (a concrete `RESULTS` member) of the solve ``what``: what failed, when
    (``failed_time``, s, where known), in which state (``state``, a phrase, where known: `failed_state`) and what to
    check, e.g. "circulation: the ODE solver failed at t = 1.23 s (the maximum number of solver steps was reached);
    check the parameters (...)". The text is the member's own message."""
    text = RESULTS[result]
    cause = ". ".join(c for c in text.split(". ") if not c.startswith("Try ")).rstrip(". ") or "failed"
    cause = cause[:1].lower() + cause[1:]
    when = ""
    if failed_time is not None and np.isfinite(float(failed_time)):
        when = f" at t = {float(failed_time):.6g} s"
    there = f", {state}" if state else ""
    return (
        f"{what}: the ODE solver failed{when} ({cause}){there}; check the parameters (a zero or negative compliance, "
        "resistance or elastance)"
    )


def check_result(result: RESULTS, what: str, failed_time=None, state: str = "") -> None:
    """Host side, for runners that return NumPy results: raise a one-line `NetworkError` (`failure_message`) when the
    concrete ``result`` is not ``RESULTS.successful``."""
    if result != RESULTS.successful:
        raise NetworkError(failure_message(result, what, failed_time, state))


def failed_state(model: ZeroDModel, t, y) -> str:
    """Host side: a phrase naming the state where an integration stopped that changed fastest there, relative to its
    size (the stiff or runaway one), e.g. "where Q:ventricle.L = 0.52 changed at -3.1e+06 per s"."""
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)) or y.size == 0:
        bad = [n for n, v in zip(model.state_names, y) if not np.isfinite(v)]
        return f"where {', '.join(bad[:3])} {'is' if len(bad) == 1 else 'are'} not finite" if bad else ""
    rate = np.asarray(model.rhs(jnp.asarray(t, jnp.asarray(y).dtype), jnp.asarray(y)), float)
    scale = np.maximum(np.abs(y), 1e-3 * max(float(np.max(np.abs(y))), 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        i = int(np.nanargmax(np.where(np.isfinite(rate), np.abs(rate) / scale, np.inf)))
    return f"where {model.state_names[i]} = {y[i]:.4g} changed at {rate[i]:.3g} per s"


def _finish(sol, throw: bool):
    """``sol`` unchanged, or (``throw``) with ``sol.result.error_if`` attached: raises eagerly and under jit alike."""
    if throw:
        sol = sol.result.error_if(sol, sol.result != RESULTS.successful)
    return sol


def _SAVE(ts):
    """Save at ``ts``, and at the end: where a failed integration stopped is saved there (the unreached ``ts`` hold
    inf)."""
    return diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=ts), diffrax.SubSaveAt(t1=True)])


def saved(sol: diffrax.Solution):
    """(ts, ys) of a diffrax solution that saved (never None here)."""
    ts, ys = sol.ts, sol.ys
    assert ts is not None and ys is not None
    return ts, ys


def _vector_field(t, y, model):
    return model.rhs(t, y)


def _solve(model: ZeroDModel, t0, t1, y0, integ: Integrator, saveat, adjoint=None):
    """One diffrax solve; ``adjoint`` None is diffrax's default (`diffrax.RecursiveCheckpointAdjoint`, reverse mode
    only); `diffrax.ForwardMode()` for ``jax.jvp``/``jacfwd`` through the solve."""
    extra = {} if adjoint is None else {"adjoint": adjoint}
    return diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field),
        integ.solver,
        t0,
        t1,
        integ.dt0,
        y0,
        args=model,
        stepsize_controller=integ.controller,
        saveat=saveat,
        max_steps=integ.max_steps,
        throw=False,  # the outcome is promoted into RESULTS and checked by the entry function
        **extra,
    )


class ZeroDSolution(eqx.Module):
    """States at the saved times (final); ``observe()`` gives pressures, flows and volumes over time.

    ``result``: how the solve ended (`organtwin.RESULTS`); ``failed_time``: the time (s) the integration stopped at
    when it failed, NaN when it succeeded (states after it are ``inf``)."""

    ts: Float[Array, " times"]
    ys: Float[Array, "times states"]
    model: ZeroDModel
    result: RESULTS
    failed_time: Array
    failed_state: Array | None = None  # the state where a failed integration stopped (the end state otherwise)

    def observe(self) -> dict:
        return jax.vmap(self.model.observe)(self.ts, self.ys)


def simulate_zerod(
    model: ZeroDModel,
    t0: float | Array,
    t1: float | Array,
    y0: Float[Array, " states"],
    *,
    ts: Float[Array, " times"] | None = None,
    integrator: Integrator | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
    throw: bool = True,
) -> ZeroDSolution:
    """Integrate from ``t0`` to ``t1`` (s) from state ``y0``, saving at ``ts`` (default: 201 points). ``adjoint``:
    diffrax's differentiation of the solve (default reverse mode; `diffrax.ForwardMode()` for ``jax.jvp``).
    ``throw``: a failed solve raises (``result.error_if``, eagerly and under jit); ``False``: inspect ``result``."""
    integ = integrator or default_integrator(y0.dtype)
    ts = jnp.linspace(t0, t1, 201, dtype=y0.dtype) if ts is None else jnp.asarray(ts, y0.dtype)
    start, end = jnp.asarray(t0, y0.dtype), jnp.asarray(t1, y0.dtype)  # time in the state's precision
    sol = _solve(model, start, end, y0, integ, _SAVE(ts), adjoint)
    (_, t_end), (ys, y_end) = saved(sol)
    result = RESULTS.promote(sol.result)
    failed = jnp.where(result == RESULTS.successful, jnp.nan, t_end[-1])
    return _finish(ZeroDSolution(ts, ys, model, result, failed, y_end[-1]), throw)


# ---------------------------------------------------------------------------------------------------------- cohorts
class Cohort(eqx.Module):
    """N models of one network structure as one batched model (final): a parameter that differs between the models is
    stacked on a leading axis of length N; one that is the same in all of them (activation timings, valve resistances,
    waveform times, ...) is kept once. ``Cohort.stack(models)`` builds it; `simulate_cohort` integrates all N in one
    compiled program.

    Attributes:
        model: the batched `ZeroDModel` (stacked and shared leaves).
        stacked: per leaf of the model (in ``jax.tree.leaves`` order), whether it is stacked.
        size: N.
    """

    model: ZeroDModel
    stacked: tuple = eqx.field(static=True)
    size: int = eqx.field(static=True)

    @classmethod
    def stack(cls, models) -> "Cohort":
        models = list(models)
        if not models:
            raise NetworkError("cohort: give at least one model")
        first = models[0]
        for i, m in enumerate(models[1:], 1):
            if m.structure != first.structure:
                raise NetworkError(
                    f"cohort: model {i} has another network structure than model 0 (blocks, "
                    "connections and which R, C, L are zero must agree); build it from the same network"
                )

        def one(*xs):
            x0 = np.asarray(xs[0])
            if all(np.shape(x) == x0.shape and np.array_equal(np.asarray(x), x0) for x in xs[1:]):
                return xs[0], False
            return jnp.stack([jnp.asarray(x) for x in xs]), True

        leaves = [jax.tree.leaves(m) for m in models]
        pairs = [one(*xs) for xs in zip(*leaves)]
        treedef = jax.tree.structure(first)
        return cls(jax.tree.unflatten(treedef, [p[0] for p in pairs]), tuple(p[1] for p in pairs), len(models))

    @property
    def in_axes(self):
        """The model's vmap in_axes (0 for stacked leaves, None for shared ones)."""
        return jax.tree.unflatten(jax.tree.structure(self.model), [0 if s else None for s in self.stacked])

    def __getitem__(self, i: int) -> ZeroDModel:
        """Model ``i`` of the cohort."""
        leaves = [x[i] if s else x for x, s in zip(jax.tree.leaves(self.model), self.stacked)]
        return jax.tree.unflatten(jax.tree.structure(self.model), leaves)


class CohortSolution(eqx.Module):
    """States of every model at the saved times (final): ``ys`` is (models, times, states); ``result`` how the one
    (batched) solve ended, ``failed_time`` where it stopped when it failed (NaN otherwise)."""

    ts: Float[Array, " times"]
    ys: Float[Array, "models times states"]
    cohort: Cohort
    result: RESULTS
    failed_time: Array

    def observe(self) -> dict:
        """`ZeroDModel.observe` of every model at every saved time; arrays (models, times, ...)."""
        return jax.vmap(lambda m, ys: jax.vmap(m.observe)(self.ts, ys), in_axes=(self.cohort.in_axes, 0))(
            self.cohort.model, self.ys
        )


def simulate_cohort(
    cohort: Cohort,
    t0: float | Array,
    t1: float | Array,
    y0: Float[Array, "models states"],
    *,
    ts: Float[Array, " times"] | None = None,
    integrator: Integrator | None = None,
    steady_start: bool = False,
    throw: bool = True,
) -> CohortSolution:
    """Integrate every model of ``cohort`` from ``t0`` to ``t1`` (s), from states ``y0`` (models, states), in one solve
    whose right-hand side is vmapped over the models (one compile for any N; on a GPU the N models run in parallel).

    With ``Integrator.fixed`` every model takes the same steps, so each result is the one `simulate_zerod` gives for
    that model alone (to round-off). With an adaptive integrator the steps are chosen for the whole cohort (the error
    norm is taken over all models): each result is at least as accurate as asked. ``steady_start``: first replace each
    ``y0`` by its model's steady state (`ZeroDModel.steady_state`, svZeroDSolver's ``steady_initial``). Vmapping the
    right-hand side, rather than the whole solve, keeps diffrax's per-step bookkeeping on (stages, models, states)
    arrays: 1.1-1.5x the throughput of ``jax.vmap(simulate_zerod)``, and shared parameters another 1.4-2x
    (benchmarks/RESULTS.md, "0D circulation"). ``throw``: as `simulate_zerod`."""
    y0 = jnp.asarray(y0)
    integ = integrator or default_integrator(y0.dtype)
    if y0.ndim != 2 or y0.shape[0] != cohort.size:
        raise NetworkError(
            f"simulate_cohort: y0 must be (models, states) = ({cohort.size}, "
            f"{cohort.model.structure.n_state}); got {tuple(y0.shape)}"
        )
    axes = cohort.in_axes
    if steady_start:
        y0 = jax.vmap(lambda m, y: m.steady_state(y), in_axes=(axes, 0))(cohort.model, y0)
    ts = jnp.linspace(t0, t1, 201, dtype=y0.dtype) if ts is None else jnp.asarray(ts, y0.dtype)
    rhs = jax.vmap(lambda m, t, y: m.rhs(t, y), in_axes=(axes, None, 0))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, m: rhs(m, t, y)),
        integ.solver,
        t0,
        t1,
        integ.dt0,
        y0,
        args=cohort.model,
        stepsize_controller=integ.controller,
        saveat=_SAVE(ts),
        max_steps=integ.max_steps,
        throw=False,
    )
    (_, t_end), (ys, _) = saved(sol)
    result = RESULTS.promote(sol.result)
    failed = jnp.where(result == RESULTS.successful, jnp.nan, t_end[-1])
    return _finish(CohortSolution(ts, jnp.swapaxes(ys, 0, 1), cohort, result, failed), throw)
