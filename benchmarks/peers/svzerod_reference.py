"""Reference outputs of the svZeroDSolver peer (PyPI ``svzerod``) for the 0D configs in tests/data/zerod.

Run with the peer venv's python (benchmarks/peers/setup_svzerod.sh)::

    /work/peers/svzerod/bin/python benchmarks/peers/svzerod_reference.py tests/data/zerod [--only NAME ...] [--no-check]

For every ``<dir>/<name>.json`` it writes ``<dir>/ref/<name>.csv`` (svzerod's vessel-based layout, its default) and
``<dir>/ref/<name>_variables.csv`` (``output_variable_based: true``), both holding svzerod's last cardiac cycle only (its
default), byte for byte as svzerod's own CSV writer formats them (they come from ``svzerodsolver config out.csv``). It also
reruns each config with ``output_all_cycles`` and checks that the last cycle is periodic: for every variable, max|y_last -
y_previous| / max|y_last| < 1e-4 (``--no-check`` skips this). A summary (svzerod version, steps, periodicity) goes to
``<dir>/ref/manifest.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import svzerod

PERIODIC_TOL = 1e-4


def run_cli(config: dict, out_csv: Path) -> None:
    """Run svzerod's own CLI (``svzerodsolver config.json out.csv``) so the CSV is svzerod's exact text."""
    cli = Path(sys.executable).with_name("svzerodsolver")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps(config))
        subprocess.run([str(cli), str(cfg), str(out_csv)], check=True, stdout=subprocess.DEVNULL)


def cycle_change(config: dict) -> tuple[float, str]:
    """Largest relative change between the last two cycles over all variables, and the variable where it occurs."""
    c = copy.deepcopy(config)
    sp = c["simulation_parameters"]
    sp.update(output_all_cycles=True, output_variable_based=True)
    sp.pop("output_interval", None)
    df = svzerod.simulate(c)
    n = sp["number_of_time_pts_per_cardiac_cycle"]
    worst, where = 0.0, ""
    for name, g in df.groupby("name", sort=False):
        y = g["y"].to_numpy()
        last, prev = y[-n:], y[-2 * n + 1 : -n + 1]
        rel = float(np.abs(last - prev).max() / max(np.abs(last).max(), 1e-300))
        if rel > worst:
            worst, where = rel, name
    return worst, where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config_dir", type=Path)
    ap.add_argument("--only", nargs="*", help="config names (without .json); default: all")
    ap.add_argument("--no-check", action="store_true", help="skip the periodicity check")
    args = ap.parse_args()

    out = args.config_dir / "ref"
    out.mkdir(exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest["svzerod_version"] = svzerod.__version__
    manifest["command"] = (
        "svzerodsolver <config>.json ref/<name>.csv; the same with simulation_parameters.output_variable_based = true "
        "for ref/<name>_variables.csv (benchmarks/peers/svzerod_reference.py)"
    )
    cases = manifest.setdefault("cases", {})
    failed = []
    for path in sorted(args.config_dir.glob("*.json")):
        name = path.stem
        if args.only and name not in args.only:
            continue
        config = json.loads(path.read_text())
        sp = config["simulation_parameters"]
        run_cli(config, out / f"{name}.csv")
        var_cfg = copy.deepcopy(config)
        var_cfg["simulation_parameters"]["output_variable_based"] = True
        run_cli(var_cfg, out / f"{name}_variables.csv")
        n, cycles = sp["number_of_time_pts_per_cardiac_cycle"], sp["number_of_cardiac_cycles"]
        entry = {
            "number_of_cardiac_cycles": cycles,
            "number_of_time_pts_per_cardiac_cycle": n,
            "time_steps": (n - 1) * cycles,
            "output_interval": sp.get("output_interval", 1),
            "steady_initial": sp.get("steady_initial", True),
            "csv_bytes": (out / f"{name}.csv").stat().st_size,
            "variables_csv_bytes": (out / f"{name}_variables.csv").stat().st_size,
        }
        if not args.no_check:
            rel, where = cycle_change(config)
            entry["last_cycle_rel_change"] = rel
            entry["last_cycle_rel_change_at"] = where
            if rel >= PERIODIC_TOL:
                failed.append(name)
        cases[name] = entry
        print(name, json.dumps(entry))
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    if failed:
        sys.exit(f"not periodic to {PERIODIC_TOL}: {', '.join(failed)}")


if __name__ == "__main__":
    main()
