"""Quantities with units in case files: ``0.02``, ``"0.02 ms"``, ``"20 us"``, ``"0.17 S/m"``, ``"1.7 mS/cm"``.

A plain number is taken in the documented unit of its key (the house units: mm, ms, mV, S/m, 1/mm, µF/cm², µA/cm³). A
string is a number followed by a unit; a unit of the same kind is converted (s -> ms, cm -> mm, mS/cm -> S/m), a unit of
another kind (``"0.5 mm"`` for a time) or an unknown unit is a `UnitError` whose one-line message names what was expected.
Unit spelling: ``u``, ``µ`` and ``μ`` are the same prefix; ``^2``, ``2`` and ``²`` the same power; spaces are ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .._errors import UnitError as UnitError

__all__ = ["Dimension", "UnitError", "parse_quantity", "format_quantity", "DIMENSIONS", "unit_kind"]


@dataclass(frozen=True)
class Dimension:
    """A kind of quantity: its name, its house unit and the accepted units with their factors to the house unit."""

    name: str
    unit: str
    factors: tuple[tuple[str, float], ...]

    def factor(self, unit: str) -> float | None:
        key = _normalise(unit)
        for u, f in self.factors:
            if _normalise(u) == key:
                return f
        return None

    @property
    def accepted(self) -> str:
        return ", ".join(u for u, _ in self.factors)


def _normalise(unit: str) -> str:
    u = unit.strip().replace(" ", "").replace("µ", "u").replace("μ", "u").replace("²", "2").replace("³", "3")
    u = u.replace("**", "").replace("^", "").replace("⁻¹", "-1").replace("·", "*")
    if u.startswith("1/"):
        u = u[1:]
    return u


TIME = Dimension("time", "ms", (("ms", 1.0), ("s", 1e3), ("us", 1e-3), ("min", 6e4)))
LENGTH = Dimension("length", "mm", (("mm", 1.0), ("cm", 10.0), ("m", 1e3), ("um", 1e-3)))
CONDUCTIVITY = Dimension(
    "conductivity",
    "S/m",
    (("S/m", 1.0), ("mS/cm", 0.1), ("mS/mm", 1.0), ("S/cm", 100.0), ("mS/m", 1e-3), ("uS/mm", 1e-3)),
)
INV_LENGTH = Dimension(
    "surface-to-volume ratio",
    "1/mm",
    (("1/mm", 1.0), ("mm-1", 1.0), ("1/cm", 0.1), ("cm-1", 0.1), ("1/m", 1e-3), ("m-1", 1e-3), ("1/um", 1e3)),
)
CAPACITANCE = Dimension(
    "capacitance per area",
    "uF/cm^2",
    (("uF/cm^2", 1.0), ("F/m^2", 100.0), ("uF/mm^2", 100.0), ("nF/mm^2", 0.1), ("pF/um^2", 1e2)),
)
CURRENT_DENSITY = Dimension(
    "current per volume",
    "uA/cm^3",
    (("uA/cm^3", 1.0), ("uA/mm^3", 1e3), ("A/m^3", 1.0), ("mA/cm^3", 1e3), ("nA/mm^3", 1.0)),
)
CURRENT_PER_CAP = Dimension(
    "current per capacitance", "uA/uF", (("uA/uF", 1.0), ("A/F", 1.0), ("pA/pF", 1.0), ("mV/ms", 1.0))
)
VOLTAGE = Dimension("voltage", "mV", (("mV", 1.0), ("V", 1e3), ("uV", 1e-3)))
VELOCITY = Dimension("velocity", "m/s", (("m/s", 1.0), ("mm/ms", 1.0), ("cm/s", 0.01), ("mm/s", 1e-3), ("um/ms", 1e-3)))
ANGLE = Dimension("angle", "deg", (("deg", 1.0), ("degrees", 1.0), ("rad", 180.0 / math.pi)))

DIMENSIONS = (
    TIME,
    LENGTH,
    CONDUCTIVITY,
    INV_LENGTH,
    CAPACITANCE,
    CURRENT_DENSITY,
    CURRENT_PER_CAP,
    VOLTAGE,
    ANGLE,
    VELOCITY,
)

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$")


def unit_kind(unit: str) -> Dimension | None:
    """The dimension a unit belongs to (None if unknown)."""
    for d in DIMENSIONS:
        if d.factor(unit) is not None:
            return d
    return None


def _expected(dims: tuple[Dimension, ...]) -> str:
    return " or ".join(f"a {d.name} in {d.unit} (accepted units: {d.accepted})" for d in dims)


def parse_quantity(value, dims: Dimension | tuple[Dimension, ...]) -> tuple[float, Dimension]:
    """``(number in the house unit, dimension)`` of a number or a ``"<number> <unit>"`` string.

    ``dims``: the accepted dimension, or several (e.g. a stimulus strength per volume or per capacitance); a plain number
    is taken in the house unit of the first. Raises `UnitError` (one line, without the key: the caller adds it).
    """
    dims = dims if isinstance(dims, tuple) else (dims,)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"expected {_expected(dims)}, got {_show(value)}")
    if isinstance(value, (int, float)):
        x = float(value)
        if not math.isfinite(x):
            raise UnitError(f"expected a finite number, got {value!r}")
        return x, dims[0]
    m = _NUMBER.match(value)
    if m is None:
        raise UnitError(f'expected {_expected(dims)} like "1.5 {dims[0].unit}", got {value!r}')
    x, unit = float(m.group(1)), m.group(2)
    if not unit:
        return x, dims[0]
    for d in dims:
        f = d.factor(unit)
        if f is not None:
            return x * f, d
    other = unit_kind(unit)
    if other is not None:
        raise UnitError(f"{value!r} is a {other.name}; expected {_expected(dims)}")
    raise UnitError(f"unknown unit {unit!r} in {value!r}; expected {_expected(dims)}")


def _show(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return repr(value)


def format_quantity(x: float, dim: Dimension) -> str:
    """``"0.02 ms"``: a value in the house unit as a string that `parse_quantity` reads back exactly."""
    return f"{float(x)!r} {dim.unit}"
