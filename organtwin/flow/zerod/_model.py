"""The compiled 0D model: the right-hand side for diffrax and the observation of pressures, flows and volumes.

The state is the pressure of every point that carries capacitance, the volume of every chamber and the flow of every
edge with inductance (`._topology` numbers them). Algebraic points' pressures come from `._algebraic`; the steady state
from `._steady`.

The right-hand side is written for a small XLA program rather than for Python: like blocks (chambers, valves) are
evaluated together on their stacked parameters, net inflows are gathers from fixed incidence tables (no scatter), each
flow and elastance is evaluated once per call. Its cost is the per-step cost of a fixed-step solve and of a vmapped
cohort (benchmarks/zerod_vs_svzerod.py).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..._errors import NetworkError
from ._algebraic import pressures_and_flows, resistive_flow
from ._topology import Storage, Topology
from ._waveform import Waveform

__all__ = ["StateView", "ZeroDModel"]


class StateView:
    """What a block with states of its own (`._blocks.States`) sees of the model at one time: every such block's
    states by block name, and, inside ``state_rates``, the pressure and net inflow at the point of any terminal.
    Built while the right-hand side is traced (plain Python, not a pytree); ``tail`` is the state after the chamber
    volumes (inductor flows, then the blocks' own states)."""

    def __init__(self, model: ZeroDModel, tail, p=None, inflow=None):
        self.model, self._tail, self._p, self._inflow = model, tail, p, inflow

    def states(self, block: str) -> Array:
        """The own states of ``block``, in the order its `States` names them."""
        st = self.model.structure
        row = next((r for r in st.states if r.block == block), None)
        if row is None:
            raise NetworkError(f"block {block!r} holds no states of its own")
        start = len(st.inductive) + row.offset
        return self._tail[start : start + len(row.names)]

    def block(self, name: str):
        if name not in self.model.blocks:
            raise NetworkError(f"the network has no block {name!r}, which another block's equations read")
        return self.model.blocks[name]

    def pressure(self, term: str) -> Array:
        """Pressure at the point of ``term`` (inside ``state_rates`` only)."""
        if self._p is None:
            raise NetworkError(f"pressure({term!r}) is known inside a block's state_rates only")
        return self._p[dict(self.model.structure.terminal_nodes)[term]]

    def inflow(self, term: str) -> Array:
        """Net inflow Σ q_in − Σ q_out at the point of ``term`` (inside ``state_rates`` only)."""
        if self._inflow is None:
            raise NetworkError(f"inflow({term!r}) is known inside a block's state_rates only")
        return self._inflow[dict(self.model.structure.terminal_nodes)[term]]


class ZeroDModel(eqx.Module):
    """The compiled network (final): ``rhs(t, x)`` for diffrax, plus observation of pressures and flows.

    ``blocks`` holds every parameter (``model.blocks["LV"].e_active``); the structure is static.
    """

    blocks: dict
    structure: Topology = eqx.field(static=True)

    # ---- parameters gathered per element group
    def _dtype(self):
        leaves = [x for x in jax.tree_util.tree_leaves(self.blocks) if eqx.is_inexact_array(x)]
        return jnp.result_type(*leaves) if leaves else jnp.result_type(float)

    def _rl(self, rows, dtype):
        def g(attr, name, idx):
            if attr is None:
                return jnp.zeros((), dtype)
            return jnp.asarray(self.blocks[name].get(attr, idx), dtype)

        if not rows:
            z = jnp.zeros((0,), dtype)
            return z, z, z
        r = jnp.stack([g(row.r, row.block, row.entry) for row in rows])
        l = jnp.stack([g(row.l, row.block, row.entry) for row in rows])
        s = jnp.stack([g(row.s, row.block, row.entry) for row in rows])
        return r, l, s

    def _grouped(self, names, fn, dtype):
        """``stack([fn(blocks[n], i) for i, n in enumerate(names)])``, evaluated once per group of like blocks (same
        type, static fields and parameter shapes) on their stacked parameters: one vector expression per group
        rather than one scalar expression per block."""
        groups = {}
        for i, n in enumerate(names):
            groups.setdefault(_likeness(self.blocks[n]), []).append(i)
        if len(groups) == len(names):
            return jnp.stack([jnp.asarray(fn(self.blocks[n], i), dtype) for i, n in enumerate(names)])
        parts, order = [], []
        for idx in groups.values():
            blk = _stack_blocks([self.blocks[names[i]] for i in idx])
            parts.append(jnp.broadcast_to(jnp.asarray(fn(blk, np.array(idx)), dtype), (len(idx),)))
            order += idx
        out = jnp.concatenate(parts)
        return out if order == sorted(order) else out[np.argsort(order)]

    def node_capacitance(self, dtype=None):
        st = self.structure
        dtype = dtype or self._dtype()
        per_node = [[] for _ in range(st.n_nodes)]
        for row in st.caps:
            per_node[row.node].append(jnp.asarray(self.blocks[row.block].get(row.attr), dtype))
        if not st.n_nodes:
            return jnp.zeros((0,), dtype)
        return jnp.stack([sum(c[1:], c[0]) if c else jnp.zeros((), dtype) for c in per_node])

    def _known_pressures(self, t, x, steady=False):
        st = self.structure
        dtype = x.dtype
        p_c = x[: st.n_cap]
        vols = x[st.n_cap : st.n_cap + st.n_chamber]
        parts = [p_c]
        if st.n_chamber:
            parts.append(self._grouped(st.chambers, lambda b, i: b.pressure(t, vols[i]), dtype))
        if st.n_pressure:
            parts.append(
                jnp.stack([_evaluate(self.blocks[row.block].get(row.attr), t, steady) for row in st.pressures]).astype(
                    dtype
                )
            )
        if st.state_nodes:
            view = StateView(self, x[st.n_cap + st.n_chamber :])
            parts.append(
                jnp.stack(
                    [jnp.asarray(self.blocks[r.block].state_pressure(r.key, t, view), dtype) for r in st.state_nodes]
                )
            )
        return jnp.concatenate(parts) if len(parts) > 1 else p_c

    def _edge_flows(self, t, p, q_ind, steady=False):
        """Flows of every edge (inductive, resistive, valves, prescribed), in global edge order."""
        return jnp.concatenate(self._edge_flow_parts(t, p, q_ind, steady))

    def _resistive_flows(self, p):
        st = self.structure
        r, _, s = self._rl(st.resistive, p.dtype)
        a = np.array([row.a for row in st.resistive])
        b = np.array([row.b for row in st.resistive])
        return resistive_flow(p[a] - p[b], r, s, jnp.abs(p[a]) + jnp.abs(p[b]))

    def _edge_flow_parts(self, t, p, q_ind, steady=False):
        st = self.structure
        dtype = p.dtype
        out = [q_ind[: len(st.inductive)]]  # (the blocks' own states follow the inductor flows)
        if st.resistive:
            out.append(self._resistive_flows(p))
        if st.valves:
            a = np.array([row.a for row in st.valves])
            b = np.array([row.b for row in st.valves])
            dp = p[a] - p[b]
            out.append(self._grouped([row.block for row in st.valves], lambda blk, i: blk.flow(dp[i]), dtype))
        if st.flows:
            out.append(
                jnp.stack([_evaluate(self.blocks[row.block].get(row.attr), t, steady) for row in st.flows]).astype(
                    dtype
                )
            )
        if st.state_flows:  # (p: the known points' pressures are final here; state flows read only those)
            view = StateView(self, q_ind, p)
            out.append(
                jnp.stack([jnp.asarray(self.blocks[r.block].state_flow(r.key, t, view), dtype) for r in st.state_flows])
            )
        return out

    def _edge_rates(self, t, p, q_ind):
        """dQ/dt of every edge (inductors from their law, prescribed flows from their waveform, others 0)."""
        st = self.structure
        dtype = p.dtype
        out = [self._inductor_rates(p, q_ind)]
        n_other = len(st.resistive) + len(st.valves)
        out.append(jnp.zeros(n_other, dtype))
        if st.flows:
            tt = jnp.asarray(t, dtype)
            out.append(
                jnp.stack(
                    [
                        jax.jvp(
                            lambda s, w=self.blocks[row.block].get(row.attr): jnp.asarray(
                                _evaluate(w, s, False), dtype
                            ),
                            (tt,),
                            (jnp.ones_like(tt),),
                        )[1]
                        for row in st.flows
                    ]
                )
            )
        if st.state_flows:  # (points that need these rates are refused in build_topology)
            out.append(jnp.zeros(len(st.state_flows), dtype))
        return jnp.concatenate(out)

    def _inductor_rates(self, p, q_ind):
        st = self.structure
        if not st.inductive:
            return jnp.zeros(0, p.dtype)
        r, l, s = self._rl(st.inductive, p.dtype)
        a = np.array([row.a for row in st.inductive])
        b = np.array([row.b for row in st.inductive])
        q_ind = q_ind[: len(st.inductive)]
        return (p[a] - p[b] - r * q_ind - s * jnp.abs(q_ind) * q_ind) / l

    def _inflow(self, q, rows=None):
        """Net inflow Σ q_in − Σ q_out at every point (or at ``rows``, a slice), from the incidence tables."""
        edge, sign = self.structure.incidence
        if rows is not None:
            edge, sign = edge[rows], sign[rows]
        if not edge.size:
            return jnp.zeros(edge.shape[:1], q.dtype)
        qz = jnp.concatenate([q, jnp.zeros((1,), q.dtype)])
        out = qz[edge[:, 0]] * jnp.asarray(sign[:, 0], q.dtype)
        for j in range(1, edge.shape[1]):  # a sum of k gathers (one elementwise loop), not a reduction
            out = out + qz[edge[:, j]] * jnp.asarray(sign[:, j], q.dtype)
        return out

    def pressures(self, t, x, steady=False) -> Float[Array, " nodes"]:
        """Pressure of every point (known ones, then algebraic ones solved for)."""
        return pressures_and_flows(self, t, x, steady)[0]

    def steady_state(self, x0=None, *, dtype=None, t=None) -> Array:
        """`steady_state` of this model (svZeroDSolver's ``steady_initial``)."""
        from ._steady import steady_state

        return steady_state(self, x0, dtype=dtype, t=t)

    def rhs(self, t, x, args=None, *, steady=False):
        """dx/dt: capacitor pressures, chamber volumes, inductor flows."""
        st = self.structure
        p, q = pressures_and_flows(self, t, x, steady)
        n_ind = len(st.inductive)
        q_ind = x[st.n_cap + st.n_chamber :]
        inflow = self._inflow(q)
        parts = []
        if st.n_cap:
            into_caps = inflow[: st.n_cap]
            if st.cap_refs and not steady:  # C_total dP/dt = inflow + Σ C_k dP_ref,k/dt
                into_caps = into_caps + self._reference_flows(t, x.dtype)
            parts.append(into_caps / self.node_capacitance(x.dtype)[: st.n_cap])
        if st.n_chamber:
            parts.append(inflow[st.n_cap : st.n_cap + st.n_chamber])
        if n_ind:
            parts.append(self._inductor_rates(p, q_ind))
        if st.states:
            view = StateView(self, q_ind, p, inflow)
            parts += [
                jnp.asarray(self.blocks[row.block].state_rates(t, view), x.dtype).reshape(len(row.names))
                for row in st.states
            ]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), x.dtype)

    def _reference_flows(self, t, dtype, *, rates=True):
        """Per capacitor point, Σ C_k dP_ref,k/dt over the capacitors referenced to a waveform there (``rates=False``:
        Σ C_k P_ref,k(t), their reference charge)."""
        st = self.structure
        tt = jnp.asarray(t, dtype)
        vals = []
        for row in st.cap_refs:
            w = self.blocks[row.block].get(row.ref)
            f = lambda s, w=w: jnp.asarray(_evaluate(w, s, False), dtype)
            v = jax.jvp(f, (tt,), (jnp.ones_like(tt),))[1] if rates else f(tt)
            vals.append(jnp.asarray(self.blocks[row.block].get(row.attr), dtype) * v)
        idx = np.array([row.node for row in st.cap_refs], dtype=np.int32)
        return jnp.zeros((st.n_cap,), dtype).at[idx].add(jnp.stack(vals))

    def _reference_rate(self, block, ref, t, dtype):
        w = self.blocks[block].get(ref)
        tt = jnp.asarray(t, dtype)
        return jax.jvp(lambda s: jnp.asarray(_evaluate(w, s, False), dtype), (tt,), (jnp.ones_like(tt),))[1]

    # ---- observation
    def observe(self, t, x) -> dict:
        """Pressures of points, edge flows, chamber volumes and port (connection) pressures and flows at one time."""
        st = self.structure
        p, q = pressures_and_flows(self, t, x)
        dx = self.rhs(t, x)
        dp = (
            jnp.concatenate(
                [
                    dx[: st.n_cap],
                    jnp.zeros(st.n_chamber, x.dtype),
                    self._pressure_rates(t, x.dtype),
                    jnp.zeros(st.n_state_node + st.n_alg, x.dtype),
                ]
            )
            if st.n_nodes
            else jnp.zeros(0, x.dtype)
        )
        dv = dx[st.n_cap : st.n_cap + st.n_chamber]
        skey = dict(st.storage_keys)
        port_p, port_q = [], []
        for port in st.ports:
            port_p.append(p[port.node])
            if port.edges is None:
                port_q.append(jnp.asarray(jnp.nan, x.dtype))
                continue
            val = jnp.zeros((), x.dtype)
            for gi, c in port.edges:
                val = val + c * q[gi]
            for (blk, key), c in port.storage or ():
                where: Storage = skey[(blk, key)]
                if where.kind == "cap":
                    rate = dp[where.slot]
                    if where.ref is not None:  # C d(P − P_ref)/dt
                        rate = rate - self._reference_rate(blk, where.ref, t, x.dtype)
                    val = val + c * jnp.asarray(self.blocks[blk].get(where.attr), x.dtype) * rate
                elif where.kind == "state":
                    val = val + c * dx[st.n_cap + st.n_chamber + len(st.inductive) + where.slot]
                else:
                    val = val + c * dv[where.slot]
            port_q.append(val)
        return {
            "pressure": p,
            "flow": q,
            "volume": x[st.n_cap : st.n_cap + st.n_chamber],
            "port_pressure": jnp.stack(port_p) if port_p else jnp.zeros(0, x.dtype),
            "port_flow": jnp.stack(port_q) if port_q else jnp.zeros(0, x.dtype),
            "own_states": x[st.n_cap + st.n_chamber + len(st.inductive) :],  # blocks' own states (`States`)
        }

    def _pressure_rates(self, t, dtype):
        st = self.structure
        if not st.n_pressure:
            return jnp.zeros(0, dtype)
        out = []
        tt = jnp.asarray(t, dtype)
        for row in st.pressures:
            w = self.blocks[row.block].get(row.attr)
            f = lambda s, w=w: jnp.asarray(_evaluate(w, s, False), dtype)
            out.append(jax.jvp(f, (tt,), (jnp.ones_like(tt),))[1])
        return jnp.stack(out)

    # ---- state helpers
    @property
    def state_names(self) -> tuple:
        st = self.structure
        caps = [st.node_names[i] for i in range(st.n_cap)]
        vols = [f"V:{n}" for n in st.chambers]
        flows = [f"Q:{row.block}.{row.key}" for row in st.inductive]
        own = [f"{n}:{row.block}" for row in st.states for n in row.names]
        return tuple(caps + vols + flows + own)

    def blood_volume(self, x, t=0.0) -> Array:
        """Stored volume Σ C·(P − P_ref(t)) (capacitors, relative to ground or to their reference waveform at time
        ``t``) + Σ V (chambers): conserved in a closed loop."""
        st = self.structure
        c = self.node_capacitance(x.dtype)[: st.n_cap]
        v = jnp.sum(c * x[: st.n_cap]) + jnp.sum(x[st.n_cap : st.n_cap + st.n_chamber])
        if st.cap_refs:
            v = v - jnp.sum(self._reference_flows(t, x.dtype, rates=False))
        return v

    def initial_state(self, *, pressure=None, volume=None, flow=None, states=None, dtype=None):
        """A state vector from named values (missing: 0 for pressures and flows, V_rest for chamber volumes).

        ``pressure`` maps point names (``c:vessel``, ``pressure_c:rcr`` or any connection ``a:b`` on that point) to
        pressures; ``volume`` maps chamber names to volumes; ``flow`` maps ``block.key`` (e.g. ``"aorta.L"``) or
        the block name to inductor flows; ``states`` maps ``name:block`` (e.g. ``"V_LV:CLH"``) to a block's own states
        (missing: 0).
        """
        st = self.structure
        dtype = dtype or self._dtype()
        x = np.zeros(st.n_state)
        term = dict(st.terminal_nodes)
        names = {n: i for i, n in enumerate(st.node_names)}
        for k, v in (pressure or {}).items():
            nd = names.get(k, term.get(k))
            if nd is None:
                raise NetworkError(f"initial pressure for unknown point {k!r}; points: {', '.join(st.node_names)}")
            if nd < st.n_cap:
                x[nd] = float(v)
        for i, n in enumerate(st.chambers):
            ch = self.blocks[n]
            x[st.n_cap + i] = float(np.asarray(ch.v_rest))
        for k, v in (volume or {}).items():
            if k not in st.chambers:
                raise NetworkError(f"initial volume for unknown chamber {k!r}; chambers: {', '.join(st.chambers)}")
            x[st.n_cap + st.chambers.index(k)] = float(v)
        keys = {f"{row.block}.{row.key}": i for i, row in enumerate(st.inductive)}
        keys.update({row.block: i for i, row in enumerate(st.inductive)})
        for k, v in (flow or {}).items():
            if k not in keys:
                raise NetworkError(f"initial flow for {k!r}, which has no inductance; inductors: {', '.join(keys)}")
            x[st.n_cap + st.n_chamber + keys[k]] = float(v)
        own = {f"{n}:{row.block}": row.offset + i for row in st.states for i, n in enumerate(row.names)}
        for k, v in (states or {}).items():
            if k not in own:
                raise NetworkError(
                    f"initial value for unknown state {k!r}; blocks' own states: {', '.join(own) or 'none'}"
                )
            x[st.n_cap + st.n_chamber + len(st.inductive) + own[k]] = float(v)
        return jnp.asarray(x, dtype)

    def _reference_means(self, dtype):
        """Per capacitor point, Σ C_k · mean P_ref,k over the capacitors referenced to a waveform there."""
        st = self.structure
        vals = [
            jnp.asarray(self.blocks[row.block].get(row.attr), dtype)
            * jnp.asarray(_evaluate(self.blocks[row.block].get(row.ref), 0.0, True), dtype)
            for row in st.cap_refs
        ]
        idx = np.array([row.node for row in st.cap_refs], dtype=np.int32)
        return jnp.zeros((st.n_cap,), dtype).at[idx].add(jnp.stack(vals))


def _likeness(block):
    """A key equal for blocks that differ only in name and parameter values (so their parameters stack)."""
    dyn, stat = [], []
    for f in dataclasses.fields(block):
        v = getattr(block, f.name)
        if f.metadata.get("static", False):
            if f.name != "name":
                stat.append((f.name, v))
        else:
            dyn.append(v)
    leaves, tdef = jax.tree_util.tree_flatten(dyn)
    return type(block), tuple(stat), tdef, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


def _stack_blocks(blocks):
    """One block (the first's name and static fields) whose every parameter is the stack of the blocks' values."""
    leaves = [jax.tree_util.tree_leaves(b) for b in blocks]
    tdef = jax.tree_util.tree_structure(blocks[0])
    return jax.tree_util.tree_unflatten(tdef, [jnp.stack(x) for x in zip(*leaves)])


def _evaluate(w, t, steady):
    if isinstance(w, Waveform):
        return w.mean() if steady else w(t)
    return w
