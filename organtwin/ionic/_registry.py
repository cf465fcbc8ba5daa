"""Ionic models by name (the names the command line and case files use)."""

from __future__ import annotations

from collections.abc import Callable

from .._errors import InputError
from ._aliev_panfilov import AlievPanfilov1996
from ._base import AbstractIonicModel
from ._bueno_orovio import BuenoOrovio2008
from ._fenton_karma import FentonKarma1998
from ._mitchell_schaeffer import MitchellSchaeffer2003
from ._tentusscher2006 import TenTusscher2006

__all__ = ["MODEL_NAMES", "model_from_name"]

_FACTORIES: dict[str, Callable[[], AbstractIonicModel]] = {
    "aliev-panfilov": AlievPanfilov1996,
    "mitchell-schaeffer": MitchellSchaeffer2003,
    "fenton-karma": FentonKarma1998.beeler_reuter,
    "bueno-orovio-epi": BuenoOrovio2008.epicardial,
    "bueno-orovio-endo": BuenoOrovio2008.endocardial,
    "bueno-orovio-mid": BuenoOrovio2008.midmyocardial,
    "tentusscher2006-epi": TenTusscher2006.epicardial,
    "tentusscher2006-endo": TenTusscher2006.endocardial,
    "tentusscher2006-mid": TenTusscher2006.midmyocardial,
}

MODEL_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def model_from_name(name: str, **overrides) -> AbstractIonicModel:
    """A model (with its preset) by name, e.g. ``model_from_name("tentusscher2006-epi", g_Kr=0.1)``."""
    key = str(name).strip().lower().replace("_", "-")
    try:
        factory = _FACTORIES[key]
    except KeyError:
        raise InputError(f"unknown ionic model {name!r}; choose one of: {', '.join(MODEL_NAMES)}") from None
    return factory(**overrides)
