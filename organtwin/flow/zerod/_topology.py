"""The topology of a 0D network: which points exist, what sits on them, which edges join them. Built once, on the host,
from the blocks and their connections; static (hashable) in the compiled model.

Every connection ``(upstream, downstream)`` is a point with one pressure and one flow (svZeroDSolver's "node", named
``"upstream:downstream"``). Blocks decompose into capacitors to ground, time-varying elastance chambers, prescribed
pressures, R–L–stenosis edges, valves and prescribed flows on those points; ideal junctions and impedance-free edges merge
points (a union-find over the ports). Points are numbered by kind: capacitor points, chamber points, prescribed-pressure
points, then algebraic points (neither: their pressures make the flows balance, `._algebraic`). Edges are numbered
inductive, resistive, valves, prescribed flows: the global edge order of the right-hand side (`._model`).

Rows are named tuples (``row.block``, ``row.a``, ``row.r``...), never read by position. Which edges are inductive, which
points merge and whether the algebraic balance is linear are decided here from the parameter values at build time; the
parameters themselves stay arrays in the blocks, so gradients flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ..._errors import NetworkError
from ._blocks import (
    RL,
    AbstractBlock,
    BloodVessel,
    BloodVesselJunction,
    Cap,
    ChamberNode,
    FlowEdge,
    Junction,
    OpenLoopCoronary,
    PressureNode,
    ResistanceBC,
    Short,
    StateFlow,
    StateNode,
    States,
    Transfer,
    Valve,
    ValveEdge,
    WindkesselRCR,
)
from ._blocks_chambers import CHAMBER_TYPES

__all__ = [
    "CapRefRow",
    "CapRow",
    "EdgeRow",
    "FlowRow",
    "Network",
    "PortRow",
    "PressureRow",
    "StateFlowRow",
    "StateNodeRow",
    "StatesRow",
    "Storage",
    "Topology",
    "ValveRow",
    "build_topology",
]


# ---------------------------------------------------------------------------------------------------------------- rows
class CapRow(NamedTuple):
    """A capacitor to ground at point ``node``: C = ``blocks[block].<attr>``."""

    block: str
    attr: str
    node: int


class CapRefRow(NamedTuple):
    """A capacitor at capacitor point ``node`` referenced to the waveform ``blocks[block].<ref>`` instead of ground."""

    block: str
    attr: str
    ref: str
    node: int


class PressureRow(NamedTuple):
    """A prescribed pressure ``blocks[block].<attr>`` (a `Waveform` or a number)."""

    block: str
    attr: str


class EdgeRow(NamedTuple):
    """Flow from point ``a`` to ``b`` through R (+ S|Q|) and L: ``r``, ``l``, ``s`` name the block's parameters (None:
    zero); ``entry`` picks one entry of an array parameter (BloodVesselJunction outlets)."""

    block: str
    key: str
    a: int
    b: int
    r: str | None
    l: str | None
    s: str | None
    entry: int | None  # (not `index`: a tuple's method)


class ValveRow(NamedTuple):
    """A valve from point ``a`` to ``b``."""

    block: str
    a: int
    b: int


class FlowRow(NamedTuple):
    """A prescribed flow ``blocks[block].<attr>`` out of point ``a`` into point ``b`` (-1: outside the network)."""

    block: str
    attr: str
    a: int
    b: int


class StateNodeRow(NamedTuple):
    """A point whose pressure is ``blocks[block].state_pressure(key, t, view)`` (a function of the model state)."""

    block: str
    key: str


class StateFlowRow(NamedTuple):
    """An edge from point ``a`` to ``b`` (-1: outside) with flow ``blocks[block].state_flow(key, t, view)``."""

    block: str
    key: str
    a: int
    b: int


class StatesRow(NamedTuple):
    """A block's own states ``names``, at ``offset`` among the states after the inductor flows."""

    block: str
    names: tuple[str, ...]
    offset: int


class Storage(NamedTuple):
    """Where a block's stored volume lives: ``kind`` "cap" (a capacitor at point ``slot``, C = ``attr``, referenced to
    ``ref`` or ground), "vol" (chamber number ``slot``) or "state" (the block's own state number ``slot``)."""

    kind: str
    slot: int
    attr: str | None = None
    ref: str | None = None


class PortRow(NamedTuple):
    """A connection ``name`` = "up:down": its point, and its flow as signed sums of edge flows ``edges`` ((global edge,
    coefficient), ...) and storage rates ``storage`` (((block, key), coefficient), ...); None when not derivable."""

    name: str
    node: int
    edges: tuple | None
    storage: tuple | None


# ------------------------------------------------------------------------------------------------------------ network
@dataclass(frozen=True, init=False)
class Network:
    """A description (immutable): blocks, and (upstream, downstream) connections by block name, checked when given.
    ``compile()`` gives the ODE model (`ZeroDModel`)."""

    blocks: Mapping[str, AbstractBlock]
    connections: tuple[tuple[str, str], ...]

    def __init__(self, blocks, connections):
        named: dict[str, AbstractBlock] = {}
        for b in blocks:
            if not isinstance(b, AbstractBlock):
                raise NetworkError(f"network: {b!r} is not a block")
            if b.name in named:
                raise NetworkError(f"network: two blocks are named {b.name!r}; names must be unique")
            named[b.name] = b
        conns: list[tuple[str, str]] = []
        for up, down in connections:
            for n in (up, down):
                if n not in named:
                    raise NetworkError(f"network: connection {up} -> {down} names unknown block {n!r}")
            if (up, down) in conns:
                raise NetworkError(f"network: connection {up} -> {down} is given twice")
            conns.append((up, down))
        object.__setattr__(self, "blocks", MappingProxyType(named))
        object.__setattr__(self, "connections", tuple(conns))

    def compile(self):
        """The ODE model of this network (`ZeroDModel`)."""
        from ._model import ZeroDModel

        return ZeroDModel(dict(self.blocks), build_topology(dict(self.blocks), list(self.connections)))


# ----------------------------------------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class Topology:
    """Points, edges and ports of a compiled network, with the index tables of the right-hand side (static)."""

    node_names: tuple[str, ...]  # representative name per point
    terminal_nodes: tuple[tuple[str, int], ...]  # (terminal, point) pairs
    n_cap: int
    n_chamber: int
    n_pressure: int
    n_alg: int
    caps: tuple[CapRow, ...]
    chambers: tuple[str, ...]  # block names, in chamber-point order
    pressures: tuple[PressureRow, ...]
    inductive: tuple[EdgeRow, ...]
    resistive: tuple[EdgeRow, ...]
    valves: tuple[ValveRow, ...]
    flows: tuple[FlowRow, ...]
    edge_keys: tuple  # ((block, key), global edge index)
    storage_keys: tuple  # ((block, key), Storage)
    alg_linear: bool  # algebraic points touch only linear resistors / inductors / flows
    alg_rate: tuple[int, ...]  # algebraic points joined only by inductors (index 2)
    ports: tuple[PortRow, ...]
    connections: tuple
    cap_refs: tuple[CapRefRow, ...] = ()  # capacitors referenced to a waveform instead of ground
    state_nodes: tuple[StateNodeRow, ...] = ()  # points after the prescribed ones, pressures from the state
    state_flows: tuple[StateFlowRow, ...] = ()  # edges after the prescribed flows, flows from the state
    states: tuple[StatesRow, ...] = ()  # blocks' own states, after the inductor flows
    alg_floating: tuple[tuple[int, ...], ...] = ()  # algebraic clusters joined to the rest only by inductors
    transfers: tuple[tuple[int, int, float], ...] = ()  # (a, b, share): b also receives share × a's net inflow
    alg_sqrt: bool = False  # an algebraic point touches a stenosis with R = 0 (Q ∝ √ΔP: more Newton steps)

    @property
    def n_state_node(self) -> int:
        return len(self.state_nodes)

    @property
    def n_internal(self) -> int:
        """How many states blocks hold of their own (`States`), the last entries of the state vector."""
        return sum(len(row.names) for row in self.states)

    @property
    def n_nodes(self) -> int:
        return self.n_cap + self.n_chamber + self.n_pressure + self.n_state_node + self.n_alg

    @property
    def n_known(self) -> int:
        """Points whose pressure is known from the state or prescribed (all but the algebraic ones)."""
        return self.n_nodes - self.n_alg

    @property
    def n_state(self) -> int:
        return self.n_cap + self.n_chamber + len(self.inductive) + self.n_internal

    @property
    def n_edges(self) -> int:
        return len(self.inductive) + len(self.resistive) + len(self.valves) + len(self.flows) + len(self.state_flows)

    # ---- index tables for the ODE's hot path (host side, built once per topology; numpy constants when traced)
    @cached_property
    def edge_ends(self):
        """(a, b): the upstream and downstream point of every edge in global edge order (n_nodes: outside)."""
        rows = self.inductive + self.resistive + self.valves + self.flows + self.state_flows
        n = self.n_nodes
        a = np.array([n if r.a < 0 else r.a for r in rows], dtype=np.int32)
        b = np.array([n if r.b < 0 else r.b for r in rows], dtype=np.int32)
        return a, b

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
        for a, b, share in self.transfers:  # b also receives share × a's net inflow (like terms merged, zeros dropped)
            merged: dict = {}
            for e, c in rows[b] + [(e, share * c) for e, c in rows[a]]:
                merged[e] = merged.get(e, 0.0) + c
            rows[b] = [(e, c) for e, c in merged.items() if c]
        k = max([len(r) for r in rows] + [1])
        edge = np.full((self.n_nodes, k), self.n_edges, dtype=np.int32)
        sign = np.zeros((self.n_nodes, k))
        for n, r in enumerate(rows):
            for j, (e, c) in enumerate(r):
                edge[n, j], sign[n, j] = e, c
        return edge, sign

    @cached_property
    def alg_diagonal(self) -> bool:
        """Whether the algebraic points' mass balances are linear and decoupled: every edge whose flow depends on an
        algebraic point's pressure (a linear resistor at a point of index 1, an inductor's rate at a point of index 2)
        ends at a known point. Their pressures are then one division each: p = -r(0) / (∂r/∂p)."""
        if not (self.n_alg and self.alg_linear):
            return False
        if any(b >= self.n_known for _, b, _ in self.transfers):  # its balance takes in another point's edges
            return False
        n0 = self.n_known
        rate = {n0 + i for i in self.alg_rate}
        if any(row.a >= n0 and row.b >= n0 for row in self.resistive):
            return False
        for row in self.inductive:
            ends = (row.a, row.b)
            if any(e in rate for e in ends) and all(e >= n0 for e in ends):
                return False
        return True


def _is_zero(block, attr, index) -> bool:
    """Whether the parameter ``attr`` of ``block`` (entry ``index``) is zero at build time (None: an absent one)."""
    if attr is None:
        return True
    v = np.asarray(block.get(attr))
    v = v if index is None else v[index]
    return float(v) == 0.0


def _check_ports(name: str, b: AbstractBlock, inlets: list, outlets: list) -> None:
    """Each block's connections, against what it takes (one line naming the block and what to fix)."""
    if len(inlets) > b.max_inlets or len(outlets) > b.max_outlets:
        raise NetworkError(
            f"block {name}: {len(inlets)} inlets and {len(outlets)} outlets, but it takes at "
            f"most {b.max_inlets} and {b.max_outlets}; check the connections"
        )
    if not (inlets or outlets):
        raise NetworkError(f"block {name} is not connected to anything; connect it or remove it")
    if isinstance(b, Valve) and not (inlets and outlets):
        raise NetworkError(f"valve {name} needs an upstream and a downstream block")
    if isinstance(b, (BloodVessel, BloodVesselJunction)) and not (inlets and outlets):
        raise NetworkError(f"block {name} needs an inlet and an outlet connection")
    if isinstance(b, (WindkesselRCR, ResistanceBC, OpenLoopCoronary)) and not inlets:
        raise NetworkError(f"boundary condition {name} must sit at an outlet (downstream of a block)")


class _Points:
    """Union-find over port terminals (private: used only while a topology is built)."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def build_topology(blocks: dict, connections: list) -> Topology:
    """The `Topology` of blocks joined by (upstream, downstream) connections; one-line `NetworkError` for a malformed
    network (a port used too often, a dangling valve, two chambers or prescribed pressures on one point, a point whose
    pressure nothing determines)."""
    inlets = {n: [] for n in blocks}
    outlets = {n: [] for n in blocks}
    for up, down in connections:
        t = f"{up}:{down}"
        outlets[up].append(t)
        inlets[down].append(t)
    decomps = {}
    for name, b in blocks.items():
        _check_ports(name, b, inlets[name], outlets[name])

        def shorted(e, b=b):
            return all(_is_zero(b, a, e.index) for a in (e.r, e.l, e.s))

        decomps[name] = b.decompose(inlets[name], outlets[name], shorted)

    points = _Points()
    edges = []  # (block, element)
    for name, d in decomps.items():
        b = blocks[name]
        for e in d.elements:
            for t in _terminals(e):
                points.find(t)
            if isinstance(e, Short):
                points.union(e.a, e.b)
            elif isinstance(e, RL) and all(_is_zero(b, a, e.index) for a in (e.r, e.l, e.s)):
                points.union(e.a, e.b)
            elif isinstance(e, (RL, ValveEdge, FlowEdge, StateFlow)):
                edges.append((name, e))
    find = points.find
    roots = sorted({find(t) for t in points.parent})
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
            elif isinstance(e, StateNode):
                if kind[find(e.term)]:
                    raise NetworkError(
                        f"block {name}: its point {e.term} meets a capacitor, a chamber or a prescribed pressure "
                        "with no resistance between them; give the block or its neighbour a resistance"
                    )
                kind[find(e.term)].add("state")
                label[find(e.term)] = e.term
    for r, k in kind.items():
        if "chamber" in k and ({"cap", "pressure"} & k):
            raise NetworkError(
                f"point {label.get(r, r)}: a chamber meets a capacitor or a prescribed pressure with no "
                "resistance between them; give the vessel a resistance"
            )
        if "state" in k and len(k) > 1:
            raise NetworkError(
                f"point {label.get(r, r)}: a block's state point meets a capacitor, a chamber or a prescribed "
                "pressure with no resistance between them; give the block or its neighbour a resistance"
            )

    def cls(r):  # point numbering: capacitors, chambers, prescribed pressures, state points, algebraic
        k = kind[r]
        return 2 if "pressure" in k else 1 if "chamber" in k else 0 if "cap" in k else 3 if "state" in k else 4

    order = sorted(roots, key=lambda r: (cls(r), r))
    node_of_root = {r: i for i, r in enumerate(order)}
    counts = [sum(1 for r in roots if cls(r) == c) for c in range(5)]
    node = {t: node_of_root[find(t)] for t in points.parent}
    node_names = tuple(label.get(r, r) for r in order)

    caps: list[CapRow] = []
    chambers: list = [None] * counts[1]
    pressures: list = [None] * counts[2]
    storage: list = []
    cap_refs: list[CapRefRow] = []
    state_nodes: list = [None] * counts[3]
    states: list[StatesRow] = []
    for name, d in decomps.items():
        for e in d.elements:
            if isinstance(e, States):
                off = sum(len(row.names) for row in states)
                states.append(StatesRow(name, tuple(e.names), off))
                for i, nm in enumerate(e.names):
                    storage.append(((name, nm), Storage("state", off + i)))
            elif isinstance(e, StateNode):
                state_nodes[node[e.term] - counts[0] - counts[1] - counts[2]] = StateNodeRow(name, e.key)
            elif isinstance(e, Cap):
                nd = node[e.term]
                caps.append(CapRow(name, e.attr, nd))
                storage.append(((name, e.key), Storage("cap", nd, e.attr, e.ref)))
                if e.ref is not None and nd < counts[0]:  # (on a prescribed pressure it stores, but sets no rate)
                    cap_refs.append(CapRefRow(name, e.attr, e.ref, nd))
            elif isinstance(e, ChamberNode):
                i = node[e.term] - counts[0]
                chambers[i] = name
                storage.append(((name, e.key), Storage("vol", i)))
            elif isinstance(e, PressureNode):
                pressures[node[e.term] - counts[0] - counts[1]] = PressureRow(name, e.attr)
    inductive: list[EdgeRow] = []
    resistive: list[EdgeRow] = []
    valves: list[ValveRow] = []
    flows: list[FlowRow] = []
    state_flows: list[StateFlowRow] = []
    for name, e in edges:
        b = blocks[name]
        if isinstance(e, RL):
            if node[e.a] == node[e.b]:
                continue  # both ends merged: carries no flow of its own
            row = EdgeRow(name, e.key, node[e.a], node[e.b], e.r, e.l, e.s, e.index)
            (resistive if _is_zero(b, e.l, e.index) else inductive).append(row)
        elif isinstance(e, ValveEdge):
            valves.append(ValveRow(name, node[e.a], node[e.b]))
        elif isinstance(e, StateFlow):
            state_flows.append(
                StateFlowRow(name, e.key, -1 if e.a is None else node[e.a], -1 if e.b is None else node[e.b])
            )
        else:
            flows.append(FlowRow(name, e.attr, -1 if e.a is None else node[e.a], -1 if e.b is None else node[e.b]))
    gidx = {}
    for i, row in enumerate(inductive + resistive):
        gidx[(row.block, row.key)] = i
    off = len(inductive) + len(resistive)
    for i, row in enumerate(valves):
        gidx[(row.block, "Q")] = off + i
    off += len(valves)
    for i, row in enumerate(flows):
        gidx[(row.block, "Q")] = off + i
    off += len(flows)
    for i, row in enumerate(state_flows):
        gidx[(row.block, row.key)] = off + i

    # algebraic points need a resistive path
    n0 = counts[0] + counts[1] + counts[2] + counts[3]
    touched = {i: False for i in range(n0, n0 + counts[4])}
    for row in resistive + valves:
        for nd in (row.a, row.b):
            if nd in touched:
                touched[nd] = True
    inductive_only = []
    for nd, ok in touched.items():
        if not ok:
            if any(nd in (row.a, row.b) for row in inductive) and not any(nd in (r.a, r.b) for r in state_flows):
                inductive_only.append(nd - n0)  # index 2: the rate of the mass balance fixes its pressure
                continue
            raise NetworkError(
                f"point {node_names[nd]} has no capacitance, no prescribed pressure and no resistance: "
                "its pressure is undetermined; add a capacitance or a resistance next to it"
            )
    # clusters of algebraic points joined to one another by resistors or valves but to the rest only by inductors (a
    # junction between vessels with inductance and no capacitance): their balances sum to an identity, so the
    # cluster's level is set by the rate of that sum (index 2, as a point joined only by inductors), in place of its
    # first point's balance
    root = {nd: nd for nd in touched}

    def top(x):
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    for row in resistive + valves:
        if row.a in root and row.b in root:
            root[top(row.b)] = top(row.a)
    anchored = {
        top(nd)
        for row in resistive + valves
        for nd, other in ((row.a, row.b), (row.b, row.a))
        if nd in root and other not in root
    }
    members: dict = {}
    for nd in touched:
        members.setdefault(top(nd), []).append(nd)
    alg_floating = []
    for r, nds in members.items():
        if r in anchored or len(nds) < 2:
            continue
        ends = [(row.a, row.b) for row in inductive]
        if not any(a in nds or b in nds for a, b in ends) or any(row.a in nds or row.b in nds for row in state_flows):
            raise NetworkError(
                f"points {', '.join(node_names[nd] for nd in sorted(nds))} are joined to the rest of the network by "
                "no resistance or capacitance: their pressure level is undetermined; add a capacitance or a "
                "resistance next to them"
            )
        alg_floating.append(tuple(nd - n0 for nd in sorted(nds)))
    alg_linear = not any(nd in touched for row in valves for nd in (row.a, row.b)) and not any(
        (row.a in touched or row.b in touched) and not _is_zero(blocks[row.block], row.s, row.entry)
        for row in resistive
    )
    alg_sqrt = any(
        (row.a in touched or row.b in touched)
        and _is_zero(blocks[row.block], row.r, row.entry)
        and not _is_zero(blocks[row.block], row.s, row.entry)
        for row in resistive
    )
    transfers = _transfers(decomps, blocks, node, caps, counts[0], node_names)
    ports: list[PortRow] = []
    skey = dict(storage)
    for up, down in connections:
        t = f"{up}:{down}"
        pf = decomps[up].port_flows.get(t) or decomps[down].port_flows.get(t)
        if pf is None:
            ports.append(PortRow(t, node[t], None, None))
            continue
        src = up if t in decomps[up].port_flows else down
        e_terms = tuple((gidx[(src, key)], c) for key, c in pf.edges if (src, key) in gidx)
        s_terms = tuple(((src, key), c) for key, c in pf.storage if (src, key) in skey)
        ports.append(PortRow(t, node[t], e_terms, s_terms))
    ports = _balance_ports(ports, blocks, inlets, outlets, skey)
    return Topology(
        node_names=node_names,
        terminal_nodes=tuple(sorted(node.items())),
        n_cap=counts[0],
        n_chamber=counts[1],
        n_pressure=counts[2],
        n_alg=counts[4],
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
        alg_sqrt=alg_sqrt,
        alg_rate=tuple(inductive_only),
        ports=tuple(ports),
        connections=tuple(connections),
        cap_refs=tuple(cap_refs),
        state_nodes=tuple(state_nodes),
        state_flows=tuple(state_flows),
        states=tuple(states),
        alg_floating=tuple(alg_floating),
        transfers=transfers,
    )


def _transfers(decomps, blocks, node, caps, n_cap, node_names) -> tuple[tuple[int, int, float], ...]:
    """The (a, b, share) rows of the `Transfer` elements (BloodVesselRC), each after those delivering into its ``a``.
    ``a`` must be a capacitor point; its capacitor's current, share = C / ΣC (the capacitances on the point, at build
    time) of the point's net inflow, goes on to ``b``."""
    pairs = {}
    for name, d in decomps.items():
        for e in d.elements:
            if isinstance(e, Transfer):
                a, b = node[e.a], node[e.b]
                if a >= n_cap or a == b:
                    raise NetworkError(f"block {name}: its inlet point {node_names[a]} holds no capacitance of its own")
                if any(
                    isinstance(x, Cap) and x.ref is not None and node[x.term] == a
                    for dd in decomps.values()
                    for x in dd.elements
                ):
                    raise NetworkError(
                        f"block {name}: its inlet point {node_names[a]} also holds a capacitor referenced to a "
                        "waveform; put a resistance between them"
                    )
                total = sum(float(np.asarray(blocks[row.block].get(row.attr))) for row in caps if row.node == a)
                own = sum(float(np.asarray(blocks[name].get(x.attr))) for x in d.elements if isinstance(x, Cap))
                pairs[a] = (a, b, own / total)
    ordered: list[tuple[int, int, float]] = []
    while pairs:  # a transfer into a point that itself passes its inflow on comes first
        ready = [a for a in pairs if not any(row[1] == a for row in pairs.values())]
        if not ready:
            raise NetworkError("BloodVesselRC blocks joined in a ring with nothing else between them; add a resistance")
        ordered += [pairs.pop(a) for a in sorted(ready)]
    return tuple(ordered)


def _terminals(e) -> tuple[str, ...]:
    """The port terminals an element touches."""
    if isinstance(e, (Cap, ChamberNode, PressureNode, StateNode)):
        return (e.term,)
    if isinstance(e, States):
        return ()
    return tuple(t for t in (e.a, e.b) if t is not None)


def _balance_ports(ports: list[PortRow], blocks, inlets, outlets, skey) -> list[PortRow]:
    """Flows of ports that neither neighbour defines (an ideal junction next to a chamber without an outlet inductor),
    from the mass balance of a neighbour whose other ports are known: a junction's inflows equal its outflows; a
    chamber's inflow is dV/dt plus its outflow. Port flows are linear combinations of edge flows and storage rates, so
    the balance is a sum of terms. Repeated until nothing more can be derived."""
    known = {p.name: (p.edges, p.storage) for p in ports if p.edges is not None}

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
            if isinstance(b, Junction):
                sign_t = 1.0 if t in ins else -1.0  # Σ in − Σ out = 0, solved for t
                terms = [(-sign_t * (1.0 if u in ins else -1.0), known[u]) for u in ins + outs if u != t]
            elif isinstance(b, CHAMBER_TYPES) and len(ins) == 1 and len(outs) <= 1 and (name, "V") in skey:
                dv = ((), (((name, "V"), 1.0),))
                terms = (
                    ([(1.0, dv)] + [(1.0, known[u]) for u in outs]) if t in ins else [(1.0, known[ins[0]]), (-1.0, dv)]
                )
            else:
                continue
            known[t] = combine(terms)
            progress = True
    return [PortRow(p.name, p.node, *known.get(p.name, (None, None))) for p in ports]
