"""Sizes bounded before work (issue 18, item 4): a huge duration, a tiny step, a huge count of snapshots, samples,
points, cycles, beats or nodes is one line naming the numbers, the limit and the fix, through the library and the CLI,
and it comes before any large allocation, Python loop, compilation or gmsh run (each call here is bounded by a
timeout far below what the work would take: the check must come first).

Memory-dependent checks are made deterministic by pretending the machine has 1 GiB available
(`organtwin._sizes.available_memory` patched).
"""

from __future__ import annotations

import json
import math
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from _helpers import unchecked
from cli import one_error_line, run_cli

from organtwin import _sizes
from organtwin._errors import MeshError, NetworkError
from organtwin._sizes import INT32_MAX, SizeError, check_bytes, check_count, count_of

DATA = Path(__file__).parent / "data" / "zerod"
LIMIT = "2,147,483,647"


@contextmanager
def quickly(seconds: float = 20.0):
    """Fail (instead of hanging) if the block takes longer than ``seconds``: the refusal must come before the work.
    Generous: JAX/gmsh imports and a loaded 2-core machine take seconds; the work refused would take minutes to
    forever."""

    def alarm(*_):
        raise TimeoutError(f"not refused within {seconds} s: the check does not come before the work")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.perf_counter() - t0 < seconds


@pytest.fixture
def one_gib(monkeypatch):
    """The machine has 1 GiB available (the checks compare with 80 % of it: 819 MiB)."""
    monkeypatch.setattr(_sizes, "available_memory", lambda: 2**30)


def cli_error(capsys, *argv, rc: int = 1) -> str:
    with quickly():
        code, out, err = run_cli(capsys, *argv)
    assert code == rc, (out, err)
    return one_error_line(err)


# ====================================================================================================== the helpers
def test_count_of_names_the_numbers_the_limit_and_the_fix():
    with pytest.raises(SizeError) as e:
        count_of(1e30, 0.01, what="[time]", total_name="t_end", step_name="dt", name="steps", fix="use a larger dt")
    msg = str(e.value)
    assert msg == (
        f"[time] t_end 1e+30 ms / dt 0.01 ms = 1e+32 steps, above the limit of {LIMIT} steps (int32 "
        "counters under jit); use a larger dt"
    )
    assert count_of(100.0, 0.02, what="") == 5000
    assert count_of(100.0, 0.02, what="", endpoint=True) == 5001
    assert count_of(INT32_MAX * 0.5, 0.5, what="") == INT32_MAX
    with pytest.raises(SizeError, match="above the limit"):
        count_of(INT32_MAX * 0.5 + 1, 0.5, what="")
    with pytest.raises(SizeError, match=r"1e\+300 ms / dt 1e-300 ms = inf steps"):  # 1e300 / 1e-300 overflows to inf
        count_of(1e300, 1e-300, what="", total_name="", step_name="dt")
    for bad in (math.inf, math.nan, -1.0):
        with pytest.raises(SizeError):
            count_of(bad, 1.0, what="")
        with pytest.raises(SizeError):
            count_of(1.0, bad, what="")


def test_check_count_and_check_bytes():
    assert check_count(3.0, what="x:", name="beats") == 3
    with pytest.raises(SizeError, match=r"x: 3,000,000,000 beats, above the limit of 2,147,483,647"):
        check_count(3_000_000_000, what="x:", name="beats")
    with pytest.raises(SizeError, match="whole number"):
        check_count(math.inf, what="x:", name="beats")
    check_bytes(100 * 2**20, what="a", fix="f", available=2**30)  # 100 MiB of 1 GiB: fine
    with pytest.raises(SizeError) as e:
        check_bytes(2 * 2**30, what="a", fix="ask for less", available=2**30)
    assert str(e.value) == "a = 2 GiB, above 819 MiB (80% of the 1 GiB of memory available); ask for less"
    with pytest.raises(SizeError, match=r"above 4 GiB \(the limit for this\)"):
        check_bytes(5 * 2**30, what="a", fix="f", limit=4 * 2**30, available=2**50)
    assert _sizes.available_memory() is None or _sizes.available_memory() > 0


# ====================================================================================================== ep cases
CASE = """
[mesh]
slab = {{ size = [3.0, 1.0, 1.0], dx = 0.5 }}
[conductivity]
sigma_l = "0.17 S/m"
[model]
name = "bueno-orovio-epi"
[[stimulus]]
kind = "surface"
name = "x0"
strength = "50000 uA/cm^3"
[simulation]
duration = "{duration}"
dt = "{dt}"
[record]
{record}
"""


def write_case(tmp_path, duration="1e30 ms", dt="0.02 ms", record='snapshot_every = "1 ms"') -> Path:
    p = tmp_path / "case.toml"
    p.write_text(CASE.format(duration=duration, dt=dt, record=record))
    return p


def test_case_steps_above_int32_refused_when_read(tmp_path):
    from organtwin.io import CaseError, load_case

    with quickly(), pytest.raises(CaseError) as e:  # 5e31 snapshot times would hang building a Python set
        load_case(write_case(tmp_path))
    assert str(e.value) == (
        f"{tmp_path / 'case.toml'}: [simulation] duration 1e+30 ms / dt 0.02 ms = 5e+31 steps, "
        f"above the limit of {LIMIT} steps (the solver counts steps in int32); shorten the run or "
        "use a larger dt (at least 4.66e+20 ms)"
    )


@pytest.mark.parametrize("command", ["check", "run"])
def test_ep_check_and_run_refuse_the_same_way(tmp_path, capsys, command):
    """The issue: `ep check` said "ok" for 5e31 steps and `ep run` failed with an unexpected OverflowError."""
    case = write_case(tmp_path, duration="1e30 ms")
    extra = ["--out", tmp_path / "out"] if command == "run" else []
    line = cli_error(capsys, "ep", command, case, *extra)
    assert "duration 1e+30 ms / dt 0.02 ms = 5e+31 steps, above the limit of 2,147,483,647 steps" in line
    assert "OverflowError" not in line and "unexpected" not in line
    assert not (tmp_path / "out").exists()


def test_case_snapshot_count_refused_before_the_times_are_built(tmp_path, capsys):
    from organtwin.io import CaseError, load_case

    case = write_case(tmp_path, duration="1e7 ms", dt="0.02 ms")  # 5e8 steps (fine), 1e7 snapshots (not)
    with quickly(), pytest.raises(CaseError) as e:
        load_case(case)
    assert (
        "[record] snapshot_every: duration 1e+07 ms / snapshot_every 1 ms = 10,000,001 snapshots, above the limit "
        "of 100,000 (each is a VTU file in vm/); ask for fewer: snapshot_every >= 100 ms"
    ) in str(e.value)
    line = cli_error(capsys, "ep", "check", case)
    assert "10,000,001 snapshots" in line and "100,000" in line


def test_case_snapshots_more_often_than_dt_refused(tmp_path):
    from organtwin.io import CaseError, load_case

    with pytest.raises(CaseError, match=r"snapshot_every: 0.001 ms is shorter than dt \(0.02 ms\)"):
        load_case(write_case(tmp_path, duration="10 ms", record='snapshot_every = "0.001 ms"'))


def test_case_cg_max_steps_within_int32(tmp_path):
    from organtwin.io import CaseError, parse_case

    data = {
        "mesh": {"slab": {"size": [3.0, 1.0, 1.0], "dx": 0.5}},
        "conductivity": {"sigma_l": 0.17},
        "model": {"name": "bueno-orovio-epi"},
        "stimulus": [{"kind": "surface", "name": "x0", "strength": 50000.0}],
        "simulation": {"duration": 5.0, "dt": 0.02, "diffusion": {"kind": "theta", "max_steps": 10**12}},
    }
    with pytest.raises(CaseError, match=r"max_steps: must be at most 2,147,483,647, got 1,000,000,000,000"):
        parse_case(data, source="case.toml")


def test_case_memory_checked_in_check_as_in_run(tmp_path, capsys, one_gib):
    """Snapshots and probe samples against the memory there is, before fibres, tuning or the run; ep check says so."""
    from organtwin.io import CaseError, load_case, prepare_case

    # 1e6 ms at dt 1 ms with one probe every step: 1e6 samples x 2 columns x (2 x 4 B + 12 B) = 38 MiB: fine
    ok = write_case(tmp_path, duration="1e6 ms", dt="1 ms", record="probes = [[1.0, 0.5, 0.5]]")
    cfg = load_case(ok)
    from organtwin.io._prepare import _check_sizes

    _check_sizes(cfg, type("M", (), {"n_nodes": 63})(), np.float32)
    # 1e8 ms: 1e8 samples x 2 x 20 B = 3.7 GiB > 819 MiB
    big = write_case(tmp_path, duration="1e8 ms", dt="1 ms", record="probes = [[1.0, 0.5, 0.5]]")
    with quickly(), pytest.raises(CaseError) as e:
        prepare_case(load_case(big))
    msg = str(e.value)
    assert "[record] 100,000,001 probe samples (one every 1 ms) x 2 columns" in msg, msg
    assert "= 3.73 GiB, above 819 MiB (80% of the 1 GiB of memory available); record probes less often" in msg, msg
    line = cli_error(capsys, "ep", "check", big)
    assert "100,000,001 probe samples" in line and "819 MiB" in line


# ====================================================================================================== ECG
@pytest.fixture(scope="module")
def activation_mesh(tmp_path_factory) -> Path:
    from organtwin.mesh import slab_mesh, write_mesh

    m = slab_mesh((3.0, 1.0, 1.0), 0.5)
    p = tmp_path_factory.mktemp("act") / "act.vtu"
    write_mesh(m.replace(point_data={"activation_time": 2.0 * m.points[:, 0]}), p)
    return p


def test_ecg_times_checked_before_the_arrays(one_gib):
    from organtwin.ecg import ecg_times

    assert ecg_times(450.0, 1.0, 100).size == 450
    assert ecg_times(450.0, 1.0, 100, endpoint=True).size == 451
    with quickly(), pytest.raises(SizeError) as e:
        ecg_times(1e9, 1.0, 63)
    assert str(e.value) == (
        "ECG: Vm of 1,000,000,000 samples x 63 nodes x 4 B x 3 (on the device, its host copy, the "
        "ECG's input) = 704 GiB, above 819 MiB (80% of the 1 GiB of memory available); shorten "
        "the record (--duration, ms) or sample it less often (--dt, ms)"
    )
    with pytest.raises(SizeError, match=r"1e\+15 samples, above the limit of 2,147,483,647 samples"):
        ecg_times(1e15, 1.0, 1)


def test_ecg_cli_huge_duration_is_one_line(capsys, tmp_path, activation_mesh, one_gib):
    """The issue: `ecg --duration 1e9` aborted inside XLA with a native stack."""
    line = cli_error(capsys, "ecg", activation_mesh, "--out", tmp_path / "e", "--duration", "1e9")
    assert "--duration/--dt: Vm of 1,000,000,000 samples x 63 nodes" in line and "819 MiB" in line
    assert not (tmp_path / "e").exists()
    for bad in ("inf", "nan", "-5"):
        line = cli_error(capsys, "ecg", activation_mesh, "--out", tmp_path / "e", "--duration", bad, rc=2)
        assert "--duration must be positive" in line


# ====================================================================================================== cell
def test_cell_steps_beats_and_trace_bounded(capsys):
    from organtwin.ionic import model_from_name, simulate_cell

    m = model_from_name("aliev-panfilov")
    with quickly(), pytest.raises(ValueError) as e:
        simulate_cell(m, dt=1e-12)
    assert str(e.value) == (
        "cell: bcl 1000 ms / dt 1e-12 ms = 1e+15 steps per beat, above the limit of 2,147,483,647 "
        "steps per beat (the beat's step counter is int32 under jit); use a larger dt (at least "
        "4.66e-07 ms) or a shorter bcl"
    )
    line = cli_error(capsys, "cell", "aliev-panfilov", "--beats", "100000000000")
    assert line == (
        "organtwin: error: cell: 100,000,000,000 beats, above the limit of 2,147,483,647 (the beat "
        "counter is int32 under jit); pace fewer beats"
    )
    line = cli_error(capsys, "cell", "aliev-panfilov", "--beats", "10000000")
    assert "cell: 10,000,000 beats x 10,000 samples per beat" in line and "of memory available" in line
    line = cli_error(capsys, "cell", "aliev-panfilov", "--bcl", "1e30")
    assert "bcl 1e+30 ms / dt 0.05 ms = 2e+31 steps per beat" in line
    line = cli_error(capsys, "cell", "aliev-panfilov", "--bcl", "inf")
    assert "bcl must be a positive number of ms, got inf" in line
    line = cli_error(capsys, "cell", "aliev-panfilov", "--stim-amplitude", "nan")
    assert line == "organtwin: error: stim_amplitude must be a finite number of µA/µF, got nan"


def test_cell_default_stride_has_no_long_loop():
    """The default record stride looked for a divisor among 1..0.1/dt: 1e11 iterations at dt 1e-12."""
    from organtwin.ionic._cell import _record_stride

    with quickly(5):
        assert _record_stride(1_000_000_000, 1e-12, None) == 1_000_000_000  # target capped at the beat
        assert _record_stride(2000, 0.5, None) == 1
        assert _record_stride(100_000, 0.01, None) == 10
        assert _record_stride(2 * 1_000_003, 0.1 / 1.5e6, None) == 1_000_003  # the largest divisor <= 1.5e6


# ====================================================================================================== 0D flow
def _svzerod(tmp_path, **sim) -> Path:
    cfg = json.loads((DATA / "pulsatile_rcr.json").read_text())
    cfg["simulation_parameters"].update(sim)
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return p


@pytest.mark.parametrize(
    "sim, words",
    [
        (
            {"number_of_time_pts_per_cardiac_cycle": 10**12},
            "'number_of_time_pts_per_cardiac_cycle' = 1,000,000,000,000 is above the limit of 2,147,483,647",
        ),
        ({"number_of_cardiac_cycles": 1e12}, "'number_of_cardiac_cycles' = 1,000,000,000,000 is above the limit of"),
        ({"number_of_cardiac_cycles": math.inf}, "'number_of_cardiac_cycles' must be a whole number, got inf"),
        ({"number_of_cardiac_cycles": math.nan}, "'number_of_cardiac_cycles' must be a whole number, got nan"),
        ({"number_of_cardiac_cycles": -3}, "'number_of_cardiac_cycles' must be at least 1, got -3"),
        ({"number_of_time_pts_per_cardiac_cycle": 2.5}, "must be a whole number, got 2.5"),
        ({"output_interval": 0}, "'output_interval' must be at least 1, got 0"),
        ({"cardiac_period": math.nan}, "'cardiac_period' must be a finite number of seconds, got nan"),
        (
            {"number_of_time_pts_per_cardiac_cycle": 10**7, "output_interval": 1},
            "number_of_time_pts_per_cardiac_cycle 10,000,000 = 10,000,001 output times x 8 values",
        ),
        (
            {
                "number_of_time_pts_per_cardiac_cycle": 10**5,
                "number_of_cardiac_cycles": 10**4,
                "output_all_cycles": True,
            },
            "number_of_time_pts_per_cardiac_cycle 100,000 x number_of_cardiac_cycles 10,000 / output_interval 10 = "
            "99,999,001 output times",
        ),
    ],
)
def test_svzerod_counts_refused_when_read(tmp_path, capsys, one_gib, sim, words):
    from organtwin.flow.zerod import read_svzerod

    cfg = _svzerod(tmp_path, **sim)
    with quickly(), pytest.raises(NetworkError) as e:
        read_svzerod(cfg)
    assert words in str(e.value)
    line = cli_error(capsys, "flow", "zerod", cfg, tmp_path / "out.csv")
    assert words in line and "unexpected" not in line
    assert not (tmp_path / "out.csv").exists()


def test_svzerod_within_bounds_still_reads(tmp_path, one_gib):
    from organtwin.flow.zerod import read_svzerod

    cfg = read_svzerod(_svzerod(tmp_path, number_of_cardiac_cycles=2.0))  # a whole float is a whole number
    assert (cfg.cycles, cfg.points_per_cycle, cfg.output_interval) == (2, 1001, 10)


def test_circulation_counts_bounded(tmp_path, capsys):
    from organtwin.flow.zerod import regazzoni2022, simulate_circulation

    circ = regazzoni2022()
    with quickly(), pytest.raises(NetworkError) as e:
        simulate_circulation(circ, max_cycles=10**14)
    assert str(e.value) == (
        "circulation: max_cycles = 100,000,000,000,000 is outside [1, 2,147,483,647] (int32 loop "
        "counters under jit); use a smaller number"
    )
    with pytest.raises(NetworkError, match="points_per_cycle = 1 is outside"):
        simulate_circulation(circ, points_per_cycle=1)
    with unchecked(), pytest.raises(NetworkError, match="cycles must be a whole number, got 2.5"):
        simulate_circulation(circ, cycles=2.5)
    line = cli_error(capsys, "flow", "circulation", "--out", tmp_path / "c", "--max-cycles", str(10**14))
    assert "max_cycles = 100,000,000,000,000 is outside [1, 2,147,483,647]" in line
    assert not (tmp_path / "c").exists()


def test_circulation_points_against_memory(one_gib):
    from organtwin.flow.zerod import regazzoni2022, simulate_circulation

    with quickly(), pytest.raises(NetworkError, match=r"circulation: 100,000,000 points per cycle .* above 819 MiB"):
        simulate_circulation(regazzoni2022(), points_per_cycle=10**8)


# ====================================================================================================== mesh generate
@pytest.mark.parametrize(
    "call, words",
    [
        (
            dict(kind="lv", h=1e-6),
            "the LV ellipsoid: h = 1e-06 mm makes about 2.91e+21 nodes (3.23 mL of wall / h^3), "
            "above the limit of 2,097,152 nodes of a generated mesh; use h >= 0.112 mm",
        ),
        (
            dict(kind="lv", h=1e6),
            "the LV ellipsoid: h = 1e+06 mm is larger than the geometry itself (40 mm across); use "
            "h <= 3 mm (the wall thickness; default 1.5 mm)",
        ),
        (dict(kind="biv", h=0.1), "the biventricular geometry: h = 0.1 mm makes about 1.19e+08 nodes"),
        (
            dict(kind="slab", dx=1e-9),
            "has 2e+10 x 7e+09 x 3e+09 cells, above the limit of 2,147,483,647 (int32 indices); "
            "use a larger dx (at least 0.0105 mm)",
        ),
        (dict(kind="slab", dx=1e-320), "has inf x inf x inf cells, above the limit"),
        (
            dict(kind="slab", dx=0.05),
            "slab 20x7x3 mm at dx = 0.05 mm: 2.02e+07 tets x ~250 B = 4.69 GiB, above 819 MiB",
        ),
    ],
)
def test_generate_sizes_refused_before_gmsh_or_numpy(tmp_path, capsys, one_gib, call, words):
    from organtwin.mesh import biv_mesh, lv_ellipsoid_mesh, slab_mesh

    kind = call.pop("kind")
    fn = {"lv": lv_ellipsoid_mesh, "biv": biv_mesh, "slab": slab_mesh}[kind]
    with quickly(), pytest.raises(MeshError) as e:
        fn(**call)
    assert words in str(e.value)
    opt = [f"--{k}" for k in call][0]
    line = cli_error(capsys, "mesh", "generate", kind, opt, repr(list(call.values())[0]), "--out", tmp_path / "g.vtu")
    assert words in line and "unexpected" not in line
    assert not (tmp_path / "g.vtu").exists()


def test_gmsh_failure_is_one_mesh_error_line(tmp_path, capsys):
    """An h gmsh cannot mesh (coarser than the wall) was "unexpected Exception: PLC Error ... (please report this)"."""
    line = cli_error(capsys, "mesh", "generate", "lv", "--h", "15", "--out", tmp_path / "g.vtu")
    assert line == (
        "organtwin: error: gmsh could not mesh the LV ellipsoid at h = 15 mm (PLC Error: A segment and a "
        "facet intersect at point); h is probably too coarse for its 3 mm wall: use h <= 3 mm (default "
        "1.5 mm)"
    )
    for bad in ("nan", "inf"):
        line = cli_error(capsys, "mesh", "generate", "lv", "--h", bad, "--out", tmp_path / "g.vtu")
        assert line == f"organtwin: error: h must be a positive length in mm, got {bad}"
    assert not (tmp_path / "g.vtu").exists()


def test_generators_within_bounds_still_work():
    from organtwin.mesh import slab_mesh

    m = slab_mesh((2.0, 1.0, 1.0), 0.5)
    assert (m.n_nodes, m.n_cells) == (5 * 3 * 3, 6 * 4 * 2 * 2)
