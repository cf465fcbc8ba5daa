"""The ionic-model interface and the generic reaction step (Rush–Larsen for gates, forward Euler for the rest).

Conventions shared by every model in :mod:`organtwin.ionic`:

* Units: voltage in mV, time in ms, currents per unit capacitance in µA/µF (= mV/ms for Cm = 1 µF/cm²).
* Sign convention: ``dV/dt = -Iion + Istim``. ``Iion`` is the total ionic current as the model defines it (outward positive),
  ``Istim`` is a stimulus current per unit capacitance, **positive = depolarising** (so the classic ten Tusscher stimulus of
  -52 pA/pF in their ``dV/dt = -(Iion + Istim)`` convention is ``Istim = +52`` here).
* Layout: struct of arrays. ``V`` has any shape (``()`` for one cell, ``(nodes,)`` for tissue); the other states are one array
  ``s`` of shape ``(n_states, *V.shape)``: states first, nodes last, so one model evaluation is a handful of vectorised
  elementwise kernels over all nodes.
* Parameters are JAX array fields of the model (weakly typed scalars by default, so they take the dtype of the state they
  meet): a model is a pytree, calibration is ``eqx.partition(model, eqx.is_inexact_array)`` and gradients flow.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._errors import InputError

__all__ = [
    "AbstractIonicModel",
    "VoltageLookup",
    "GateTable",
    "gate_table",
    "reaction_step",
    "reaction_increments",
    "forward_euler_step",
    "param",
]


def _to_param(x):
    """Converter for parameter fields: a Python number becomes a weakly-typed float scalar array; arrays stay arrays
    (integer arrays are promoted to the default float type)."""
    if isinstance(x, (bool, int, float)):
        return jnp.asarray(float(x))
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def param(default: float | tuple[float, ...], *, doc: str = ""):
    """A named model parameter: an array field (a pytree leaf) with a published default (a number, or a tuple of them
    for a vector parameter such as the initial states ``s0``)."""
    return eqx.field(default=default, converter=_to_param, metadata={"doc": doc} if doc else {})


def check_positive(model: eqx.Module, names: tuple[str, ...]) -> None:
    """Raise ValueError at construction if a parameter that must be positive is not. A static check of the values
    given: a model built inside jit from traced values has none to check (its outputs carry the consequences: a
    simulation's ``result``)."""
    for name in names:
        value = getattr(model, name)
        if not isinstance(value, jax.core.Tracer) and not bool(np.all(np.asarray(value) > 0)):
            raise InputError(f"{type(model).__name__}.{name} must be positive, got {np.asarray(value).tolist()}")


def check_nonnegative(model: eqx.Module, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(model, name)
        if not isinstance(value, jax.core.Tracer) and not bool(np.all(np.asarray(value) >= 0)):
            raise InputError(f"{type(model).__name__}.{name} must be >= 0, got {np.asarray(value).tolist()}")


def heaviside(x):
    """H(x) = 1 for x >= 0, else 0 (in the dtype of x)."""
    return jnp.where(x >= 0, jnp.ones_like(x), jnp.zeros_like(x))


class AbstractIonicModel(eqx.Module):
    """A single-cell ionic model: initial state, rates, which states are gates (for Rush–Larsen) and the ionic current.

    Concrete models are final ``eqx.Module`` s whose parameters are array fields with published defaults, plus the two
    array fields ``V0`` (resting/initial membrane potential, mV) and ``s0`` (initial values of the other states, in the
    order of ``state_names``). Presets (cell types, parameter sets) are classmethods.

    Class attributes:
        state_names: names of the non-voltage states, in order (the first axis of ``s``).
        gate_indices: indices into ``s`` of the states integrated by Rush–Larsen (``gate_inf_tau`` gives their
            steady states and time constants, in that order).
        default_dt: recommended time step for single-cell simulation, ms.
        default_stimulus: (amplitude µA/µF, duration ms) of a suprathreshold single-cell stimulus.
        citation: the paper the equations and defaults come from.
    """

    V0: eqx.AbstractVar[Array]
    s0: eqx.AbstractVar[Array]

    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    gate_indices: eqx.AbstractClassVar[tuple[int, ...]]
    default_dt: eqx.AbstractClassVar[float]
    default_stimulus: eqx.AbstractClassVar[tuple[float, float]]
    citation: eqx.AbstractClassVar[str]
    #: Positions (in ``gate_inf_tau`` order) of the gates whose steady state and time constant depend on V alone: their
    #: Rush–Larsen coefficients can be tabulated against V (`gate_table`). Empty: no table.
    voltage_gates: ClassVar[tuple[int, ...]] = ()
    #: The upstroke time, ms: (peak - rest) / max dV/dt of a paced single cell with the published parameters. The time
    #: step limits of `organtwin.ionic.check_time_step` are fractions of it; None: the model states none (no check).
    upstroke_ms: ClassVar[float | None] = None

    # ------------------------------------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def derivatives(self, V: ArrayLike, s: Array, istim: ArrayLike = 0.0) -> tuple[Array, Array]:
        """Ionic current and state derivatives.

        Args:
            V: membrane potential, mV, any shape.
            s: the other states, shape ``(n_states, *V.shape)``.
            istim: stimulus current per unit capacitance, µA/µF, positive = depolarising (broadcast to V). Only models
                that account for the stimulus in their ion concentrations use it (ten Tusscher: carried by K+); it
                is *not* included in the returned Iion.

        Returns:
            ``(Iion, ds)``: Iion in µA/µF with ``dV/dt = -Iion + istim``; ``ds`` shaped like ``s`` (per ms). For gate
            states ``ds`` equals ``(inf - s) / tau`` from :meth:`gate_inf_tau`.
        """

    @abc.abstractmethod
    def gate_inf_tau(self, V: ArrayLike, s: Array) -> tuple[Array, Array]:
        """Steady states and time constants (ms) of the gate states, each shaped ``(len(gate_indices), *V.shape)``."""

    # ------------------------------------------------------------------------------------------------ provided
    @property
    def n_states(self) -> int:
        return len(self.state_names)

    @property
    def n_gates(self) -> int:
        return len(self.gate_indices)

    def state_index(self, name: str) -> int:
        """Index of a named state in ``s``."""
        try:
            return self.state_names.index(name)
        except ValueError:
            raise InputError(
                f"{type(self).__name__} has no state {name!r}; states are {', '.join(self.state_names)}"
            ) from None

    def initial_state(self, shape: int | tuple[int, ...] = (), dtype=None) -> tuple[Array, Array]:
        """``(V0, s0)`` broadcast to ``shape``: V0 of shape ``shape`` (mV) and the states of shape ``(n_states, *shape)``.

        ``dtype`` defaults to the default float type (float32 unless x64 is enabled by the user).
        """
        shape = tuple(int(n) for n in shape) if isinstance(shape, (tuple, list)) else (int(shape),)
        dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
        V = jnp.broadcast_to(jnp.asarray(self.V0, dtype), shape)
        s0 = jnp.asarray(self.s0, dtype).reshape((self.n_states,) + (1,) * len(shape))
        s = jnp.broadcast_to(s0, (self.n_states, *shape))
        return V, s

    def with_initial_state(self, V0: ArrayLike, s0: ArrayLike):
        """A copy of the model whose initial state is ``(V0, s0)`` (e.g. the end of a pacing run, for a steady start)."""
        s0 = jnp.asarray(s0)
        if s0.shape != (self.n_states,):
            raise InputError(f"s0 must have shape ({self.n_states},) for {type(self).__name__}, got {s0.shape}")
        return eqx.tree_at(lambda m: (m.V0, m.s0), self, (_to_param(V0), _to_param(s0)))

    def astype(self, dtype):
        """A copy with every floating-point parameter cast to ``dtype`` (float32 or float64)."""
        dtype = jnp.dtype(dtype)

        def cast(x):
            if eqx.is_inexact_array(x):
                return x.astype(dtype)
            return x

        return jax.tree_util.tree_map(cast, self)

    def derivatives_and_gates(
        self, V: ArrayLike, s: Array, istim: ArrayLike = 0.0
    ) -> tuple[Array, Array, Array, Array]:
        """``(Iion, ds, inf, tau)`` in one evaluation (models override this to share work between the two)."""
        Iion, ds = self.derivatives(V, s, istim)
        inf, tau = self.gate_inf_tau(V, s)
        return Iion, ds, inf, tau

    def rate_rows(self, V: ArrayLike, s: Array, istim: ArrayLike = 0.0) -> tuple[Array, tuple, tuple, tuple]:
        """``(Iion, ds_other, infs, taus)`` as tuples of per-state arrays, unstacked: ``ds_other`` for the states that
        are not gates (in state order), ``infs``/``taus`` for the gates (in ``gate_indices`` order). The reaction step
        uses this form; models with many states override it to avoid stacking rows inside the hot loop (a stack is a
        concatenation XLA performs every step)."""
        Iion, ds, inf, tau = self.derivatives_and_gates(V, s, istim)
        gates = set(self.gate_indices)
        other = tuple(ds[i] for i in range(self.n_states) if i not in gates)
        return Iion, other, tuple(inf[k] for k in range(self.n_gates)), tuple(tau[k] for k in range(self.n_gates))

    def rhs(self, V: ArrayLike, s: Array, istim: ArrayLike = 0.0) -> tuple[Array, Array]:
        """``(dV/dt, ds/dt)`` of the full ODE system (for reference integrators such as diffrax)."""
        Iion, ds = self.derivatives(V, s, istim)
        return -Iion + istim, ds


def _gate_mask(model: AbstractIonicModel) -> tuple[int | None, ...]:
    """For each state: position in gate_inf_tau output (or None if not a gate)."""
    pos = {g: k for k, g in enumerate(model.gate_indices)}
    return tuple(pos.get(i) for i in range(model.n_states))


class VoltageLookup(eqx.Module):
    """Configuration of the Rush–Larsen lookup table (final): V from ``v_min`` to ``v_max`` mV every ``dv`` mV.

    Ionic codes (openCARP's LIMPET, Chaste, TorchCor) tabulate the voltage-only functions of their gates once per run and
    interpolate them at every step; the table replaces two exponentials and a division per gate and node-step. With
    ``dv = 0.05`` mV linear interpolation is within ~1e-6 (relative) of the exact coefficients for the ten Tusscher
    gates; V outside the range is clamped (every gate is flat there).

    ``float32`` (default False): tabulate in float32 runs too. On a CPU XLA evaluates float32 exponentials vectorised,
    and the table's gathers cost more than they save (measured: TT2006 tissue step 1.2x slower with the table in
    float32, 1.1-1.5x faster in float64, where exponentials are scalar library calls); see benchmarks/RESULTS.md.
    """

    v_min: float = eqx.field(default=-150.0, static=True)
    v_max: float = eqx.field(default=100.0, static=True)
    dv: float = eqx.field(default=0.05, static=True)
    float32: bool = eqx.field(default=False, static=True)

    def applies_to(self, dtype) -> bool:
        """Whether a run in ``dtype`` uses the table."""
        return jnp.dtype(dtype) != jnp.float32 or self.float32

    def __check_init__(self):
        if not (self.v_max > self.v_min and self.dv > 0):
            raise InputError(f"VoltageLookup: need v_max > v_min and dv > 0, got {self.v_min}, {self.v_max}, {self.dv}")

    @property
    def size(self) -> int:
        return int(round((self.v_max - self.v_min) / self.dv)) + 1


class GateTable(eqx.Module):
    """Tabulated Rush–Larsen coefficients of a model's voltage-only gates for one step length (final).

    ``values`` has shape ``(2 g, size)``: the steady states of the g gates in ``model.voltage_gates`` at each tabulated V,
    then their ``1 - exp(-dt / tau)``. Built from the model's parameters inside the traced program, so gradients reach
    the parameters through the table; d/dV of the interpolation is the table's slope.
    """

    values: Array
    v_min: float = eqx.field(static=True)
    dv: float = eqx.field(static=True)

    def lookup(self, V: Array) -> tuple[Array, Array]:
        """``(inf, one_minus_E)``, each of shape ``(g, *V.shape)``, interpolated linearly at V."""
        n = self.values.shape[1]
        x = jnp.clip((V - self.v_min) * (1.0 / self.dv), 0.0, n - 1.0)
        i = jnp.minimum(jnp.floor(x).astype(jnp.int32), n - 2)
        w = x - i.astype(x.dtype)
        # One 1-D gather pair per tabulated function (slot-major table, each row contiguous): gathering (nodes, 2g)
        # rows of a V-major table instead gets the whole interpolation and its transpose recomputed inside every
        # consumer's fusion, and gathering (2g, nodes) columns strides across the table.
        rows = []
        for c in range(self.values.shape[0]):
            lo = self.values[c].at[i].get(mode="promise_in_bounds")
            hi = self.values[c].at[i + 1].get(mode="promise_in_bounds")
            rows.append(lo + w * (hi - lo))
        g = len(rows) // 2
        return jnp.stack(rows[:g]), jnp.stack(rows[g:])


def gate_table(
    model: AbstractIonicModel, dt: ArrayLike, lookup: VoltageLookup | None = None, dtype=None
) -> GateTable | None:
    """The `GateTable` of ``model`` for steps of ``dt`` ms in ``dtype`` (None if the model declares no voltage-only gates
    or ``lookup`` does not apply to ``dtype``, see `VoltageLookup.float32`)."""
    lookup = VoltageLookup() if lookup is None else lookup
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not model.voltage_gates or not lookup.applies_to(dtype):
        return None
    Vt = jnp.asarray(lookup.v_min + lookup.dv * np.arange(lookup.size), dtype)
    V0, s0 = model.initial_state(Vt.shape, dtype)  # the other states do not enter a voltage-only gate
    inf, tau = model.gate_inf_tau(Vt, s0)
    k = jnp.asarray(model.voltage_gates)
    inf, tau = inf[k], tau[k]
    c = -jnp.expm1(-jnp.asarray(dt, dtype) / tau)
    return GateTable(jnp.concatenate([inf, c], axis=0).astype(dtype), float(lookup.v_min), float(lookup.dv))


def _increment_blocks(model: AbstractIonicModel, V, s, dt, istim, table):
    """``(dV, blocks)``: the state increments as a list of ``(first_state, array of shape (k, *V.shape))`` blocks in state
    order (consecutive tabulated gates form one block, every other state a block of one)."""
    istim = jnp.asarray(istim, dtype=jnp.result_type(V))
    if model.n_gates == 0:
        Iion, ds = model.derivatives(V, s, istim)
        return dt * (-Iion + istim), [(0, dt * ds)]
    # With a table the exact inf/tau of the tabulated gates are computed but never used: XLA removes them as dead code,
    # so only the untabulated gates cost exponentials.
    Iion, other, infs, taus = model.rate_rows(V, s, istim)
    dV = dt * (-Iion + istim)
    tab_state = {}
    if table is not None:
        t_inf, t_c = table.lookup(V)
        tab_state = {model.gate_indices[k]: j for j, k in enumerate(model.voltage_gates)}
    blocks, other, positions, i = [], iter(other), _gate_mask(model), 0
    while i < model.n_states:
        if i in tab_state:  # a run of consecutive tabulated gates -> one block
            j0, n = tab_state[i], 1
            while i + n in tab_state and tab_state[i + n] == j0 + n:
                n += 1
            blocks.append((i, (t_inf[j0 : j0 + n] - s[i : i + n]) * t_c[j0 : j0 + n]))
            i += n
            continue
        k = positions[i]
        if k is None:
            row = dt * next(other)
        else:
            row = (infs[k] - s[i]) * -jnp.expm1(-dt / taus[k])
        blocks.append((i, jnp.broadcast_to(row, jnp.shape(V))[None]))
        i += 1
    return dV, blocks


def reaction_increments(
    model: AbstractIonicModel, V: Array, s: Array, dt: ArrayLike, istim: ArrayLike = 0.0, table: GateTable | None = None
) -> tuple[Array, Array]:
    """The increments ``(dV, ds)`` of one :func:`reaction_step` (so that ``V + dV, s + ds`` is the step).

    Useful to accumulate the step with compensated (Kahan) summation in float32, where an increment smaller than half
    a unit in the last place of V (e.g. the slow diastolic drift at -84 mV with dt = 0.01 ms) would otherwise be lost.
    Gate increments are ``(inf - g)(1 - exp(-dt/tau))``, the Rush–Larsen update written as a difference; with a
    ``table`` (built by `gate_table` for this dt) the voltage-only gates take ``inf`` and ``1 - exp(-dt/tau)`` from it.
    """
    dV, blocks = _increment_blocks(model, V, s, dt, istim, table)
    # dV is a JAX array already (dt times the model's current): asarray only says so to the type checker
    return jnp.asarray(dV), jnp.concatenate([b.astype(s.dtype) for _, b in blocks], axis=0)


def reaction_step(
    model: AbstractIonicModel, V: Array, s: Array, dt: ArrayLike, istim: ArrayLike = 0.0, table: GateTable | None = None
) -> tuple[Array, Array]:
    """One reaction step of length ``dt`` (ms): Rush–Larsen (exact exponential) for the gate states, forward Euler for
    the other states and for V (``V_new = V + dt (-Iion + istim)``). All updates use the state at the start of the step.

    This is what an operator-splitting monodomain solver calls once per node per step; every array may carry node axes.
    ``table``: tabulated Rush–Larsen coefficients for this dt (`gate_table`), or None for the exact ones.
    (In float32 over many small steps, accumulate :func:`reaction_increments` with compensated summation instead, as
    :func:`organtwin.ionic.pace_cell` does.)
    """
    dV, blocks = _increment_blocks(model, V, s, dt, istim, table)
    new = [(s[i : i + b.shape[0]] + b).astype(s.dtype) for i, b in blocks]
    return V + dV, jnp.concatenate(new, axis=0)


def forward_euler_step(
    model: AbstractIonicModel, V: Array, s: Array, dt: ArrayLike, istim: ArrayLike = 0.0
) -> tuple[Array, Array]:
    """Plain forward Euler for every state (a reference for convergence studies; not for production use)."""
    Iion, ds = model.derivatives(V, s, istim)
    return V + dt * (-Iion + istim), s + dt * ds


StepFn = Callable[[AbstractIonicModel, Array, Array, ArrayLike, ArrayLike], tuple[Array, Array]]
