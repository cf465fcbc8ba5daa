"""A 0D network: blocks joined by connections, compiled once into an ODE for diffrax.

Every connection ``(upstream, downstream)`` is a point with one pressure and one flow (svZeroDSolver's "node", named
``"upstream:downstream"``). Blocks decompose into capacitors to ground, time-varying elastance chambers, prescribed
pressures, R–L–stenosis edges, valves and prescribed flows on those points; ideal junctions and impedance-free edges merge
points. The state of the compiled ODE is: the pressure of every point that carries capacitance, the volume of every
chamber, the flow of every edge with inductance. Points with neither (nor a prescribed pressure) are algebraic: their
pressures make the flows balance. When each such point meets only linear resistors to known points (or only inductors,
by the rate of its balance) — svZeroDSolver's junctions and zero-R vessels, RCR and vessel outlets — every balance is
one division; otherwise they are found by Newton's method. Regazzoni's closed loop as built here has none. The
structure (which edges are inductive, which points merge, which solve) is decided once from the parameter values at
compile time; the parameters themselves stay arrays in the blocks, so gradients flow.

The right-hand side is written for a small XLA program rather than for Python: like blocks (chambers, valves) are
evaluated together on their stacked parameters, net inflows are gathers from fixed incidence tables (no scatter), each
flow and elastance is evaluated once per call. Its cost is the per-step cost of a fixed-step solve and of a vmapped
cohort (benchmarks/zerod_vs_svzerod.py).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from functools import cached_property

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from ..._errors import NetworkError
from ._blocks import RL, AbstractBlock, Cap, ChamberNode, FlowEdge, PressureNode, Short, Valve, ValveEdge
from ._waveform import Waveform

__all__ = ["Network", "ZeroDModel"]


class Network:
    """A description: blocks and (upstream, downstream) connections by block name. ``compile()`` gives the ODE model."""

    def __init__(self, blocks, connections):
        self.blocks = {}
        for b in blocks:
            if not isinstance(b, AbstractBlock):
                raise NetworkError(f"network: {b!r} is not a block")
            if b.name in self.blocks:
                raise NetworkError(f"network: two blocks are named {b.name!r}; names must be unique")
            self.blocks[b.name] = b
        self.connections = []
        seen = set()
        for up, down in connections:
            for n in (up, down):
                if n not in self.blocks:
                    raise NetworkError(f"network: connection {up} -> {down} names unknown block {n!r}")
            if (up, down) in seen:
                raise NetworkError(f"network: connection {up} -> {down} is given twice")
            seen.add((up, down))
            self.connections.append((up, down))

    def compile(self) -> "ZeroDModel":
        return ZeroDModel(dict(self.blocks), _structure(self.blocks, self.connections))


# ------------------------------------------------------------------------------------------------ compile (host side)
@dataclass(frozen=True)
class _Structure:
    node_names: tuple  # representative name per node
    terminal_nodes: tuple  # (terminal, node) pairs
    n_cap: int
    n_chamber: int
    n_pressure: int
    n_alg: int
    caps: tuple  # (block, attr, node)
    chambers: tuple  # block names, chamber node order
    pressures: tuple  # (block, attr)
    inductive: tuple  # (block, key, a, b, r, l, s, index)
    resistive: tuple  # (block, key, a, b, r, l, s, index)
    valves: tuple  # (block, a, b)
    flows: tuple  # (block, attr, a, b)   (-1: outside)
    edge_keys: tuple  # ((block, key), global edge index)
    storage_keys: tuple  # ((block, key), ("cap", node, attr[, ref]) | ("vol", chamber index))
    alg_linear: bool  # algebraic points touch only linear resistors / inductors / flows
    alg_rate: tuple  # algebraic points joined only by inductors (index 2)
    ports: tuple  # (connection name, node, edges ((gidx, coeff)...), storage (((block,key), coeff)...))
    connections: tuple
    cap_refs: tuple = ()  # (block, attr, ref, node): capacitors referenced to a waveform instead of ground

    @property
    def n_nodes(self):
        return self.n_cap + self.n_chamber + self.n_pressure + self.n_alg

    @property
    def n_state(self):
        return self.n_cap + self.n_chamber + len(self.inductive)

    # ---- index tables for the ODE's hot path (host side, built once per structure; numpy constants when traced)
    @property
    def n_edges(self):
        return len(self.inductive) + len(self.resistive) + len(self.valves) + len(self.flows)

    @cached_property
    def edge_ends(self):
        """(a, b): the upstream and downstream node of every edge in global edge order (n_nodes: outside)."""
        a = (
            [row[2] for row in self.inductive + self.resistive]
            + [row[1] for row in self.valves]
            + [row[2] for row in self.flows]
        )
        b = (
            [row[3] for row in self.inductive + self.resistive]
            + [row[2] for row in self.valves]
            + [row[3] for row in self.flows]
        )
        n = self.n_nodes
        return np.array([n if i < 0 else i for i in a], dtype=np.int32), np.array(
            [n if i < 0 else i for i in b], dtype=np.int32
        )

    @cached_property
    def incidence(self):
        """(edge, sign) tables of shape (n_nodes, max degree): inflow[n] = Σ_k sign[n, k] q[edge[n, k]] (padding
        points at edge n_edges, a zero appended to q, with sign 0). A gather and a sum: no scatter in the ODE."""
        a, b = self.edge_ends
        rows = [[] for _ in range(self.n_nodes)]
        for e, (ia, ib) in enumerate(zip(a, b)):
            if ib < self.n_nodes:
                rows[ib].append((e, 1.0))
            if ia < self.n_nodes:
                rows[ia].append((e, -1.0))
        k = max([len(r) for r in rows] + [1])
        edge = np.full((self.n_nodes, k), self.n_edges, dtype=np.int32)
        sign = np.zeros((self.n_nodes, k))
        for n, r in enumerate(rows):
            for j, (e, c) in enumerate(r):
                edge[n, j], sign[n, j] = e, c
        return edge, sign

    @cached_property
    def alg_diagonal(self):
        """Whether the algebraic points' mass balances are linear and decoupled: every edge whose flow depends on an
        algebraic point's pressure (a linear resistor at a point of index 1, an inductor's rate at a point of index 2)
        ends at a known point. Their pressures are then one division each: p = -r(0) / (∂r/∂p)."""
        if not (self.n_alg and self.alg_linear):
            return False
        n0 = self.n_nodes - self.n_alg
        rate = {n0 + i for i in self.alg_rate}
        for row in self.resistive:
            if row[2] >= n0 and row[3] >= n0:
                return False
        for row in self.inductive:
            ends = (row[2], row[3])
            if any(e in rate for e in ends) and all(e >= n0 for e in ends):
                return False
        return True


def _is_zero(block, attr, index):
    if attr is None:
        return True
    v = np.asarray(getattr(block, attr))
    v = v if index is None else v[index]
    return float(v) == 0.0


def _structure(blocks: dict, connections: list) -> _Structure:
    inlets = {n: [] for n in blocks}
    outlets = {n: [] for n in blocks}
    for up, down in connections:
        t = f"{up}:{down}"
        outlets[up].append(t)
        inlets[down].append(t)
    decomps = {}
    for name, b in blocks.items():
        if len(inlets[name]) > b.max_inlets or len(outlets[name]) > b.max_outlets:
            raise NetworkError(
                f"block {name}: {len(inlets[name])} inlets and {len(outlets[name])} outlets, but it takes at "
                f"most {b.max_inlets} and {b.max_outlets}; check the connections"
            )
        if not (inlets[name] or outlets[name]):
            raise NetworkError(f"block {name} is not connected to anything; connect it or remove it")
        if isinstance(b, (Valve,)) and not (inlets[name] and outlets[name]):
            raise NetworkError(f"valve {name} needs an upstream and a downstream block")
        if type(b).__name__ in ("BloodVessel", "BloodVesselJunction") and not (inlets[name] and outlets[name]):
            raise NetworkError(f"block {name} needs an inlet and an outlet connection")
        if type(b).__name__ in ("WindkesselRCR", "ResistanceBC", "OpenLoopCoronary") and not inlets[name]:
            raise NetworkError(f"boundary condition {name} must sit at an outlet (downstream of a block)")

        def shorted(e, b=b):
            return all(_is_zero(b, a, e.index) for a in (e.r, e.l, e.s))

        decomps[name] = b.decompose(inlets[name], outlets[name], shorted)

    # union-find over terminals
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    edges = []  # (block, element)
    for name, d in decomps.items():
        b = blocks[name]
        for e in d.elements:
            for t in (getattr(e, "term", None), getattr(e, "a", None), getattr(e, "b", None)):
                if t is not None:
                    find(t)
            if isinstance(e, Short):
                union(e.a, e.b)
            elif isinstance(e, RL) and all(_is_zero(b, a, e.index) for a in (e.r, e.l, e.s)):
                union(e.a, e.b)
            elif isinstance(e, (RL, ValveEdge, FlowEdge)):
                edges.append((name, e))
    roots = sorted({find(t) for t in parent})
    kind = {r: set() for r in roots}
    label = {}
    for name, d in decomps.items():
        for e in d.elements:
            if isinstance(e, Cap):
                kind[find(e.term)].add("cap")
                label.setdefault(find(e.term), e.term)
            elif isinstance(e, ChamberNode):
                if "chamber" in kind[find(e.term)]:
                    raise NetworkError(
                        f"chamber {name} shares its point with another chamber; put a valve or a vessel between them"
                    )
                kind[find(e.term)].add("chamber")
                label[find(e.term)] = f"V:{name}"
            elif isinstance(e, PressureNode):
                if "pressure" in kind[find(e.term)]:
                    raise NetworkError(
                        f"two prescribed pressures meet at the point of {name}; join them through a resistance"
                    )
                kind[find(e.term)].add("pressure")
                label.setdefault(find(e.term), e.term)
    for r, k in kind.items():
        if "chamber" in k and ({"cap", "pressure"} & k):
            raise NetworkError(
                f"point {label.get(r, r)}: a chamber meets a capacitor or a prescribed pressure with no "
                "resistance between them; give the vessel a resistance"
            )

    def cls(r):
        k = kind[r]
        return 2 if "pressure" in k else 1 if "chamber" in k else 0 if "cap" in k else 3

    order = sorted(roots, key=lambda r: (cls(r), r))
    node_of_root = {r: i for i, r in enumerate(order)}
    counts = [sum(1 for r in roots if cls(r) == c) for c in range(4)]
    node = {t: node_of_root[find(t)] for t in parent}
    node_names = tuple(label.get(r, r) for r in order)

    caps, chambers, pressures = [], [None] * counts[1], [None] * counts[2]
    storage, cap_refs = [], []
    for name, d in decomps.items():
        for e in d.elements:
            if isinstance(e, Cap):
                caps.append((name, e.attr, node[e.term]))
                if e.ref is None:
                    storage.append(((name, e.key), ("cap", node[e.term], e.attr)))
                else:
                    storage.append(((name, e.key), ("cap", node[e.term], e.attr, e.ref)))
                    if node[e.term] < counts[0]:  # (on a prescribed pressure it stores, but sets no rate)
                        cap_refs.append((name, e.attr, e.ref, node[e.term]))
            elif isinstance(e, ChamberNode):
                i = node[e.term] - counts[0]
                chambers[i] = name
                storage.append(((name, e.key), ("vol", i)))
            elif isinstance(e, PressureNode):
                pressures[node[e.term] - counts[0] - counts[1]] = (name, e.attr)
    inductive, resistive, valves, flows = [], [], [], []
    for name, e in edges:
        b = blocks[name]
        if isinstance(e, RL):
            row = (name, e.key, node[e.a], node[e.b], e.r, e.l, e.s, e.index)
            if e.a is not None and node[e.a] == node[e.b]:
                continue  # both ends merged: carries no flow of its own
            (resistive if _is_zero(b, e.l, e.index) else inductive).append(row)
        elif isinstance(e, ValveEdge):
            valves.append((name, node[e.a], node[e.b]))
        else:
            flows.append((name, e.attr, -1 if e.a is None else node[e.a], -1 if e.b is None else node[e.b]))
    gidx = {}
    for i, row in enumerate(inductive + resistive):
        gidx[(row[0], row[1])] = i
    off = len(inductive) + len(resistive)
    for i, row in enumerate(valves):
        gidx[(row[0], "Q")] = off + i
    off += len(valves)
    for i, row in enumerate(flows):
        gidx[(row[0], "Q")] = off + i

    # algebraic points need a resistive path
    n0 = counts[0] + counts[1] + counts[2]
    touched = {i: False for i in range(n0, n0 + counts[3])}
    for row in resistive:
        for nd in row[2:4]:
            if nd in touched:
                touched[nd] = True
    for row in valves:
        for nd in row[1:3]:
            if nd in touched:
                touched[nd] = True
    inductive_only = []
    for nd, ok in touched.items():
        if not ok:
            if any(nd in row[2:4] for row in inductive):
                inductive_only.append(nd - n0)  # index 2: the rate of the mass balance fixes its pressure
                continue
            raise NetworkError(
                f"point {node_names[nd]} has no capacitance, no prescribed pressure and no resistance: "
                "its pressure is undetermined; add a capacitance or a resistance next to it"
            )
    alg_linear = not any(nd in touched for row in valves for nd in row[1:3]) and not any(
        (row[2] in touched or row[3] in touched) and not _is_zero(blocks[row[0]], row[6], row[7]) for row in resistive
    )
    ports = []
    skey = dict(storage)
    for up, down in connections:
        t = f"{up}:{down}"
        pf = decomps[up].port_flows.get(t) or decomps[down].port_flows.get(t)
        if pf is None:
            ports.append((t, node[t], None, None))
            continue
        src = up if t in decomps[up].port_flows else down
        e_terms, s_terms = [], []
        for key, c in pf.edges:
            if (src, key) in gidx:
                e_terms.append((gidx[(src, key)], c))
        for key, c in pf.storage:
            if (src, key) in skey:
                s_terms.append(((src, key), c))
        ports.append((t, node[t], tuple(e_terms), tuple(s_terms)))
    ports = _balance_ports(ports, blocks, inlets, outlets, skey)
    return _Structure(
        node_names=node_names,
        terminal_nodes=tuple(sorted(node.items())),
        n_cap=counts[0],
        n_chamber=counts[1],
        n_pressure=counts[2],
        n_alg=counts[3],
        caps=tuple(caps),
        chambers=tuple(chambers),
        pressures=tuple(pressures),
        inductive=tuple(inductive),
        resistive=tuple(resistive),
        valves=tuple(valves),
        flows=tuple(flows),
        edge_keys=tuple(sorted(gidx.items())),
        storage_keys=tuple(storage),
        alg_linear=alg_linear,
        alg_rate=tuple(inductive_only),
        ports=tuple(ports),
        connections=tuple(connections),
        cap_refs=tuple(cap_refs),
    )


def _balance_ports(ports, blocks, inlets, outlets, skey):
    """Flows of ports that neither neighbour defines (an ideal junction next to a chamber without an outlet inductor),
    from the mass balance of a neighbour whose other ports are known: a junction's inflows equal its outflows; a
    chamber's inflow is dV/dt plus its outflow. Port flows are linear combinations of edge flows and storage rates, so
    the balance is a sum of terms. Repeated until nothing more can be derived."""
    known = {t: (e, s) for t, _, e, s in ports if e is not None}

    def combine(terms):  # [(sign, (edges, storage))] -> (edges, storage), like terms merged
        e, s = {}, {}
        for sign, (ee, ss) in terms:
            for k, c in ee:
                e[k] = e.get(k, 0.0) + sign * c
            for k, c in ss:
                s[k] = s.get(k, 0.0) + sign * c
        return tuple((k, c) for k, c in e.items() if c), tuple((k, c) for k, c in s.items() if c)

    progress = True
    while progress and len(known) < len(ports):
        progress = False
        for name, b in blocks.items():
            ins, outs = inlets[name], outlets[name]
            missing = [t for t in ins + outs if t not in known]
            if len(missing) != 1:
                continue
            t = missing[0]
            if type(b).__name__ == "Junction":
                sign_t = 1.0 if t in ins else -1.0  # Σ in − Σ out = 0, solved for t
                terms = [(-sign_t * (1.0 if u in ins else -1.0), known[u]) for u in ins + outs if u != t]
            elif type(b).__name__ == "Chamber" and len(ins) == 1 and len(outs) <= 1 and (name, "V") in skey:
                dv = ((), (((name, "V"), 1.0),))
                terms = (
                    ([(1.0, dv)] + [(1.0, known[u]) for u in outs]) if t in ins else [(1.0, known[ins[0]]), (-1.0, dv)]
                )
            else:
                continue
            known[t] = combine(terms)
            progress = True
    return [(t, nd, *known.get(t, (None, None))) for t, nd, _, _ in ports]


# ------------------------------------------------------------------------------------------------------- the ODE
def _resistive_flow(dp, r, s):
    """Q solving R Q + S |Q| Q = ΔP (R > 0), in a form stable for S → 0."""
    return 2.0 * dp / (r + jnp.sqrt(r * r + 4.0 * s * jnp.abs(dp)))


class ZeroDModel(eqx.Module):
    """The compiled network (final): ``rhs(t, x)`` for diffrax, plus observation of pressures and flows.

    ``blocks`` holds every parameter (``model.blocks["LV"].e_active``); the structure is static.
    """

    blocks: dict
    structure: _Structure = eqx.field(static=True)

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
        r = jnp.stack([g(row[4], row[0], row[7]) for row in rows])
        l = jnp.stack([g(row[5], row[0], row[7]) for row in rows])
        s = jnp.stack([g(row[6], row[0], row[7]) for row in rows])
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
        for name, attr, nd in st.caps:
            per_node[nd].append(jnp.asarray(self.blocks[name].get(attr), dtype))
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
                jnp.stack([_evaluate(self.blocks[n].get(a), t, steady) for n, a in st.pressures]).astype(dtype)
            )
        return jnp.concatenate(parts) if len(parts) > 1 else p_c

    def _edge_flows(self, t, p, q_ind, steady=False):
        """Flows of every edge (inductive, resistive, valves, prescribed), in global edge order."""
        return jnp.concatenate(self._edge_flow_parts(t, p, q_ind, steady))

    def _resistive_flows(self, p):
        st = self.structure
        r, _, s = self._rl(st.resistive, p.dtype)
        a = np.array([row[2] for row in st.resistive])
        b = np.array([row[3] for row in st.resistive])
        return _resistive_flow(p[a] - p[b], r, s)

    def _edge_flow_parts(self, t, p, q_ind, steady=False):
        st = self.structure
        dtype = p.dtype
        out = [q_ind]
        if st.resistive:
            out.append(self._resistive_flows(p))
        if st.valves:
            a = np.array([row[1] for row in st.valves])
            b = np.array([row[2] for row in st.valves])
            dp = p[a] - p[b]
            out.append(self._grouped([row[0] for row in st.valves], lambda blk, i: blk.flow(dp[i]), dtype))
        if st.flows:
            out.append(
                jnp.stack([_evaluate(self.blocks[n].get(attr), t, steady) for n, attr, _, _ in st.flows]).astype(dtype)
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
                            lambda s, w=self.blocks[n].get(attr): jnp.asarray(_evaluate(w, s, False), dtype),
                            (tt,),
                            (jnp.ones_like(tt),),
                        )[1]
                        for n, attr, _, _ in st.flows
                    ]
                )
            )
        return jnp.concatenate(out)

    def _inductor_rates(self, p, q_ind):
        st = self.structure
        if not st.inductive:
            return jnp.zeros(0, p.dtype)
        r, l, s = self._rl(st.inductive, p.dtype)
        a = np.array([row[2] for row in st.inductive])
        b = np.array([row[3] for row in st.inductive])
        return (p[a] - p[b] - r * q_ind - s * jnp.abs(q_ind) * q_ind) / l

    def _ends(self):
        return self.structure.edge_ends

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

    def _diagonal_conductance(self, dtype):
        """∂r/∂p_i of each algebraic point's balance when they are decoupled (``alg_diagonal``): −Σ 1/R over the
        linear resistors at a point of index 1, −Σ 1/L over the inductors at a point of index 2 (only edges at an
        algebraic point enter, whose R or L is > 0: no 1/0 in the values or their derivatives)."""
        st = self.structure
        n0 = st.n_nodes - st.n_alg
        rate = set(st.alg_rate)
        res_used, ind_used = [], []
        terms = [[] for _ in range(st.n_alg)]  # per point: indices into [1/R of res_used, 1/L of ind_used]
        for rows, used, want_rate in ((st.resistive, res_used, False), (st.inductive, ind_used, True)):
            for e, row in enumerate(rows):
                hits = [nd - n0 for nd in row[2:4] if nd >= n0 and ((nd - n0) in rate) == want_rate]
                if hits:
                    used.append(e)
                for i in hits:
                    terms[i].append(len(used) - 1 + (len(res_used) if want_rate else 0))
        k = max(len(t) for t in terms)
        pad = len(res_used) + len(ind_used)
        table = np.full((st.n_alg, k), pad, dtype=np.int32)
        for i, t in enumerate(terms):
            table[i, : len(t)] = t
        vals = [jnp.zeros((1,), dtype)]
        if ind_used:
            vals.insert(0, 1.0 / self._rl(st.inductive, dtype)[1][np.array(ind_used)])
        if res_used:
            vals.insert(0, 1.0 / self._rl(st.resistive, dtype)[0][np.array(res_used)])
        return -jnp.sum(jnp.concatenate(vals)[table], axis=-1)

    def _alg_residual(self, t, p, q_ind, steady, q=None):
        st = self.structure
        n0 = st.n_nodes - st.n_alg
        q = self._edge_flows(t, p, q_ind, steady) if q is None else q
        r = self._inflow(q, slice(n0, None))
        if st.alg_rate:
            # points joined only by inductors: d/dt of their mass balance (linear in p), exact for the ODE and
            # kept by any Runge–Kutta method since the balance is a linear invariant
            rate = self._inflow(self._edge_rates(t, p, q_ind), slice(n0, None))
            r = jnp.where(np.isin(np.arange(st.n_alg), st.alg_rate), rate, r)
        return r

    def pressures(self, t, x, steady=False) -> Float[Array, " nodes"]:
        """Pressure of every point (known ones, then algebraic ones solved for)."""
        return self._pressures_and_flows(t, x, steady)[0]

    def _pressures_and_flows(self, t, x, steady=False):
        """(pressure of every point, flow of every edge) at state ``x``: what the right-hand side needs, each part
        evaluated once (prescribed flows, valves and elastances are not evaluated again after the algebraic solve)."""
        st = self.structure
        q_ind = x[st.n_cap + st.n_chamber :]
        if not st.alg_diagonal:
            p = self._pressures_newton(t, x, steady)
            return p, self._edge_flows(t, p, q_ind, steady)
        # linear and decoupled (decided at compile time): each balance r_i = r_i(0) + (∂r_i/∂p_i) p_i, solved exactly
        # by one division, with no Jacobian to build or factorise. Only resistors touch algebraic points (valves make
        # the network nonlinear, prescribed and inductor flows do not depend on pressure), so only the resistors'
        # flows change from those at p_alg = 0.
        known = self._known_pressures(t, x, steady)
        n0 = known.shape[0]
        p0 = jnp.concatenate([known, jnp.zeros((st.n_alg,), known.dtype)])
        parts = self._edge_flow_parts(t, p0, q_ind, steady)
        r0 = self._alg_residual(t, p0, q_ind, steady, q=jnp.concatenate(parts))
        p_alg = _divide_out(bool(steady), self, jnp.asarray(t, known.dtype), known, q_ind, r0)
        p = p0 + jnp.pad(p_alg, (n0, 0))
        if st.resistive:
            parts[1] = self._resistive_flows(p)
        return p, jnp.concatenate(parts)

    def _pressures_newton(self, t, x, steady=False):
        st = self.structure
        known = self._known_pressures(t, x, steady)
        if not st.n_alg:
            return known
        q_ind = x[st.n_cap + st.n_chamber :]
        n0 = known.shape[0]

        def residual(p_alg, _):
            return self._alg_residual(t, jnp.concatenate([known, p_alg]), q_ind, steady)

        # Newton on the algebraic points' mass balance: one step is exact when the edges touching them are linear
        # resistors (decided at compile time); otherwise a fixed number of steps, unrolled (differentiable).
        guess = jnp.full((st.n_alg,), jnp.mean(known) if n0 else 0.0, known.dtype)

        def step(p_alg, _):
            r, jac = residual(p_alg, None), jax.jacfwd(residual)(p_alg, None)
            return p_alg - jnp.linalg.solve(jac, r), None

        p_alg, _ = jax.lax.scan(step, guess, None, length=1 if st.alg_linear else 12)
        return jnp.concatenate([known, p_alg])

    def rhs(self, t, x, args=None, *, steady=False):
        """dx/dt: capacitor pressures, chamber volumes, inductor flows."""
        st = self.structure
        p, q = self._pressures_and_flows(t, x, steady)
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
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), x.dtype)

    def _reference_flows(self, t, dtype, *, rates=True):
        """Per capacitor point, Σ C_k dP_ref,k/dt over the capacitors referenced to a waveform there (``rates=False``:
        Σ C_k P_ref,k(t), their reference charge)."""
        st = self.structure
        tt = jnp.asarray(t, dtype)
        vals = []
        for name, attr, ref, _ in st.cap_refs:
            w = self.blocks[name].get(ref)
            f = lambda s, w=w: jnp.asarray(_evaluate(w, s, False), dtype)
            v = jax.jvp(f, (tt,), (jnp.ones_like(tt),))[1] if rates else f(tt)
            vals.append(jnp.asarray(self.blocks[name].get(attr), dtype) * v)
        idx = np.array([row[3] for row in st.cap_refs], dtype=np.int32)
        return jnp.zeros((st.n_cap,), dtype).at[idx].add(jnp.stack(vals))

    def _reference_rate(self, block, ref, t, dtype):
        w = self.blocks[block].get(ref)
        tt = jnp.asarray(t, dtype)
        return jax.jvp(lambda s: jnp.asarray(_evaluate(w, s, False), dtype), (tt,), (jnp.ones_like(tt),))[1]

    # ---- observation
    def observe(self, t, x) -> dict:
        """Pressures of points, edge flows, chamber volumes and port (connection) pressures and flows at one time."""
        st = self.structure
        p, q = self._pressures_and_flows(t, x)
        dx = self.rhs(t, x)
        dp = (
            jnp.concatenate(
                [
                    dx[: st.n_cap],
                    jnp.zeros(st.n_chamber, x.dtype),
                    self._pressure_rates(t, x.dtype),
                    jnp.zeros(st.n_alg, x.dtype),
                ]
            )
            if st.n_nodes
            else jnp.zeros(0, x.dtype)
        )
        dv = dx[st.n_cap : st.n_cap + st.n_chamber]
        skey = dict(st.storage_keys)
        port_p, port_q = [], []
        for name, nd, e_terms, s_terms in st.ports:
            port_p.append(p[nd])
            if e_terms is None:
                port_q.append(jnp.asarray(jnp.nan, x.dtype))
                continue
            val = jnp.zeros((), x.dtype)
            for gi, c in e_terms:
                val = val + c * q[gi]
            for (blk, key), c in s_terms:
                kind = skey[(blk, key)]
                if kind[0] == "cap":
                    rate = (
                        dp[kind[1]] if len(kind) == 3 else dp[kind[1]] - self._reference_rate(blk, kind[3], t, x.dtype)
                    )  # C d(P − P_ref)/dt
                    val = val + c * jnp.asarray(self.blocks[blk].get(kind[2]), x.dtype) * rate
                else:
                    val = val + c * dv[kind[1]]
            port_q.append(val)
        return {
            "pressure": p,
            "flow": q,
            "volume": x[st.n_cap : st.n_cap + st.n_chamber],
            "port_pressure": jnp.stack(port_p) if port_p else jnp.zeros(0, x.dtype),
            "port_flow": jnp.stack(port_q) if port_q else jnp.zeros(0, x.dtype),
        }

    def _pressure_rates(self, t, dtype):
        st = self.structure
        if not st.n_pressure:
            return jnp.zeros(0, dtype)
        out = []
        for n, a in st.pressures:
            w = self.blocks[n].get(a)
            tt = jnp.asarray(t, dtype)
            out.append(jax.jvp(lambda s: jnp.asarray(_evaluate(w, s, False), dtype), (tt,), (jnp.ones_like(tt),))[1])
        return jnp.stack(out)

    # ---- state helpers
    @property
    def state_names(self) -> tuple:
        st = self.structure
        caps = [st.node_names[i] for i in range(st.n_cap)]
        vols = [f"V:{n}" for n in st.chambers]
        flows = [f"Q:{row[0]}.{row[1]}" for row in st.inductive]
        return tuple(caps + vols + flows)

    def blood_volume(self, x, t=0.0) -> Array:
        """Stored volume Σ C·(P − P_ref(t)) (capacitors, relative to ground or to their reference waveform at time
        ``t``) + Σ V (chambers): conserved in a closed loop."""
        st = self.structure
        c = self.node_capacitance(x.dtype)[: st.n_cap]
        v = jnp.sum(c * x[: st.n_cap]) + jnp.sum(x[st.n_cap : st.n_cap + st.n_chamber])
        if st.cap_refs:
            v = v - jnp.sum(self._reference_flows(t, x.dtype, rates=False))
        return v

    def initial_state(self, *, pressure=None, volume=None, flow=None, dtype=None):
        """A state vector from named values (missing: 0 for pressures and flows, V_rest for chamber volumes).

        ``pressure`` maps point names (``c:vessel``, ``pressure_c:rcr`` or any connection ``a:b`` on that point) to
        pressures; ``volume`` maps chamber names to volumes; ``flow`` maps ``block.key`` (e.g. ``"aorta.L"``) or
        the block name to inductor flows.
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
        keys = {f"{row[0]}.{row[1]}": i for i, row in enumerate(st.inductive)}
        keys.update({row[0]: i for i, row in enumerate(st.inductive)})
        for k, v in (flow or {}).items():
            if k not in keys:
                raise NetworkError(f"initial flow for {k!r}, which has no inductance; inductors: {', '.join(keys)}")
            x[st.n_cap + st.n_chamber + keys[k]] = float(v)
        return jnp.asarray(x, dtype)

    def steady_state(self, x0=None, *, dtype=None, t=None):
        """The steady state with every waveform at its mean (svZeroDSolver's ``steady_initial``); needs a pressure
        reference and no chambers.

        ``t``: capacitors referenced to a waveform keep the volume C (P − mean P_ref) they hold in the steady state
        while their reference moves to its value at ``t`` (their pressure shifts by it), as svZeroDSolver carries its
        steady volume_im into the unsteady run. ``None``: the steady state itself.
        """
        st = self.structure
        if st.n_chamber:
            raise NetworkError(
                "steady initial state: the network has chambers, whose elastance never settles; give "
                "initial conditions instead"
            )
        if not st.n_pressure:
            raise NetworkError(
                "steady initial state: the network has no prescribed or distal pressure, so its "
                "pressure level is undetermined; give initial conditions instead"
            )
        x0 = self.initial_state(dtype=dtype) if x0 is None else x0
        tol = 1e-10 if x0.dtype == jnp.float64 else 1e-5
        n_state, n_alg = st.n_state, st.n_alg

        def fn(zz, _):  # mass balance at every non-prescribed point, and each inductor's law, with dQ/dt = 0
            x, p_alg = zz[:n_state], zz[n_state:]
            p = jnp.concatenate([self._known_pressures(0.0, x, True), p_alg])
            q_ind = x[st.n_cap :]
            inflow = self._inflow(self._edge_flows(0.0, p, q_ind, True))
            n0 = st.n_nodes - n_alg
            return jnp.concatenate(
                [inflow[: st.n_cap], self._inductor_rates(p, q_ind) * self._rl(st.inductive, x.dtype)[1], inflow[n0:]]
            )

        z0 = jnp.concatenate([x0, jnp.full((n_alg,), jnp.mean(x0[: st.n_cap]) if st.n_cap else 0.0, x0.dtype)])
        sol = optx.root_find(fn, optx.Newton(rtol=tol, atol=tol * 1e-3), z0, max_steps=100, throw=False)
        x = sol.value[:n_state]
        if t is not None and st.cap_refs:
            charge = self._reference_flows(t, x.dtype, rates=False) - self._reference_means(x.dtype)
            x = x.at[: st.n_cap].add(charge / self.node_capacitance(x.dtype)[: st.n_cap])
        return x

    def _reference_means(self, dtype):
        st = self.structure
        vals = [
            jnp.asarray(self.blocks[n].get(a), dtype) * jnp.asarray(_evaluate(self.blocks[n].get(r), 0.0, True), dtype)
            for n, a, r, _ in st.cap_refs
        ]
        idx = np.array([row[3] for row in st.cap_refs], dtype=np.int32)
        return jnp.zeros((st.n_cap,), dtype).at[idx].add(jnp.stack(vals))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _divide_out(steady, model, t, known, q_ind, r0):
    """The algebraic pressures of a decoupled linear network from its balances at p_alg = 0: p = -r(0) / (∂r/∂p).

    Derivatives are those of the balance r(p, θ) = 0 at the solution (implicit function theorem: dp = -∂r/∂θ dθ /
    (∂r/∂p)), not of the division: the same for every parameter the linear network has, and exact also for a stenosis
    coefficient that is 0 (the network was compiled linear for it), where r is not linear in p away from S = 0."""
    return -r0 / model._diagonal_conductance(known.dtype)


@_divide_out.defjvp
def _divide_out_jvp(steady, primals, tangents):
    model, t, known, q_ind, r0 = primals
    d_model, d_t, d_known, d_q, _ = tangents
    p_alg = _divide_out(steady, model, t, known, q_ind, r0)

    def balance(m, tt, kn, qi):
        return m._alg_residual(tt, jnp.concatenate([kn, p_alg]), qi, steady)

    _, dr = jax.jvp(balance, (model, t, known, q_ind), (d_model, d_t, d_known, d_q))
    return p_alg, -dr / model._diagonal_conductance(known.dtype)


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
