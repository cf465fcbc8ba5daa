"""The closed loop's settings as a user writes them (``organtwin flow circulation --param LV.e_active=2.5 --edv
LV=120,RV=186``): parameter overrides put into the preset by its own `replace` (which checks each path), and the
end-diastolic volumes. Each bad item is one `InputError` naming the option."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypeVar

from .._errors import InputError, NetworkError

__all__ = ["parse_parameter_overrides", "parse_edv"]

P = TypeVar("P")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_parameter_overrides(items: Sequence[str], preset: P) -> tuple[P, dict[str, float]]:
    """``GROUP.KEY=VALUE`` (or ``period=VALUE``, ``initial.volume.LV=VALUE``) -> (the preset with each value put in by
    its ``replace(path, value)``, e.g. `organtwin.flow.zerod.Regazzoni2022.replace`; {path: value} for the summary)."""
    flat: dict[str, float] = {}
    for item in items:
        path, eq, value = item.partition("=")
        path, v = path.strip(), _number(value)
        if not eq or not path or not math.isfinite(v):
            raise InputError(
                f"--param must be GROUP.KEY=VALUE with a finite number, e.g. LV.e_active=2.5 or "
                f"period=0.9, got {item!r}"
            )
        try:
            preset = preset.replace(path, v)  # type: ignore[attr-defined]
        except NetworkError as e:
            raise InputError(f"--param {item}: {e}") from None
        flat[path] = v
    return preset, flat


def parse_edv(text: str | None) -> None | Literal["measured"] | dict[str, float]:
    """``--edv``: None, ``"measured"`` (the cavities of the activation mesh), or {"LV": mL, "RV": mL}."""
    if text is None:
        return None
    if text.strip().lower() == "measured":
        return "measured"
    out: dict[str, float] = {}
    for item in text.replace(" ", "").split(","):
        key, eq, value = item.partition("=")
        v = _number(value)
        if not eq or key.upper() not in ("LV", "RV") or not (math.isfinite(v) and v > 0) or key.upper() in out:
            raise InputError(f"--edv must be 'measured' or LV=VALUE,RV=VALUE in mL (e.g. LV=120,RV=186), got {text!r}")
        out[key.upper()] = v
    return out
