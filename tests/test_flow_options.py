"""organtwin.io's parsers for the closed loop's user settings (--param, --edv), the circulation headline and the
svZeroDSolver CSV writer (moved out of the CLI: issue 19, item 5)."""

from __future__ import annotations

import pytest

from organtwin._errors import InputError
from organtwin.io import circulation_headline, parse_edv, parse_parameter_overrides


class _Preset:
    def __init__(self, values=None):
        self.values = dict(values or {})

    def replace(self, path, value):
        from organtwin._errors import NetworkError

        if path.startswith("XX"):
            raise NetworkError(f"no group XX in {path}")
        return _Preset({**self.values, path: value})


def test_parameter_overrides_go_through_replace():
    preset, flat = parse_parameter_overrides(["LV.e_active=2.5", " period = 0.9"], _Preset())
    assert preset.values == {"LV.e_active": 2.5, "period": 0.9} and flat == {"LV.e_active": 2.5, "period": 0.9}
    assert parse_parameter_overrides([], "unchanged") == ("unchanged", {})


@pytest.mark.parametrize("item, word", [("LV.e_active", "GROUP.KEY=VALUE"), ("=1", "GROUP.KEY"), ("a=nan", "finite")])
def test_parameter_overrides_refuse_garbled_items(item, word):
    with pytest.raises(InputError, match=word):
        parse_parameter_overrides([item], _Preset())


def test_parameter_override_of_an_unknown_path_names_the_item():
    with pytest.raises(InputError, match=r"--param XX.k=1: no group XX"):
        parse_parameter_overrides(["XX.k=1"], _Preset())


def test_edv():
    assert parse_edv(None) is None and parse_edv(" Measured ") == "measured"
    assert parse_edv("lv=120, RV=186") == {"LV": 120.0, "RV": 186.0}
    for bad in ("LV=0", "LV=1,LV=2", "LA=3", "lots"):
        with pytest.raises(InputError, match="--edv must be"):
            parse_edv(bad)


def test_circulation_headline():
    s = {
        "preset": "regazzoni2022",
        "parameter_overrides": {"period": 0.9},
        "period_s": 0.9,
        "cycles_to_periodic_state": 12,
        "cycle_change": 3e-7,
        "timing": {"run_s": 1.25},
        "blood_volume_mL": 5000.04,
        "blood_volume_ptp_mL": 2e-9,
    }
    assert circulation_headline(s) == (
        "regazzoni2022 with period=0.9: period 0.9 s; periodic after 12 cycles (change 3.0e-07) in 1.2 s; "
        "blood volume 5000.0 mL conserved to 2.0e-09 mL"
    )
