"""A 0D network: blocks joined by connections, compiled once into an ODE for diffrax.

Every connection ``(upstream, downstream)`` is a point with one pressure and one flow (svZeroDSolver's "node", named
``"upstream:downstream"``). Blocks decompose into capacitors to ground, time-varying elastance chambers, prescribed
pressures, R–L–stenosis edges, valves and prescribed flows on those points; ideal junctions and impedance-free edges merge
points. The state of the compiled ODE is: the pressure of every point that carries capacitance, the volume of every
chamber, the flow of every edge with inductance. Points with neither (nor a prescribed pressure) are algebraic: their
pressures make the flows balance, found by Newton's method (optimistix) when the network needs it; most networks,
Regazzoni's closed loop among them, need none. The structure (which edges are inductive, which points merge) is decided
once from the parameter values at compile time; the parameters themselves stay arrays in the blocks, so gradients flow.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    node_names: tuple            # representative name per node
    terminal_nodes: tuple        # (terminal, node) pairs
    n_cap: int
    n_chamber: int
    n_pressure: int
    n_alg: int
    caps: tuple                  # (block, attr, node)
    chambers: tuple              # block names, chamber node order
    pressures: tuple             # (block, attr)
    inductive: tuple             # (block, key, a, b, r, l, s, index)
    resistive: tuple             # (block, key, a, b, r, l, s, index)
    valves: tuple                # (block, a, b)
    flows: tuple                 # (block, attr, a, b)   (-1: outside)
    edge_keys: tuple             # ((block, key), global edge index)
    storage_keys: tuple          # ((block, key), ("cap", node, attr) | ("vol", chamber index))
    alg_linear: bool             # algebraic points touch only linear resistors / inductors / flows
    alg_rate: tuple              # algebraic points joined only by inductors (index 2)
    ports: tuple                 # (connection name, node, edges ((gidx, coeff)...), storage (((block,key), coeff)...))
    connections: tuple

    @property
    def n_nodes(self):
        return self.n_cap + self.n_chamber + self.n_pressure + self.n_alg

    @property
    def n_state(self):
        return self.n_cap + self.n_chamber + len(self.inductive)


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
            raise NetworkError(f"block {name}: {len(inlets[name])} inlets and {len(outlets[name])} outlets, but it takes at "
                               f"most {b.max_inlets} and {b.max_outlets}; check the connections")
        if not (inlets[name] or outlets[name]):
            raise NetworkError(f"block {name} is not connected to anything; connect it or remove it")
        if isinstance(b, (Valve,)) and not (inlets[name] and outlets[name]):
            raise NetworkError(f"valve {name} needs an upstream and a downstream block")
        if type(b).__name__ in ("BloodVessel", "BloodVesselJunction") and not (inlets[name] and outlets[name]):
            raise NetworkError(f"block {name} needs an inlet and an outlet connection")
        if type(b).__name__ in ("WindkesselRCR", "ResistanceBC") and not inlets[name]:
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

    edges = []   # (block, element)
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
                    raise NetworkError(f"chamber {name} shares its point with another chamber; put a valve or a "
                                       "vessel between them")
                kind[find(e.term)].add("chamber")
                label[find(e.term)] = f"V:{name}"
            elif isinstance(e, PressureNode):
                if "pressure" in kind[find(e.term)]:
                    raise NetworkError(f"two prescribed pressures meet at the point of {name}; join them through a "
                                       "resistance")
                kind[find(e.term)].add("pressure")
                label.setdefault(find(e.term), e.term)
    for r, k in kind.items():
        if "chamber" in k and ({"cap", "pressure"} & k):
            raise NetworkError(f"point {label.get(r, r)}: a chamber meets a capacitor or a prescribed pressure with no "
                               "resistance between them; give the vessel a resistance")

    def cls(r):
        k = kind[r]
        return 2 if "pressure" in k else 1 if "chamber" in k else 0 if "cap" in k else 3

    order = sorted(roots, key=lambda r: (cls(r), r))
    node_of_root = {r: i for i, r in enumerate(order)}
    counts = [sum(1 for r in roots if cls(r) == c) for c in range(4)]
    node = {t: node_of_root[find(t)] for t in parent}
    node_names = tuple(label.get(r, r) for r in order)

    caps, chambers, pressures = [], [None] * counts[1], [None] * counts[2]
    storage = []
    for name, d in decomps.items():
        for e in d.elements:
            if isinstance(e, Cap):
                caps.append((name, e.attr, node[e.term]))
                storage.append(((name, e.key), ("cap", node[e.term], e.attr)))
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
                inductive_only.append(nd - n0)   # index 2: the rate of the mass balance fixes its pressure
                continue
            raise NetworkError(f"point {node_names[nd]} has no capacitance, no prescribed pressure and no resistance: "
                               "its pressure is undetermined; add a capacitance or a resistance next to it")
    alg_linear = not any(nd in touched for row in valves for nd in row[1:3]) and not any(
        (row[2] in touched or row[3] in touched) and not _is_zero(blocks[row[0]], row[6], row[7]) for row in resistive)
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
        node_names=node_names, terminal_nodes=tuple(sorted(node.items())), n_cap=counts[0], n_chamber=counts[1],
        n_pressure=counts[2], n_alg=counts[3], caps=tuple(caps), chambers=tuple(chambers), pressures=tuple(pressures),
        inductive=tuple(inductive), resistive=tuple(resistive), valves=tuple(valves), flows=tuple(flows),
        edge_keys=tuple(sorted(gidx.items())), storage_keys=tuple(storage), alg_linear=alg_linear,
        alg_rate=tuple(inductive_only), ports=tuple(ports),
        connections=tuple(connections))


def _balance_ports(ports, blocks, inlets, outlets, skey):
    """Flows of ports that neither neighbour defines (an ideal junction next to a chamber without an outlet inductor),
    from the mass balance of a neighbour whose other ports are known: a junction's inflows equal its outflows; a
    chamber's inflow is dV/dt plus its outflow. Port flows are linear combinations of edge flows and storage rates, so
    the balance is a sum of terms. Repeated until nothing more can be derived."""
    known = {t: (e, s) for t, _, e, s in ports if e is not None}

    def combine(terms):   # [(sign, (edges, storage))] -> (edges, storage), like terms merged
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
                sign_t = 1.0 if t in ins else -1.0   # Σ in − Σ out = 0, solved for t
                terms = [(-sign_t * (1.0 if u in ins else -1.0), known[u]) for u in ins + outs if u != t]
            elif type(b).__name__ == "Chamber" and len(ins) == 1 and len(outs) <= 1 and (name, "V") in skey:
                dv = ((), (((name, "V"), 1.0),))
                terms = ([(1.0, dv)] + [(1.0, known[u]) for u in outs]) if t in ins else \
                    [(1.0, known[ins[0]]), (-1.0, dv)]
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

    def node_capacitance(self, dtype=None):
        st = self.structure
        dtype = dtype or self._dtype()
        c = jnp.zeros(st.n_nodes + 1, dtype)
        for name, attr, nd in st.caps:
            c = c.at[nd].add(jnp.asarray(self.blocks[name].get(attr), dtype))
        return c[:st.n_nodes]

    def _known_pressures(self, t, x, steady=False):
        st = self.structure
        dtype = x.dtype
        p_c = x[:st.n_cap]
        vols = x[st.n_cap:st.n_cap + st.n_chamber]
        parts = [p_c]
        if st.n_chamber:
            parts.append(jnp.stack([self.blocks[n].pressure(t, vols[i]) for i, n in enumerate(st.chambers)]).astype(dtype))
        if st.n_pressure:
            parts.append(jnp.stack([_evaluate(self.blocks[n].get(a), t, steady) for n, a in st.pressures]).astype(dtype))
        return jnp.concatenate(parts) if len(parts) > 1 else p_c

    def _edge_flows(self, t, p, q_ind, steady=False):
        """Flows of every edge (inductive, resistive, valves, prescribed), in global edge order."""
        st = self.structure
        dtype = p.dtype
        out = [q_ind]
        if st.resistive:
            r, _, s = self._rl(st.resistive, dtype)
            a = np.array([row[2] for row in st.resistive])
            b = np.array([row[3] for row in st.resistive])
            out.append(_resistive_flow(p[a] - p[b], r, s))
        if st.valves:
            out.append(jnp.stack([self.blocks[n].flow(p[a] - p[b]) for n, a, b in st.valves]).astype(dtype))
        if st.flows:
            out.append(jnp.stack([_evaluate(self.blocks[n].get(attr), t, steady) for n, attr, _, _ in st.flows])
                       .astype(dtype))
        return jnp.concatenate(out)

    def _edge_rates(self, t, p, q_ind):
        """dQ/dt of every edge (inductors from their law, prescribed flows from their waveform, others 0)."""
        st = self.structure
        dtype = p.dtype
        out = [self._inductor_rates(p, q_ind)]
        n_other = len(st.resistive) + len(st.valves)
        out.append(jnp.zeros(n_other, dtype))
        if st.flows:
            tt = jnp.asarray(t, dtype)
            out.append(jnp.stack([jax.jvp(lambda s, w=self.blocks[n].get(attr): jnp.asarray(_evaluate(w, s, False), dtype),
                                          (tt,), (jnp.ones_like(tt),))[1] for n, attr, _, _ in st.flows]))
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
        st = self.structure
        a = [row[2] for row in st.inductive + st.resistive] + [row[1] for row in st.valves] + \
            [row[2] for row in st.flows]
        b = [row[3] for row in st.inductive + st.resistive] + [row[2] for row in st.valves] + \
            [row[3] for row in st.flows]
        n = st.n_nodes
        return np.array([n if i < 0 else i for i in a], dtype=np.int32), \
            np.array([n if i < 0 else i for i in b], dtype=np.int32)

    def _inflow(self, q):
        a, b = self._ends()
        z = jnp.zeros(self.structure.n_nodes + 1, q.dtype)
        return z.at[b].add(q).at[a].add(-q)[:-1]

    def pressures(self, t, x, steady=False) -> Float[Array, " nodes"]:
        """Pressure of every point (known ones, then algebraic ones solved for)."""
        st = self.structure
        known = self._known_pressures(t, x, steady)
        if not st.n_alg:
            return known
        q_ind = x[st.n_cap + st.n_chamber:]
        n0 = known.shape[0]

        def residual(p_alg, _):
            p = jnp.concatenate([known, p_alg])
            r = self._inflow(self._edge_flows(t, p, q_ind, steady))[n0:]
            if st.alg_rate:
                # points joined only by inductors: d/dt of their mass balance (linear in p), exact for the ODE and
                # kept by any Runge–Kutta method since the balance is a linear invariant
                rate = self._inflow(self._edge_rates(t, p, q_ind))[n0:]
                r = jnp.where(np.isin(np.arange(st.n_alg), st.alg_rate), rate, r)
            return r

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
        p = self.pressures(t, x, steady)
        n_ind = len(st.inductive)
        q_ind = x[st.n_cap + st.n_chamber:]
        q = self._edge_flows(t, p, q_ind, steady)
        inflow = self._inflow(q)
        parts = []
        if st.n_cap:
            parts.append(inflow[:st.n_cap] / self.node_capacitance(x.dtype)[:st.n_cap])
        if st.n_chamber:
            parts.append(inflow[st.n_cap:st.n_cap + st.n_chamber])
        if n_ind:
            parts.append(self._inductor_rates(p, q_ind))
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), x.dtype)

    # ---- observation
    def observe(self, t, x) -> dict:
        """Pressures of points, edge flows, chamber volumes and port (connection) pressures and flows at one time."""
        st = self.structure
        p = self.pressures(t, x)
        q = self._edge_flows(t, p, x[st.n_cap + st.n_chamber:])
        dx = self.rhs(t, x)
        dp = jnp.concatenate([dx[:st.n_cap], jnp.zeros(st.n_chamber, x.dtype),
                              self._pressure_rates(t, x.dtype), jnp.zeros(st.n_alg, x.dtype)]) \
            if st.n_nodes else jnp.zeros(0, x.dtype)
        dv = dx[st.n_cap:st.n_cap + st.n_chamber]
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
                    val = val + c * jnp.asarray(self.blocks[blk].get(kind[2]), x.dtype) * dp[kind[1]]
                else:
                    val = val + c * dv[kind[1]]
            port_q.append(val)
        return {
            "pressure": p, "flow": q, "volume": x[st.n_cap:st.n_cap + st.n_chamber],
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

    def blood_volume(self, x) -> Array:
        """Stored volume Σ C·P (capacitors, relative to zero pressure) + Σ V (chambers): conserved in a closed loop."""
        st = self.structure
        c = self.node_capacitance(x.dtype)[:st.n_cap]
        return jnp.sum(c * x[:st.n_cap]) + jnp.sum(x[st.n_cap:st.n_cap + st.n_chamber])

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

    def steady_state(self, x0=None, *, dtype=None):
        """The steady state with every waveform at its mean (svZeroDSolver's ``steady_initial``); needs a pressure
        reference and no chambers."""
        st = self.structure
        if st.n_chamber:
            raise NetworkError("steady initial state: the network has chambers, whose elastance never settles; give "
                               "initial conditions instead")
        if not st.n_pressure:
            raise NetworkError("steady initial state: the network has no prescribed or distal pressure, so its "
                               "pressure level is undetermined; give initial conditions instead")
        x0 = self.initial_state(dtype=dtype) if x0 is None else x0
        tol = 1e-10 if x0.dtype == jnp.float64 else 1e-5
        n_state, n_alg = st.n_state, st.n_alg

        def fn(zz, _):   # mass balance at every non-prescribed point, and each inductor's law, with dQ/dt = 0
            x, p_alg = zz[:n_state], zz[n_state:]
            p = jnp.concatenate([self._known_pressures(0.0, x, True), p_alg])
            q_ind = x[st.n_cap:]
            inflow = self._inflow(self._edge_flows(0.0, p, q_ind, True))
            n0 = st.n_nodes - n_alg
            return jnp.concatenate([inflow[:st.n_cap], self._inductor_rates(p, q_ind)
                                    * self._rl(st.inductive, x.dtype)[1], inflow[n0:]])

        z0 = jnp.concatenate([x0, jnp.full((n_alg,), jnp.mean(x0[:st.n_cap]) if st.n_cap else 0.0, x0.dtype)])
        sol = optx.root_find(fn, optx.Newton(rtol=tol, atol=tol * 1e-3), z0, max_steps=100, throw=False)
        return sol.value[:n_state]


def _evaluate(w, t, steady):
    if isinstance(w, Waveform):
        return w.mean() if steady else w(t)
    return w
