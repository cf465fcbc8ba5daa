"""The parameters of Regazzoni et al. 2022's closed-loop circulation, named, with units and their source.

F. Regazzoni, M. Salvador, P.C. Africa, M. Fedele, L. Dedè, A. Quarteroni, "A cardiac electromechanical model coupled
with a lumped-parameter model for closed-loop blood circulation", J. Comput. Phys. 457 (2022) 111083,
doi:10.1016/j.jcp.2022.111083; section 2.3 and Table 2 / Appendix (docs/regazzoni2022.md gives the source of each
value). Units mmHg, mL, s: elastance mmHg/mL, resistance mmHg·s/mL, compliance mL/mmHg, inertance mmHg·s²/mL.

`Regazzoni2022()` holds the published values; ``p.replace("LV.e_active", 2.0)`` (also ``"period"``,
``"initial.volume.LV"``) gives a copy with one value changed, checked against the parameters that exist (what
``organtwin flow circulation --param`` and the calibration's case files use); ``p.as_dict()`` the nested dict that
summary.json records (and the former ``REGAZZONI2022`` dict).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import equinox as eqx

from ..._errors import NetworkError

__all__ = [
    "REGAZZONI2022",
    "ChamberParameters",
    "InitialConditions",
    "Regazzoni2022",
    "VascularParameters",
    "ValveParameters",
]


def _q(unit: str, what: str, default: Any = dataclasses.MISSING):
    """A parameter field with its unit and meaning in the field's metadata (`Regazzoni2022.units`)."""
    if default is dataclasses.MISSING:
        return eqx.field(metadata={"unit": unit, "doc": what})
    return eqx.field(default=default, metadata={"unit": unit, "doc": what})


class ChamberParameters(eqx.Module):
    """One chamber (final): p = (EA·e(t) + EB)(V − V0), e(t) the double cosine contracting at t_C for T_C and
    relaxing for T_R (`DoubleCosine`)."""

    e_active: float = _q("mmHg/mL", "EA, active elastance")
    e_passive: float = _q("mmHg/mL", "EB, passive elastance")
    v0: float = _q("mL", "V0, rest volume")
    t_c: float = _q("s", "t_C, contraction start in the beat")
    T_c: float = _q("s", "T_C, contraction duration")
    T_r: float = _q("s", "T_R, relaxation duration")


class ValveParameters(eqx.Module):
    """The four valves (final): resistance Rmin open, Rmax closed."""

    r_min: float = _q("mmHg*s/mL", "Rmin, open valve", 0.0075)
    r_max: float = _q("mmHg*s/mL", "Rmax, closed valve", 75006.2)


class VascularParameters(eqx.Module):
    """A circulation, systemic or pulmonary (final): arterial and venous compartments, each a compliance C then a
    resistance R and an inertance L in series."""

    r_ar: float = _q("mmHg*s/mL", "R_AR, arterial resistance")
    c_ar: float = _q("mL/mmHg", "C_AR, arterial compliance")
    l_ar: float = _q("mmHg*s^2/mL", "L_AR, arterial inertance")
    r_ven: float = _q("mmHg*s/mL", "R_VEN, venous resistance")
    c_ven: float = _q("mL/mmHg", "C_VEN, venous compliance")
    l_ven: float = _q("mmHg*s^2/mL", "L_VEN, venous inertance")


def _default_volume() -> dict[str, float]:
    return {"LA": 65.0, "LV": 120.0, "RA": 65.0, "RV": 145.0}


def _default_pressure() -> dict[str, float]:
    return {"c:sys_art": 80.0, "c:sys_ven": 30.0, "c:pul_art": 35.0, "c:pul_ven": 24.0}


class InitialConditions(eqx.Module):
    """The initial state (final): chamber volumes (mL) by chamber, compartment pressures (mmHg) by point."""

    volume: dict[str, float] = eqx.field(default_factory=_default_volume, metadata={"unit": "mL", "doc": "V(0)"})
    pressure: dict[str, float] = eqx.field(default_factory=_default_pressure, metadata={"unit": "mmHg", "doc": "p(0)"})


class Regazzoni2022(eqx.Module):
    """Regazzoni et al. 2022's closed loop, its published parameters by default (final). Chamber timing: contraction
    starts at t_C (s into the beat), lasts T_C, relaxation lasts T_R; ``period`` the heart period (s).

    `regazzoni2022` builds the loop from it (``regazzoni2022(params=Regazzoni2022().replace("LV.e_active", 2.0))``).
    """

    citation: ClassVar[str] = (
        "F. Regazzoni, M. Salvador, P.C. Africa, M. Fedele, L. Dedè, A. Quarteroni, A cardiac electromechanical model "
        "coupled with a lumped-parameter model for closed-loop blood circulation, J. Comput. Phys. 457 (2022) "
        "111083, doi:10.1016/j.jcp.2022.111083"
    )

    period: float = _q("s", "T, heart period", 0.8)
    LA: ChamberParameters = eqx.field(
        default_factory=lambda: ChamberParameters(0.07, 0.09, 4.0, 0.6, 0.104, 0.68), metadata={"doc": "left atrium"}
    )
    LV: ChamberParameters = eqx.field(
        default_factory=lambda: ChamberParameters(2.75, 0.08, 5.0, 0.0, 0.272, 0.12), metadata={"doc": "left ventricle"}
    )
    RA: ChamberParameters = eqx.field(
        default_factory=lambda: ChamberParameters(0.06, 0.07, 4.0, 0.6, 0.104, 0.68), metadata={"doc": "right atrium"}
    )
    RV: ChamberParameters = eqx.field(
        default_factory=lambda: ChamberParameters(0.55, 0.05, 10.0, 0.0, 0.272, 0.12),
        metadata={"doc": "right ventricle"},
    )
    valves: ValveParameters = eqx.field(default_factory=ValveParameters, metadata={"doc": "the four valves"})
    sys: VascularParameters = eqx.field(
        default_factory=lambda: VascularParameters(0.8, 1.2, 5e-3, 0.26, 60.0, 5e-4),
        metadata={"doc": "systemic circulation"},
    )
    pul: VascularParameters = eqx.field(
        default_factory=lambda: VascularParameters(0.1625, 10.0, 5e-4, 0.1625, 16.0, 5e-4),
        metadata={"doc": "pulmonary circulation"},
    )
    initial: InitialConditions = eqx.field(default_factory=InitialConditions, metadata={"doc": "initial state"})

    # ---- paths
    def get(self, path: str) -> Any:
        """The value (or group) at ``path``, e.g. ``"LV.e_active"``, ``"initial.volume.LV"``."""
        node: Any = self
        for k in path.split("."):
            node = _child(node, k, path)
        return node

    def replace(self, path: str, value: float) -> Regazzoni2022:
        """A copy with the parameter at ``path`` set to ``value`` (a number). One-line `NetworkError` naming what
        exists when the path names no parameter, or names a group."""
        keys = path.split(".")
        node: Any = self
        for depth, k in enumerate(keys):
            if not _has(node, k):
                where = ".".join(keys[:depth]) or "the preset"
                known = ", ".join(_names(node)) if _is_group(node) else "none (a number)"
                raise NetworkError(f"{where} has no parameter {k!r}; known: {known}")
            node = _child(node, k, path)
        if _is_group(node):
            names = _names(node)
            raise NetworkError(
                f"{path} is a group ({', '.join(names)}); give one of its parameters, e.g. {path}.{names[0]}=VALUE"
            )
        return _set(self, keys, value)

    def merge(self, overrides: dict) -> Regazzoni2022:
        """A copy with the entries of a nested dict put in (``{"LV": {"e_active": 2.0}, "period": 0.9}``; a nested
        dict overrides only the keys it names). One-line `NetworkError` for an unknown name."""
        out = self
        for path, v in _flatten(overrides, self, ""):
            out = _set(out, path.split("."), v)
        return out

    def as_dict(self) -> dict:
        """The nested dict of every parameter (what summary.json records under ``parameters``)."""
        return _as_dict(self)

    @classmethod
    def units(cls) -> dict[str, str]:
        """{path: unit} of every parameter, e.g. ``{"LV.e_active": "mmHg/mL", ...}``."""
        return dict(_units(cls(), ""))


# ------------------------------------------------------------------------------------------------- path helpers
def _is_group(node) -> bool:
    return isinstance(node, (eqx.Module, dict))


def _names(node) -> list[str]:
    if isinstance(node, dict):
        return list(node)
    return [f.name for f in dataclasses.fields(node)]


def _has(node, k: str) -> bool:
    return _is_group(node) and k in _names(node)


def _child(node, k: str, path: str):
    if not _has(node, k):
        raise NetworkError(f"regazzoni2022: unknown parameter {path}")
    return node[k] if isinstance(node, dict) else getattr(node, k)


def _set(node, keys: list[str], value) -> Any:
    k, rest = keys[0], keys[1:]
    new = value if not rest else _set(_child(node, k, ".".join(keys)), rest, value)
    if isinstance(node, dict):
        return {**node, k: new}
    return dataclasses.replace(node, **{k: new})


def _flatten(over: dict, base, where: str):
    """(path, value) for every leaf of the nested overrides ``over``, checked against ``base`` (the messages of the
    former dict preset: "regazzoni2022: unknown parameter LV.emax; known: ...")."""
    for k, v in over.items():
        name = f"{where}{k}"
        if not _has(base, k):
            what = "parameter group" if not where else "parameter"
            raise NetworkError(f"regazzoni2022: unknown {what} {name}; known: {', '.join(_names(base))}")
        child = _child(base, k, name)
        if _is_group(child):
            if not isinstance(v, dict):
                raise NetworkError(f"regazzoni2022: {name} is a group ({', '.join(_names(child))}); give a dict")
            yield from _flatten(v, child, f"{name}.")
        else:
            yield name, v


def _as_dict(node):
    if isinstance(node, dict):
        return {k: _as_dict(v) for k, v in node.items()}
    if isinstance(node, eqx.Module):
        return {f.name: _as_dict(getattr(node, f.name)) for f in dataclasses.fields(node)}
    return node


def _units(node, where: str):
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, eqx.Module):
            yield from _units(v, f"{where}{f.name}.")
        elif isinstance(v, dict):
            for k in v:
                yield f"{where}{f.name}.{k}", f.metadata.get("unit", "")
        else:
            yield f"{where}{f.name}", f.metadata.get("unit", "")


#: The published parameters as a nested dict (``Regazzoni2022().as_dict()``), for code that reads the former preset.
REGAZZONI2022 = Regazzoni2022().as_dict()
