"""`simulate_monodomain`: the monodomain equation on P1 tets, operator splitting, time loop in jit, constant memory.

Time loop: ``lax.scan`` over time steps inside jit, in chunks of ``chunk_steps`` steps (default 200). Called eagerly,
every chunk is one call of a compiled chunk function, and a ``progress`` callback runs between chunks; the compiled chunk
depends only on the mesh, the options and the chunk length (dt, t1, parameters and stimuli are traced values), so runs
of any duration reuse it. Inside ``jax.jit`` or autodiff the chunks are a second ``lax.scan``.
The carry holds V, the ionic states and the running activation / repolarisation arrays, nothing per step, so memory
does not grow with the number of steps; probe traces (a few points) are the only per-step output.

Gradients: every parameter of the `Tissue` (conductivities per region or per cell, chi, Cm, ionic-model parameters) and
of the stimuli is a pytree leaf, and the whole run is differentiable (``jax.grad`` / ``eqx.filter_grad`` of a loss on
``result.activation`` or ``result.probes``). Checkpointing (`Checkpointing`, default ``CHUNKS_AND_STEPS``): each chunk
is wrapped in ``jax.checkpoint``, and so is each step inside it. The backward pass stores one carry per chunk; it
recomputes one chunk at a time, keeping one carry per step of it, and each step's intermediates only while that step is
differentiated. Memory: ``(n_steps / chunk_steps + chunk_steps)`` carries plus one step's intermediates, instead of
``n_steps`` steps' intermediates (``chunk_steps ≈ sqrt(n_steps)`` minimises it); the price is two extra forward
evaluations of every step. See benchmarks/backward_memory.py for measurements.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._compile import HOT_LOOP_OPTIONS
from .._errors import InputError
from .._solution import RESULTS, raise_if_failed
from ..ionic import VoltageLookup, gate_table, reaction_step
from ._activation import Record, crossing_update
from ._outputs import MonodomainResult, MonodomainState, _locate, check_inside
from ._splitting import (
    AbstractDiffusion,
    ExplicitLumped,
    Splitting,
    _ExplicitOps,
    explicit_stability_limit,
    host_stability_limit,
)
from ._stimulus import Stimulus, stimulus_current, stimulus_masks
from ._tissue import Tissue

__all__ = ["simulate_monodomain", "initial_state", "Checkpointing"]


class Checkpointing(enum.Enum):
    """What the backward pass of `simulate_monodomain` stores (see its ``checkpoint`` argument)."""

    NONE = "none"
    CHUNKS = "chunks"
    CHUNKS_AND_STEPS = "chunks_and_steps"


class _Problem(eqx.Module):
    """Everything the step needs (arrays are leaves, configuration is static)."""

    ops: eqx.Module
    models: tuple
    model_nodes: tuple
    tables: tuple  # per model: GateTable for the reaction step's dt, or None
    stimuli: tuple
    masks: jax.Array
    amplitudes: jax.Array
    probe_nodes: jax.Array | None
    probe_weights: jax.Array | None
    snap_steps: jax.Array | None
    t0: jax.Array
    n_total: jax.Array
    dt: jax.Array
    splitting: Splitting = eqx.field(static=True)
    diffusion: AbstractDiffusion = eqx.field(static=True)
    record: Record = eqx.field(static=True)


class _Carry(eqx.Module):
    step: jax.Array
    V: jax.Array
    states: tuple
    act: jax.Array | None
    rep: jax.Array | None
    count: jax.Array | None
    last: jax.Array | None
    snaps: jax.Array | None
    cg_iters: jax.Array
    cg_failed_step: jax.Array  # the first step whose CG did not converge (-1: none)
    dV_prev: jax.Array | None  # the last diffusion increment (iterative diffusion: predicts the next one)
    bad_step: jax.Array  # the first step after which Vm was non-finite somewhere (-1: none), and the first such node
    bad_node: jax.Array


def initial_state(tissue: Tissue, *, t0: float = 0.0, dtype=None) -> MonodomainState:
    """The resting state of every node: each model group's ``initial_state``."""
    dtype = tissue.dtype if dtype is None else jnp.dtype(dtype)
    return _initial_state(tissue, jnp.asarray(t0, dtype), dtype=dtype)


@eqx.filter_jit
def _initial_state(tissue: Tissue, t0, *, dtype) -> MonodomainState:
    V = jnp.zeros(tissue.n_nodes, dtype)
    states = []
    for model, nodes in zip(tissue.models, tissue.model_nodes):
        V0, s0 = model.initial_state((int(nodes.shape[0]),), dtype)
        V = V.at[nodes].set(V0) if len(tissue.models) > 1 else V0
        states.append(s0)
    return MonodomainState(t0, V, tuple(states))


# ================================================================================================== the step
def _react(p: _Problem, V, states, dt, istim):
    if len(p.models) == 1:
        V, s = reaction_step(p.models[0], V, states[0], dt, istim, p.tables[0])
        return V, (s,)
    V_new = V
    new_states = []
    for model, nodes, s, table in zip(p.models, p.model_nodes, states, p.tables):
        I = istim[nodes] if jnp.ndim(istim) else istim
        Vg, s = reaction_step(model, V[nodes], s, dt, I, table)
        V_new = V_new.at[nodes].set(Vg)
        new_states.append(s)
    return V_new, tuple(new_states)


def _stim(p: _Problem, ta, tb):
    return stimulus_current(p.stimuli, p.masks, p.amplitudes, ta, tb)


def _step(p: _Problem, c: _Carry) -> _Carry:
    dt = p.dt
    dtype = c.V.dtype
    t_a = p.t0 + c.step.astype(dtype) * dt
    V0 = c.V

    def diffuse(V):
        if c.dV_prev is None:
            V_new, iters, failed = p.diffusion.step(p.ops, V)
            return V_new, iters, failed, None
        V_new, iters, failed = p.diffusion.step(p.ops, V, V + c.dV_prev)
        return V_new, iters, failed, jax.lax.stop_gradient(V_new - V)

    if p.splitting is Splitting.GODUNOV:
        V, s = _react(p, V0, c.states, dt, _stim(p, t_a, t_a + dt))
        V, iters, failed, dV = diffuse(V)
    else:
        half = 0.5 * dt
        V, s = _react(p, V0, c.states, half, _stim(p, t_a, t_a + half))
        V, iters, failed, dV = diffuse(V)
        V, s = _react(p, V, s, half, _stim(p, t_a + half, t_a + dt))
    rec = p.record
    act, rep, count, last, snaps = c.act, c.rep, c.count, c.last, c.snaps
    # each record's carry is None exactly when the record is off (`_setup`)
    if act is not None:  # rec.activation
        up, t_up = crossing_update(V0, V, t_a, dt, rec.activation_threshold, upward=True)
        was_active = jnp.isfinite(act)
        act = jnp.where(up & ~was_active, t_up, act)
        if rep is not None:  # rec.repolarisation
            down, t_down = crossing_update(V0, V, t_a, dt, rec.repolarisation_threshold, upward=False)
            rep = jnp.where(down & was_active & jnp.isinf(rep), t_down, rep)
        if count is not None and last is not None:  # rec.beats
            count = count + up.astype(count.dtype)
            last = jnp.where(up, t_up, last)
    if snaps is not None:
        hit = p.snap_steps == c.step + 1
        snaps = jax.lax.cond(jnp.any(hit), lambda b: b.at[jnp.argmax(hit)].set(V), lambda b: b, snaps)
    nonfinite = ~jnp.isfinite(V)
    first = (c.bad_step < 0) & jnp.any(nonfinite)
    bad_step = jnp.where(first, c.step, c.bad_step)
    bad_node = jnp.where(first, jnp.argmax(nonfinite).astype(jnp.int32), c.bad_node)
    cg_failed_step = jnp.where((c.cg_failed_step < 0) & failed, c.step, c.cg_failed_step)
    return _Carry(
        c.step + 1, V, s, act, rep, count, last, snaps, c.cg_iters + iters, cg_failed_step, dV, bad_step, bad_node
    )


def _guarded_step(p: _Problem, c: _Carry) -> _Carry:
    # Steps past the end of the run (the tail of the last chunk) leave the carry unchanged. A select on a scalar
    # predicate rather than lax.cond: under autodiff a cond turns every residual of the step, loop-invariant operators
    # included, into a per-step output that the scan must stack; the select keeps them hoisted out of the loop.
    active = c.step < p.n_total
    new = _step(p, c)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, c)


def _probe_values(p: _Problem, V):
    return jnp.sum(V[p.probe_nodes] * p.probe_weights, axis=1)


def _advance_impl(
    p: _Problem, carry: _Carry, n_chunks: int, chunk_blocks: int, every: int, checkpoint: Checkpointing, guard: bool
):
    """``n_chunks`` chunks of ``chunk_blocks * every`` steps; probe samples after every block of ``every`` steps.

    ``guard``: the chunks overshoot the run, so steps past its end must be no-ops (only then is the select paid)."""
    step = _guarded_step if guard else _step
    if checkpoint is Checkpointing.CHUNKS_AND_STEPS:
        step = jax.checkpoint(step, prevent_cse=False)

    def block(c, _):
        if every == 1:  # no inner loop (one loop level less to compile, forward and backward)
            c = step(p, c)
        else:
            c, _ = jax.lax.scan(lambda c, _: (step(p, c), None), c, None, length=every)
        return c, (None if p.probe_nodes is None else _probe_values(p, c.V))

    def chunk(c, _):
        return jax.lax.scan(block, c, None, length=chunk_blocks)

    if checkpoint is not Checkpointing.NONE:
        chunk = jax.checkpoint(chunk, prevent_cse=False)
    carry, ys = jax.lax.scan(chunk, carry, None, length=n_chunks)
    if ys is not None:
        ys = ys.reshape(-1, ys.shape[-1])
    return carry, ys


_advance = eqx.filter_jit(_advance_impl)
# a top-level call (the plain eager run) may carry compiler options; a nested jit may not (JAX refuses them there)
# (equinox passes extra keywords on to jax.jit; its overloads do not declare them)
_advance_top = eqx.filter_jit(_advance_impl, compiler_options=HOT_LOOP_OPTIONS)  # pyright: ignore[reportCallIssue]


# ================================================================================================== preparation
_DEFAULT_CHUNK = 200


def _default_chunk(n_steps: int, every: int) -> int:
    """200 steps (rounded up to a multiple of ``every``), or the whole run if shorter.

    A fixed length lets runs of any duration share one compiled chunk. Under autodiff the backward pass holds
    ``n_steps / 200 + 200`` carries (default checkpointing), within a factor ~2 of the two-level optimum
    ``2 sqrt(n_steps)`` for 10k to 100k steps (pass ``chunk_steps ≈ sqrt(n_steps)`` to minimise it for other lengths).
    """
    c = max(every, math.ceil(_DEFAULT_CHUNK / every) * every)
    return min(c, math.ceil(n_steps / every) * every)


def _has_tracers(tree) -> bool:
    """Whether any leaf is traced (inside jit, vmap or autodiff): the inputs then have no values to check on the host,
    and the time loop is one scan."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


@eqx.filter_jit
def _setup(
    tissue: Tissue,
    stimuli,
    initial: MonodomainState,
    probes,
    snap_steps,
    n_total,
    dt,
    *,
    splitting: Splitting,
    diffusion: AbstractDiffusion,
    record: Record,
    jax_limit: bool,
    lookup: VoltageLookup | None,
):
    """Everything computed once per run, in one compiled call (dt is traced: one compilation per mesh and options).

    Returns the problem, the initial carry, whether each stimulus selects a node, the probes' smallest barycentric
    coordinates (for the host checks) and the JAX estimate of the explicit stability limit (or None).
    """
    dtype = tissue.dtype
    ops = diffusion.operators(tissue, dt)
    limit = explicit_stability_limit(tissue) if jax_limit else None
    masks = jax.lax.stop_gradient(stimulus_masks(stimuli, tissue.points, tissue.surfaces, tissue.node_sets, dtype))
    amplitudes = (
        jnp.stack([jnp.asarray(s.amplitude(tissue.chi, tissue.Cm), dtype) for s in stimuli])
        if stimuli
        else jnp.zeros((0,), dtype)
    )
    probe_nodes = probe_weights = worst = None
    if probes is not None:
        probe_nodes, probe_weights, worst = _locate(tissue.points, tissue.geometry, probes)
    dt_react = dt if splitting is Splitting.GODUNOV else 0.5 * dt
    tables = tuple(None if lookup is None else gate_table(m, dt_react, lookup, dtype) for m in tissue.models)
    problem = _Problem(
        ops=ops,
        models=tissue.models,
        model_nodes=tissue.model_nodes,
        tables=tables,
        stimuli=stimuli,
        masks=masks,
        amplitudes=amplitudes,
        probe_nodes=probe_nodes,
        probe_weights=probe_weights,
        snap_steps=snap_steps,
        t0=jnp.asarray(initial.t, dtype),
        n_total=n_total,
        dt=dt,
        splitting=splitting,
        diffusion=diffusion,
        record=record,
    )
    n = tissue.n_nodes
    V0 = jnp.asarray(initial.V, dtype)
    inf = jnp.full(n, jnp.inf, dtype)
    snaps = None
    if snap_steps is not None:
        snaps = jnp.where((snap_steps == 0)[:, None], V0[None, :], jnp.zeros((snap_steps.shape[0], n), dtype))
    carry = _Carry(
        step=jnp.zeros((), jnp.int32),
        V=V0,
        states=tuple(jnp.asarray(x, dtype) for x in initial.states),
        act=inf if record.activation else None,
        rep=inf if record.repolarisation else None,
        count=jnp.zeros(n, jnp.int32) if record.beats else None,
        last=inf if record.beats else None,
        snaps=snaps,
        cg_iters=jnp.zeros((), jnp.int32),
        cg_failed_step=jnp.full((), -1, jnp.int32),
        dV_prev=(
            None
            if not diffusion.uses_guess
            else jnp.zeros(n, dtype)
            if initial.diffusion_increment is None
            else jnp.asarray(initial.diffusion_increment, dtype)
        ),
        bad_step=jnp.full((), -1, jnp.int32),
        bad_node=jnp.full((), -1, jnp.int32),
    )
    selects = jnp.any(masks > 0, axis=1)
    first_probe = None if probes is None else _probe_values(problem, V0)[None]
    return problem, carry, selects, worst, limit, first_probe


@eqx.filter_jit
def _finish(problem: _Problem, carry: _Carry, traces, snap_index, *, n_steps: int, every: int) -> dict[str, Any]:
    """The fields of the `MonodomainResult` (all but n_steps and dt), the outcome among them."""
    dtype = carry.V.dtype
    record = problem.record
    probe_times = probes = None
    if record.probes is not None:
        n_samples = n_steps // every
        probes = jnp.concatenate(traces, axis=0)[: n_samples + 1]  # the t0 sample, then one per block
        probe_times = problem.t0 + problem.dt * every * jnp.arange(n_samples + 1, dtype=dtype)
    snapshot_times = snapshots = None
    if problem.snap_steps is not None and carry.snaps is not None:  # both or neither
        snapshots = carry.snaps[snap_index]
        snapshot_times = problem.t0 + problem.dt * problem.snap_steps[snap_index].astype(dtype)
    apd = None
    if carry.rep is not None and carry.act is not None:  # record.repolarisation (it needs the activation)
        ok = jnp.isfinite(carry.rep)
        apd = jnp.where(ok, carry.rep - jnp.where(ok, carry.act, 0.0), jnp.inf)
    final = MonodomainState(problem.t0 + n_steps * problem.dt, carry.V, carry.states, carry.dV_prev)
    # the outcome: a divergence first (a NaN also stops the CG, and the divergence is the cause), then the CG
    diverged, cg_failed = carry.bad_step >= 0, carry.cg_failed_step >= 0
    result = RESULTS.where(
        diverged, RESULTS.diverged, RESULTS.where(cg_failed, RESULTS.cg_not_converged, RESULTS.successful)
    )
    failed_step = jnp.where(diverged, carry.bad_step, carry.cg_failed_step)
    failed_time = jnp.where(
        diverged | cg_failed, problem.t0 + (failed_step + 1).astype(dtype) * problem.dt, jnp.asarray(jnp.nan, dtype)
    )
    outputs = dict(
        activation=carry.act,
        repolarisation=carry.rep,
        apd=apd,
        activation_count=carry.count,
        last_activation=carry.last,
        snapshot_times=snapshot_times,
        snapshots=snapshots,
        probe_times=probe_times,
        probes=probes,
        final=final,
        cg_iterations=carry.cg_iters,
        result=result,
        failed_time=failed_time,
        failed_index=jnp.where(diverged, carry.bad_node, -1),
    )
    return outputs


def simulate_monodomain(
    tissue: Tissue,
    stimuli: Sequence[Stimulus],
    t1: float,
    dt: float,
    *,
    splitting: Splitting = Splitting.GODUNOV,
    diffusion: AbstractDiffusion = ExplicitLumped(),
    record: Record = Record(),
    initial: MonodomainState | None = None,
    chunk_steps: int | None = None,
    checkpoint: Checkpointing | bool = Checkpointing.CHUNKS_AND_STEPS,
    lookup: VoltageLookup | None = VoltageLookup(),
    progress: Callable[[int, int], None] | None = None,
    dtype=None,
    throw: bool = True,
    check_front: bool = True,
) -> MonodomainResult:
    """Simulate the monodomain equation from ``initial.t`` (default 0 ms, resting state) to ``t1`` ms with step ``dt`` ms.

    Args:
        tissue: the `Tissue` (geometry, conductivities, ionic models).
        stimuli: `Stimulus` objects (may be empty when ``initial`` already holds an excitation).
        t1: end time, ms. The run takes ``ceil((t1 - t0) / dt)`` steps (so it reaches at least t1).
        dt: time step, ms.
        splitting: `Splitting.GODUNOV` (default) or `Splitting.STRANG`.
        diffusion: `ExplicitLumped()` (default; dt must be below the mesh's explicit stability limit, checked before
            running) or `ThetaScheme(theta=0.5, ...)`.
        record: what to record (`Record`): activation / repolarisation / APD per node, snapshots, probe traces.
        initial: start from this `MonodomainState` (e.g. ``result.final`` of an earlier run) instead of rest.
        chunk_steps: steps per chunk of the time loop (default 200, rounded up to a multiple of
            ``record.probe_every``): the granularity of ``progress`` and of the backward-pass checkpoints (memory of
            reverse mode ~ n_steps / chunk_steps carries + chunk_steps steps' residuals; ~sqrt(n_steps) minimises it).
        checkpoint: what reverse-mode autodiff stores (`Checkpointing`; only matters under autodiff):
            ``CHUNKS_AND_STEPS`` (default): one carry per chunk, and while a chunk is recomputed one carry per step of it
            plus one step's intermediates; ``CHUNKS`` (or True): one carry per chunk and all intermediates of the chunk
            being recomputed (one forward recomputation less, but models with many intermediates hold hundreds of arrays
            per step: ten Tusscher ~330); ``NONE`` (or False): every step's intermediates (memory grows with n_steps).
        lookup: the Rush–Larsen lookup table of the voltage-only gates (`VoltageLookup`: V range and spacing), built
            once per run from the model's parameters, as openCARP, Chaste and TorchCor do (by default for float64 runs
            only: on a CPU float32 exponentials are cheaper than the table, see `VoltageLookup`); None evaluates every
            gate exactly at every node-step (activation times differ by < 1e-3 ms on the Niederer slab).
        progress: ``progress(steps_done, n_steps)``, called between chunks of plain eager runs (not under ``jax.jit``
            or autodiff, where the chunks are one scan).
        dtype: floating dtype of the run (default: the tissue's); the tissue is cast to it.
        throw: raise when the run failed (``result.result`` is not ``RESULTS.successful``: Vm became non-finite, or
            the theta scheme's CG did not converge); with False, inspect ``result.result`` yourself (and
            ``result.failed_time`` / ``result.failed_index`` for where), e.g. ``result.result == RESULTS.diverged``.
        check_front: warn (eager theta-scheme runs) when the front crosses a mesh edge in under two steps; False for
            trial runs whose speed is not the user's (conductivity tuning).

    Returns:
        A `MonodomainResult`.

    Raises:
        ValueError: dt above the explicit stability limit (one line, naming the limit), dt longer than half an ionic
            model's upstroke (`organtwin.ionic.check_time_step`; longer than a fifth of it warns), bad times, stimuli
            selecting no node, probes outside the mesh.
        EquinoxTracetimeError (a RuntimeError; ``throw``) called eagerly: ``RESULTS.diverged``, Vm became non-finite:
            the time (ms), the first node and its coordinates (mm), the states non-finite there, and the likely cause
            (a stimulus far beyond physiological, the time step, else the parameters); eager runs stop within 10
            chunks of the divergence. ``RESULTS.cg_not_converged``: the theta scheme's CG (max_steps named).
            Under jit: an EquinoxRuntimeError with a fixed message for each outcome (one check, `raise_if_failed`).

    Warns (eager, theta scheme): when the wavefront crosses a mesh edge in under two time steps (measured from the
    activation times): the time step, not the tissue, then sets the activation times.
    """
    if not isinstance(tissue, Tissue):
        raise TypeError(f"simulate_monodomain: tissue must be a Tissue (Tissue.from_mesh), got {type(tissue).__name__}")
    if isinstance(stimuli, Stimulus):
        stimuli = (stimuli,)
    stimuli = tuple(stimuli)
    for s in stimuli:
        if not isinstance(s, Stimulus):
            raise TypeError(f"simulate_monodomain: stimuli must be Stimulus objects, got {type(s).__name__}")
    if not isinstance(splitting, Splitting):
        raise TypeError(
            f"simulate_monodomain: splitting must be Splitting.GODUNOV or Splitting.STRANG, got {splitting!r}"
        )
    if not isinstance(diffusion, AbstractDiffusion):
        raise TypeError(
            f"simulate_monodomain: diffusion must be ExplicitLumped() or ThetaScheme(...), got {diffusion!r}"
        )
    if not isinstance(record, Record):
        raise TypeError(f"simulate_monodomain: record must be a Record, got {type(record).__name__}")
    if isinstance(checkpoint, bool):
        checkpoint = Checkpointing.CHUNKS if checkpoint else Checkpointing.NONE
    if not isinstance(checkpoint, Checkpointing):
        raise TypeError(f"simulate_monodomain: checkpoint must be a Checkpointing member or a bool, got {checkpoint!r}")
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive time step in ms, got {dt}")
    from ..ionic import check_time_step

    for model in tissue.models:  # the reaction step must sample each model's upstroke (refused / warned)
        check_time_step(model, dt, where="dt")
    dtype = tissue.dtype if dtype is None else jnp.dtype(dtype)
    if tissue.dtype != dtype:
        tissue = tissue.astype(dtype)
    if initial is None:
        initial = initial_state(tissue, dtype=dtype)
    # Values given now (an eager call) are checked here, ValueErrors before the run; inside jit, vmap or autodiff they
    # have none, and what can only be known from them is checked through the outcome (`RESULTS`) or eqx.error_if.
    traced = _has_tracers((tissue, stimuli, initial))
    t0f = 0.0 if isinstance(initial.t, jax.core.Tracer) else float(initial.t)
    if not float(t1) > t0f:
        raise InputError(f"t1 ({t1} ms) must be after the start time ({t0f} ms)")
    from .._sizes import count_of

    n_steps = count_of(
        float(t1) - t0f,
        dt,
        what="monodomain:",
        total_name="t1 - t0",
        step_name="dt",
        fix="shorten the run or use a larger dt",
    )
    for s in stimuli:
        if isinstance(s.period, jax.core.Tracer) or isinstance(s.duration, jax.core.Tracer):
            continue
        P, D = float(s.period), float(s.duration)
        if np.isfinite(P) and dt > P - D:
            raise InputError(
                f"dt {_fmt(dt)} ms is longer than the gap between stimulus pulses ({_fmt(float(P - D))} ms)"
            )
    probes = None if record.probes is None else np.asarray(record.probes, dtype=np.float64)
    snap_steps = snap_index = None
    if record.snapshots_at:
        req = np.asarray(record.snapshots_at, float)
        steps_req = np.rint((req - t0f) / dt).astype(np.int64)
        if np.any(steps_req < 0) or np.any(steps_req > n_steps):
            raise InputError(f"snapshot times must lie in [{t0f}, {t0f + n_steps * dt}] ms, got {req.tolist()}")
        uniq, snap_index = np.unique(steps_req, return_inverse=True)
        snap_steps, snap_index = jnp.asarray(uniq, jnp.int32), jnp.asarray(snap_index, jnp.int32)

    # ---- one compiled set-up: operators, stimulus masks, probes, initial carry
    explicit = isinstance(diffusion, ExplicitLumped) and diffusion.check_stability
    problem, carry, selects, worst, jax_limit, first_probe = _setup(
        tissue,
        stimuli,
        initial,
        None if probes is None else jnp.asarray(probes, dtype),
        snap_steps,
        jnp.asarray(n_steps, jnp.int32),
        jnp.asarray(dt, dtype),
        splitting=splitting,
        record=record,
        jax_limit=explicit and traced,
        lookup=lookup,
        # the stability-check flag only matters here, on the host: one compiled step for both settings
        diffusion=ExplicitLumped() if isinstance(diffusion, ExplicitLumped) else diffusion,
    )
    if not traced:
        sel = np.asarray(selects)
        if not np.all(sel):
            k = int(np.flatnonzero(~sel)[0])
            lo, hi = np.asarray(tissue.points).min(0), np.asarray(tissue.points).max(0)
            raise InputError(
                f"stimulus {k} ({stimuli[k].region.describe()}) selects no mesh node; the mesh spans "
                f"{np.round(lo, 3).tolist()}..{np.round(hi, 3).tolist()} mm"
            )
        if worst is not None:
            check_inside(probes, np.asarray(worst))
        amps = np.asarray(problem.amplitudes)
        if amps.size:  # a stimulus far beyond physiological: say so before the run
            from ..ionic import stimulus_advice

            k = int(np.argmax(np.abs(amps)))
            advice = stimulus_advice(float(amps[k]), dt, tissue.models[0])
            if advice is not None:
                import warnings

                from .._errors import MeshWarning

                warnings.warn(f"stimulus {k} ({stimuli[k].region.describe()}): {advice}", MeshWarning, stacklevel=2)
    if explicit and not traced:
        ops = cast(_ExplicitOps, problem.ops)  # ExplicitLumped.operators made them
        lim = host_stability_limit(jax.lax.stop_gradient(tissue), jax.lax.stop_gradient(ops), dt)
        if dt > lim:
            raise InputError(
                f"dt {_fmt(dt)} ms exceeds the explicit stability limit {_fmt(lim)} ms for this mesh; "
                f"use dt <= {_fmt(lim)} or diffusion=ThetaScheme()"
            )
    elif jax_limit is not None:
        problem = eqx.error_if(
            problem,
            dt > jax_limit,
            f"dt {_fmt(dt)} ms exceeds the explicit stability limit for "
            "this mesh; use a smaller dt or diffusion=ThetaScheme()",
        )

    # ---- the time loop, in chunks
    every = int(record.probe_every)
    if chunk_steps is None:
        chunk_steps = _default_chunk(n_steps, every)
    chunk_blocks = max(1, math.ceil(max(int(chunk_steps), 1) / every))
    chunk_steps = chunk_blocks * every
    n_chunks = math.ceil(n_steps / chunk_steps)
    guard = n_chunks * chunk_steps != n_steps
    traces = [] if first_probe is None else [first_probe]
    if traced:
        # Inside jit: one scan over the chunks (a Python loop would be unrolled into the traced program). Under eager
        # autodiff too: the first chunk's inputs have (symbolic) zero tangents where later ones do not, so per-chunk
        # calls would compile several derivative programs.
        carry, ys = _advance(problem, carry, n_chunks, chunk_blocks, every, checkpoint, guard)
        if ys is not None:
            traces.append(ys)
    else:
        # Eager: one compiled call per chunk. The compiled chunk depends on the mesh, the
        # options and the chunk length only (dt, t1 and the stimuli are traced values), so runs of any length share
        # it; only a partial last chunk takes the guarded variant.
        for k in range(n_chunks):
            last = k == n_chunks - 1
            carry, ys = _advance_top(problem, carry, 1, chunk_blocks, every, checkpoint, guard and last)
            if ys is not None:
                traces.append(ys)
            if throw and k % _DIVERGENCE_POLL == _DIVERGENCE_POLL - 1 and not last and int(carry.bad_step) >= 0:
                # a diverged run stops here (one sync every _DIVERGENCE_POLL chunks): the rest would be NaN, and the
                # outcome (diverged) raises below
                break
            if progress is not None:
                progress(min((k + 1) * chunk_steps, n_steps), n_steps)

    # ---- results and the outcome
    sol = MonodomainResult(
        **_finish(problem, carry, traces, snap_index, n_steps=n_steps, every=every), n_steps=n_steps, dt=dt
    )
    if throw:
        cg = (
            f"the theta scheme's CG did not converge within max_steps={getattr(diffusion, 'max_steps', '?')} "
            "iterations in some step; raise ThetaScheme(max_steps=...) or loosen rtol"
        )

        def describe(result):
            if result == RESULTS.diverged:
                return _divergence_message(tissue, stimuli, problem, sol, dt, diffusion)
            return cg

        messages = [(RESULTS.diverged, _DIVERGED_UNDER_JIT), (RESULTS.cg_not_converged, cg)]
        sol = raise_if_failed(sol, sol.result, messages, describe)
    theta = not isinstance(diffusion, ExplicitLumped)
    if check_front and theta and not traced and sol.activation is not None:
        _check_front_sampling(tissue, sol.activation, dt)
    return sol


_DIVERGED_UNDER_JIT = (
    "the simulation diverged (non-finite Vm); run it eagerly (outside jit) for the time, node and likely cause (a "
    "stimulus far beyond physiological, or dt too long for the ionic model's upstroke)"
)
_DIVERGENCE_POLL = 10  # eager runs look for a divergence every this many chunks (one device sync each)


def _divergence_message(tissue: Tissue, stimuli, problem: _Problem, sol: MonodomainResult, dt: float, diffusion) -> str:
    """One line for a run whose Vm became non-finite (a concrete `MonodomainResult` whose result is
    ``RESULTS.diverged``): the time (ms), the node and its coordinates (mm), the states that are non-finite there too,
    and the likely cause (the stimulus, the time step, or else the parameters)."""
    from ..ionic import check_time_step, nonfinite_message, stimulus_advice

    t, node = float(sol.failed_time), int(sol.failed_index)
    point = np.asarray(jax.lax.stop_gradient(tissue.points))[node]
    group = next((g for g, nodes in enumerate(tissue.model_nodes) if np.any(np.asarray(nodes) == node)), 0)
    model = tissue.models[group]
    field = "Vm"
    local = np.flatnonzero(np.asarray(tissue.model_nodes[group]) == node)
    if local.size:
        s = np.asarray(sol.final.states[group])[:, int(local[0])]
        names = [n for n, v in zip(model.state_names, s) if not np.isfinite(v)]
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            field += f" (and {', '.join(names[:3])}{more} by the end)"
    cause = None
    amps = np.abs(np.asarray(jax.lax.stop_gradient(problem.amplitudes)))
    if amps.size:
        k = int(np.argmax(amps))
        cause = stimulus_advice(float(amps[k]), dt, model)
        if cause is not None:
            cause = f"stimulus {k} ({stimuli[k].region.describe()}): {cause}"
    if cause is None and isinstance(diffusion, ExplicitLumped) and not diffusion.check_stability:
        ops = cast(_ExplicitOps, problem.ops)  # ExplicitLumped.operators made them
        lim = host_stability_limit(jax.lax.stop_gradient(tissue), jax.lax.stop_gradient(ops), dt)
        if dt > lim:
            cause = (
                f"dt {_fmt(dt)} ms exceeds the explicit stability limit {_fmt(lim)} ms of this mesh (the check "
                f"was off: ExplicitLumped(check_stability=False)); use dt <= {_fmt(lim)} or diffusion=ThetaScheme()"
            )
    if cause is None:
        try:
            check_time_step(model, dt, warn=False)
            cause = (
                f"the stimulus ({float(amps.max()) if amps.size else 0:.3g} µA/µF) and dt ({dt:g} ms) are within "
                f"range for {type(model).__name__}: check the conductivities and the model parameters"
            )
        except ValueError as e:
            cause = str(e)
    return nonfinite_message("the simulation diverged", time_ms=t, index=node, field=field, point=point, cause=cause)


def _check_front_sampling(tissue: Tissue, activation, dt: float) -> None:
    """Warn when the wavefront crosses a mesh edge in under two time steps (the theta scheme allows such dt). Measured:
    the front's slowness is the 90th percentile of |Δ activation| / length over edges whose two ends activated (the
    edges along the front's direction; edges across it have Δ ≈ 0), the crossing time the median edge times it."""
    act = np.asarray(jax.lax.stop_gradient(activation), np.float64)
    tets = np.asarray(tissue.geometry.tets)
    if tets.size == 0 or not np.isfinite(act).any():
        return
    pairs = np.concatenate([tets[:, [a, b]] for a, b in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))])
    ok = np.isfinite(act[pairs[:, 0]]) & np.isfinite(act[pairs[:, 1]])
    da = np.abs(np.where(ok, act[pairs[:, 0]], 0.0) - np.where(ok, act[pairs[:, 1]], 0.0))
    if ok.sum() < 10:
        return
    pts = np.asarray(jax.lax.stop_gradient(tissue.points), np.float64)
    h = np.linalg.norm(pts[pairs[ok, 0]] - pts[pairs[ok, 1]], axis=1)
    slowness = float(np.percentile(da[ok] / np.maximum(h, 1e-300), 90))  # ms/mm along the front's direction
    if not slowness > 0:
        return
    edge = float(np.median(h))
    cross = edge * slowness
    if cross < 2.0 * dt:
        import warnings

        from .._errors import MeshWarning

        # two significant figures and a fixed location (stacklevel 1): repeated runs (conductivity tuning) say it once
        warnings.warn(
            f"the wavefront (~{1 / slowness:.2g} m/s, measured from the activation times) crosses a mesh edge (median "
            f"{edge:.2g} mm) in ~{cross:.2g} ms, under two time steps of {dt:g} ms: activation times are set by the "
            f"time step, not the tissue; use dt <= {cross / 4:.2g} ms (four steps per edge)",
            MeshWarning,
            stacklevel=1,
        )
