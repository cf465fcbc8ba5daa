"""Case files: units, the schema's checks (one-line errors naming file and key), and the checks that need the mesh."""

import copy
import math

import numpy as np
import pytest
from _helpers import two_region_slab

from organtwin.io import CaseError, load_case, parse_case, parse_quantity, prepare_case
from organtwin.io._units import (
    ANGLE,
    CAPACITANCE,
    CONDUCTIVITY,
    CURRENT_DENSITY,
    CURRENT_PER_CAP,
    INV_LENGTH,
    LENGTH,
    TIME,
    VOLTAGE,
    UnitError,
)

BASE = {
    "mesh": {"slab": {"size": [3.0, 1.0, 1.0], "dx": 0.5}},
    "conductivity": {"sigma_l": "0.17 S/m", "sigma_t": "0.02 S/m"},
    "model": {"name": "bueno-orovio-epi"},
    "stimulus": [{"kind": "surface", "name": "x0", "strength": "50000 uA/cm^3"}],
    "simulation": {"duration": "5 ms", "dt": "0.02 ms"},
}


def case(**changes):
    """BASE with changes: ``{"simulation.dt": 0.5}`` sets, a value of ``DEL`` deletes."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        d = data
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d.setdefault(k, {})
        if value is DEL:
            del d[keys[-1]]
        else:
            d[keys[-1]] = value
    return data


DEL = object()


def error_of(data, source="case.toml") -> str:
    with pytest.raises(CaseError) as e:
        parse_case(data, source=source)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{source}: "), msg
    return msg


# ====================================================================================================== units
@pytest.mark.parametrize(
    "text, dim, expected",
    [
        (0.02, TIME, 0.02),
        ("0.02 ms", TIME, 0.02),
        ("0.5 s", TIME, 500.0),
        ("20 us", TIME, 0.02),
        ("20 µs", TIME, 0.02),
        ("1 cm", LENGTH, 10.0),
        ("1.5mm", LENGTH, 1.5),
        ("250 um", LENGTH, 0.25),
        ("0.001 m", LENGTH, 1.0),
        ("0.17 S/m", CONDUCTIVITY, 0.17),
        ("1.7 mS/cm", CONDUCTIVITY, 0.17),
        ("0.17 mS/mm", CONDUCTIVITY, 0.17),
        ("140 /mm", INV_LENGTH, 140.0),
        ("140 1/mm", INV_LENGTH, 140.0),
        ("1400 /cm", INV_LENGTH, 140.0),
        ("140 mm^-1", INV_LENGTH, 140.0),
        ("1 uF/cm^2", CAPACITANCE, 1.0),
        ("1 µF/cm²", CAPACITANCE, 1.0),
        ("0.01 F/m^2", CAPACITANCE, 1.0),
        ("50000 uA/cm^3", CURRENT_DENSITY, 50000.0),
        ("50 uA/mm^3", CURRENT_DENSITY, 50000.0),
        ("-70 mV", VOLTAGE, -70.0),
        ("-0.07 V", VOLTAGE, -70.0),
        (f"{math.pi} rad", ANGLE, 180.0),
        ("-60 deg", ANGLE, -60.0),
        ("1e-2 ms", TIME, 0.01),
        ("  7  ", LENGTH, 7.0),
    ],
)
def test_unit_strings_convert(text, dim, expected):
    x, d = parse_quantity(text, dim)
    assert d is dim
    assert x == pytest.approx(expected, rel=1e-12)


def test_stimulus_strength_unit_picks_the_kind():
    assert parse_quantity("50 uA/uF", (CURRENT_DENSITY, CURRENT_PER_CAP)) == (50.0, CURRENT_PER_CAP)
    assert parse_quantity(50000, (CURRENT_DENSITY, CURRENT_PER_CAP)) == (50000.0, CURRENT_DENSITY)


@pytest.mark.parametrize(
    "text, dim, words",
    [
        ("0.5 mm", TIME, ["'0.5 mm' is a length", "time in ms"]),
        ("0.17 mm", CONDUCTIVITY, ["is a length", "conductivity in S/m"]),
        ("3 furlongs", LENGTH, ["unknown unit 'furlongs'", "length in mm"]),
        ("fast", TIME, ["expected a time in ms"]),
        (True, TIME, ["boolean true"]),
        ([1, 2], TIME, ["a list"]),
    ],
)
def test_wrong_units_are_one_line_errors(text, dim, words):
    with pytest.raises(UnitError) as e:
        parse_quantity(text, dim)
    for w in words:
        assert w in str(e.value)


# ====================================================================================================== the schema
def test_minimal_case_defaults_and_resolved_units():
    c = parse_case(case(**{"simulation__dt": "20 us", "conductivity__sigma_l": "1.7 mS/cm"}))
    assert c.simulation.dt == pytest.approx(0.02)
    assert c.simulation.duration == 5.0
    assert c.simulation.n_steps == 250
    assert c.simulation.splitting == "godunov" and c.simulation.diffusion.kind == "explicit"
    assert c.simulation.dtype == "float32"
    assert c.conductivity.default.sigma_l == pytest.approx(0.17)
    assert c.tissue.chi == 140.0 and c.tissue.Cm == 1.0
    assert c.fibres.source == "mesh"
    s = c.stimuli[0]
    assert (s.start, s.duration, s.count, s.period, s.per_capacitance) == (0.0, 2.0, 1, None, False)
    assert c.record.activation and not c.record.repolarisation
    assert c.record.snapshot_times(c.simulation.duration) == ()


def test_round_trip_through_the_echo():
    data = case(
        **{
            "fibres": {"source": "mesh"},
            "conductivity": {
                "intra": {"sigma_l": 0.17, "sigma_t": 0.019},
                "extra": {"sigma_l": "6.2 mS/cm", "sigma_t": 0.24},
                "2": {"sigma_l": 0.1},
            },
            "model__parameters": {"tau_si": 1.9},
            "model__RV": {"name": "bueno-orovio-endo"},
            "stimulus": [
                {
                    "kind": "sphere",
                    "centre": ["1 mm", 0, "0.05 cm"],
                    "radius": 0.6,
                    "strength": "30 uA/uF",
                    "period": "300 ms",
                    "count": 2,
                },
                {"kind": "box", "lower": [0, 0, 0], "upper": [1, 1, 1], "strength": 1e4, "start": "1 ms"},
            ],
            "simulation": {
                "duration": "0.6 s",
                "dt": 0.01,
                "splitting": "strang",
                "diffusion": {"kind": "theta", "theta": 1.0, "mass": "lumped"},
                "dtype": "float64",
            },
            "record": {
                "repolarisation": True,
                "snapshots_at": [1, "2 ms"],
                "snapshot_every": "100 ms",
                "probes": [[0, 0, 0], [1, 1, 1]],
                "probe_every": "0.1 ms",
                "repolarisation_threshold": "-0.06 V",
            },
            "tissue": {"chi": "1400 /cm", "Cm": 1.0},
            "title": "round trip",
        }
    )
    c = parse_case(data, source="a.toml", base_dir=".")
    echo = c.to_dict()
    assert echo["simulation"]["dt"] == "0.01 ms"
    assert echo["conductivity"]["intra"]["sigma_l"] == "0.17 S/m"
    assert echo["record"]["probes"] == {"p1": ["0.0 mm"] * 3, "p2": ["1.0 mm"] * 3}
    again = parse_case(echo, source="a.toml", base_dir=".")
    assert again == c
    assert c.conductivity.default.sigma_l == pytest.approx(0.17 * 0.62 / (0.17 + 0.62))
    assert c.stimuli[0].per_capacitance and c.stimuli[0].count == 2
    assert c.record.snapshot_times(c.simulation.duration) == (0.0, 1.0, 2.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0)
    assert c.record.repolarisation_threshold == pytest.approx(-60.0)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"stimulus__0__strenght": 1.0}, ["[stimulus.1] unknown key 'strenght' (did you mean 'strength'?)"]),
        ({"simulaton": {}}, ["case.toml: unknown key 'simulaton' (did you mean 'simulation'?)"]),
        ({"simulation__dtt": 0.1}, ["[simulation] unknown key 'dtt' (did you mean 'dt'?)"]),
        ({"record": {"snapshot_evry": 1.0}}, ["[record] unknown key 'snapshot_evry' (did you mean 'snapshot_every'?)"]),
        ({"mesh": DEL}, ["missing required key 'mesh'"]),
        ({"model": DEL}, ["missing required key 'model'"]),
        ({"conductivity": DEL}, ["missing required key 'conductivity'"]),
        ({"stimulus": DEL}, ["missing required key 'stimulus'", "[[stimulus]]"]),
        ({"simulation__dt": DEL}, ["[simulation] missing required key 'dt'"]),
        ({"stimulus__0__strength": DEL}, ["[stimulus.1] missing required key 'strength'"]),
        ({"simulation__dt": -0.01}, ["[simulation] dt: must be positive, got -0.01 ms"]),
        ({"simulation__dt": "0.5 mm"}, ["[simulation] dt: '0.5 mm' is a length; expected a time in ms"]),
        ({"simulation__dt": "0.5 s"}, ["[simulation] dt: the time step (500 ms) is longer than the run"]),
        ({"simulation__dt": True}, ["[simulation] dt: expected a time in ms", "boolean true"]),
        (
            {"conductivity__sigma_l": "0.17 mm"},
            ["[conductivity] sigma_l: '0.17 mm' is a length; expected a conductivity in S/m"],
        ),
        (
            {"tissue": {"chi": "140 ms"}},
            ["[tissue] chi: '140 ms' is a time; expected a surface-to-volume ratio in 1/mm"],
        ),
        ({"stimulus__0__strength": "5 S/m"}, ["[stimulus.1] strength: '5 S/m' is a conductivity", "uA/cm^3", "uA/uF"]),
        (
            {"simulation__splitting": "strag"},
            ["[simulation] splitting: 'strag' is not one of 'godunov', 'strang' (did you mean 'strang'?)"],
        ),
        (
            {"model__name": "bueno-orovio-epl"},
            ["[model] name: unknown ionic model 'bueno-orovio-epl' (did you mean 'bueno-orovio-epi'?)"],
        ),
        ({"model__parameters": {"tau_si": "fast"}}, ["[model.parameters] tau_si: expected a number"]),
        ({"stimulus__0__kind": "cube"}, ["[stimulus.1] kind: 'cube' is not one of"]),
        ({"stimulus__0__radius": 1.0}, ["[stimulus.1] radius: not used by kind = 'surface'"]),
        ({"stimulus__0__count": 3}, ["[stimulus.1] count: 3 pulses need a 'period'"]),
        ({"stimulus__0__period": 1.0}, ["[stimulus.1] period: must be longer than the pulse duration"]),
        ({"stimulus__0__start": "10 ms"}, ["[stimulus.1] start: 10 ms is not before the end of the run"]),
        (
            {"stimulus": [{"kind": "box", "lower": [0, 0, 0], "upper": [1, 1], "strength": 1.0}]},
            ["[stimulus.1] upper: expected three coordinates in mm"],
        ),
        (
            {"stimulus": [{"kind": "box", "lower": [0, 0, 2], "upper": [1, 1, 1], "strength": 1.0}]},
            ["[stimulus.1] upper: upper[2] = 1 mm is below lower[2] = 2 mm"],
        ),
        ({"stimulus": [{"kind": "nodes", "strength": 1.0}]}, ["[stimulus.1] give exactly one of 'nodes'"]),
        ({"mesh": {"path": "no/such/mesh.vtu"}}, ["[mesh] path: file not found:", "mesh.vtu"]),
        ({"mesh": {"path": "x.vtu", "slab": {"size": [1, 1, 1], "dx": 0.5}}}, ["[mesh] give exactly one of 'path'"]),
        ({"mesh__regions": "1"}, ["[mesh] regions: expected a non-empty list"]),
        ({"conductivity": {"intra": {"sigma_l": 0.1}}}, ["[conductivity] missing required key 'extra'"]),
        ({"conductivity": {"sigma_l": 0.1, "sigma_n": 0.1}}, ["[conductivity] sigma_n: needs sigma_t as well"]),
        (
            {"conductivity": {"sigma_l": 0.1, "intra": {"sigma_l": 0.1}, "extra": {"sigma_l": 0.1}}},
            ["[conductivity] sigma_l: give either"],
        ),
        ({"conductivity": {}}, ["[conductivity] missing required key 'sigma_l'"]),
        ({"fibres": {"source": "none"}}, ["[conductivity] anisotropic conductivity", "needs fibres"]),
        (
            {"fibres": {"source": "mesh", "alpha_endo": 50}},
            ['[fibres] alpha_endo: only used with source = "rule-based"'],
        ),
        ({"fibres": {"source": "file"}}, ["[fibres] missing required key 'path'"]),
        (
            {"simulation__diffusion": {"kind": "theta", "theta": 0.2}},
            ["[simulation.diffusion] theta: must be in [0.5, 1]"],
        ),
        (
            {"simulation__diffusion": {"kind": "explicit", "rtol": 1e-6}},
            ['[simulation.diffusion] rtol: only used with kind = "theta"'],
        ),
        (
            {"record": {"repolarisation": True, "activation": False}},
            ["[record] repolarisation: needs activation = true"],
        ),
        (
            {"record": {"snapshots_at": [1, "9 ms"]}},
            ["[record] snapshots_at[1]: 9 ms is after the end of the run (5 ms)"],
        ),
        ({"record": {"probes": [[0, 0]]}}, ["[record] probes.p1: expected three coordinates"]),
        ({"record": {"probe_every": "1 us"}}, ["[record] probe_every: 0.001 ms is shorter than dt"]),
    ],
)
def test_schema_errors_name_the_key(changes, words):
    msg = error_of(case(**changes))
    for w in words:
        assert w in msg, msg


def test_load_case_file_errors(tmp_path):
    with pytest.raises(CaseError, match="case file not found"):
        load_case(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulation\nduration = 1\n")
    with pytest.raises(CaseError, match=r"bad\.toml: invalid TOML: .*line 1"):
        load_case(bad)
    binary = tmp_path / "mesh.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CaseError, match="not a UTF-8 text file"):
        load_case(binary)


def test_relative_mesh_path_is_relative_to_the_case_file(tmp_path):
    from organtwin.mesh import slab_mesh, write_mesh

    (tmp_path / "meshes").mkdir()
    write_mesh(slab_mesh((2.0, 1.0, 1.0), 0.5), tmp_path / "meshes" / "slab.vtu")
    text = """
[mesh]
path = "meshes/slab.vtu"
[conductivity]
sigma_l = 0.1
[model]
name = "aliev-panfilov"
[[stimulus]]
kind = "surface"
name = "x0"
strength = 50000
[simulation]
duration = 1
dt = 0.01
"""
    (tmp_path / "case.toml").write_text(text)
    c = load_case(tmp_path / "case.toml")
    assert c.mesh.path == (tmp_path / "meshes" / "slab.vtu").resolve()


# ====================================================================================================== with the mesh
@pytest.fixture(scope="module")
def two_region_mesh(tmp_path_factory):
    """A 3 x 1 x 1 mm slab, region 1 'left' (x < 1.5 mm) and 2 'right', a node set 'corner', written as a VTU."""
    from organtwin.mesh import write_mesh

    m = two_region_slab((3.0, 1.0, 1.0), 0.5, {1: "left", 2: "right"}).replace(node_sets={"corner": np.array([0])})
    path = tmp_path_factory.mktemp("mesh") / "two.vtu"
    write_mesh(m, path)
    return path


def mesh_case(path, **changes):
    return case(**{"mesh": {"path": str(path)}, **changes})


def prepare_error(data) -> str:
    config = parse_case(data, source="case.toml")
    with pytest.raises(CaseError) as e:
        prepare_case(config)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("case.toml: "), msg
    return msg


def test_regions_models_and_conductivity_per_region(two_region_mesh):
    data = mesh_case(
        two_region_mesh,
        **{
            "conductivity": {"sigma_l": 0.17, "sigma_t": 0.02, "right": {"sigma_l": 0.3}},
            "model": {"name": "bueno-orovio-epi", "2": {"name": "bueno-orovio-endo", "parameters": {"tau_si": 2.0}}},
            "stimulus": [
                {"kind": "nodes", "name": "corner", "strength": 5e4},
                {"kind": "nodes", "nodes": [1, 2], "strength": 5e4},
            ],
            "record": {"probes": {"mid": [1.5, 0.5, 0.5]}},
        },
    )
    p = prepare_case(parse_case(data, source="case.toml"))
    assert p.region_models == {1: "bueno-orovio-epi", 2: "bueno-orovio-endo"}
    sigma = np.asarray(p.tissue.sigma)
    np.testing.assert_allclose(sigma, [[0.17, 0.02], [0.3, 0.3]], rtol=1e-6)
    assert float(p.tissue.models[1].tau_si) == pytest.approx(2.0)
    assert p.stimulus_nodes == (1, 2)
    assert p.stability_limit > 0.02
    # [mesh] regions keeps one region (by name): the cut mesh has only region 2
    only = prepare_case(
        parse_case(
            mesh_case(two_region_mesh, **{"mesh__regions": ["right"], "stimulus__0__name": "x1"}), source="case.toml"
        )
    )
    assert only.mesh.region_ids.tolist() == [2]
    assert only.mesh.n_nodes < p.mesh.n_nodes


@pytest.mark.parametrize(
    "changes, words",
    [
        (
            {"model__RV": {"name": "bueno-orovio-endo"}},
            ["[model.RV] no region 'RV' in the mesh", "1 'left', 2 'right'"],
        ),
        ({"conductivity__7": {"sigma_l": 0.1}}, ["[conductivity.7] no region 7 in the mesh"]),
        ({"mesh__regions": [1, "rigth"]}, ["[mesh] regions: no region 'rigth' in the mesh (did you mean 'right'?)"]),
        ({"conductivity": {"left": {"sigma_l": 0.1}}}, ["[conductivity] no value for region(s) [2]"]),
        (
            {"model__parameters": {"tau_sii": 2.0}},
            ["[model.parameters] unknown parameter 'tau_sii' of bueno-orovio-epi (did you mean 'tau_si'?)"],
        ),
        ({"model__parameters": {"tau_si": -2.0}}, ["[model.parameters]", "tau_si must be positive"]),
        ({"stimulus__0__name": "x9"}, ["[stimulus.1] name: the mesh has no surface 'x9'", "(surfaces: x0, x1"]),
        (
            {"stimulus": [{"kind": "nodes", "name": "corners", "strength": 1.0}]},
            ["[stimulus.1] name: the mesh has no node set 'corners' (did you mean 'corner'?)"],
        ),
        (
            {"stimulus": [{"kind": "nodes", "nodes": [10000], "strength": 1.0}]},
            ["[stimulus.1] nodes: node 10000 does not exist"],
        ),
        (
            {"stimulus": [{"kind": "sphere", "centre": [0, 0, 90], "radius": 1, "strength": 1.0}]},
            ["[stimulus.1] the sphere of radius 1 mm at [0.0, 0.0, 90.0] mm selects no mesh node", "the mesh spans"],
        ),
        (
            {"stimulus": [{"kind": "box", "lower": [0.1, 0.1, 0.1], "upper": [0.2, 0.2, 0.2], "strength": 1.0}]},
            ["[stimulus.1] the box", "selects no mesh node"],
        ),
        (
            {"record": {"probes": {"far": [30, 0.5, 0.5]}}},
            [
                "[record] probes.far: the point [30.0, 0.5, 0.5] mm lies outside",
                "the nearest mesh node is",
                "mm from it",
            ],
        ),
        (
            {"conductivity": {"sigma_l": 30.0}, "simulation__dt": 0.05, "simulation__duration": 10.0},
            ["[simulation] dt: 0.05 ms exceeds the explicit stability limit", 'diffusion = "theta"'],
        ),
        (
            {"simulation__dt": 2.0, "simulation__duration": 10.0},
            ["[simulation] dt: 2 ms is too long for bueno-orovio-epi", "use dt <= 0.084 ms"],
        ),
        (
            {"fibres": {"source": "rule-based"}},
            ["[fibres] source = \"rule-based\": mesh has no surface named 'endo_lv'"],
        ),
    ],
)
def test_mesh_checks_name_the_key(two_region_mesh, changes, words):
    msg = prepare_error(mesh_case(two_region_mesh, **changes))
    for w in words:
        assert w in msg, msg


def test_mesh_read_errors_are_one_line(tmp_path):
    garbage = tmp_path / "broken.vtu"
    garbage.write_text("this is not a VTU file")
    msg = prepare_error(mesh_case(garbage))
    assert msg.startswith("case.toml: [mesh] path: ") and "broken.vtu" in msg
    msg = prepare_error(case(mesh={"path": "builtin:nosuch"}))
    assert "[mesh] path: no built-in mesh named 'nosuch'" in msg


def test_anisotropic_without_fibres_and_fibres_from_a_file(tmp_path, two_region_mesh):
    from organtwin.mesh import read_mesh, write_mesh

    m = read_mesh(two_region_mesh)  # the same mesh without fibres (same shapes: the compiled set-up is reused)
    path = tmp_path / "nofibres.vtu"
    write_mesh(m.replace(fibres=None), path)
    msg = prepare_error(mesh_case(path))
    assert "[conductivity] anisotropic conductivity" in msg and "the mesh has none" in msg
    # isotropic is fine without fibres
    prepare_case(parse_case(mesh_case(path, conductivity={"sigma_l": "0.1 S/m"}), source="case.toml"))
    # fibres from a .npy file (along y) and from a text file (openCARP .lon with a header line)
    f = np.tile([0.0, 2.0, 0.0], (m.n_cells, 1))
    np.save(tmp_path / "fib.npy", f)
    p = prepare_case(
        parse_case(mesh_case(path, fibres={"source": "file", "path": str(tmp_path / "fib.npy")}), source="case.toml")
    )
    np.testing.assert_allclose(p.mesh.fibres, np.tile([0.0, 1.0, 0.0], (m.n_cells, 1)))
    (tmp_path / "fib.lon").write_text("1\n" + "\n".join("0 0 1" for _ in range(m.n_cells)) + "\n")
    p = prepare_case(
        parse_case(mesh_case(path, fibres={"source": "file", "path": str(tmp_path / "fib.lon")}), source="case.toml")
    )
    np.testing.assert_allclose(p.mesh.fibres[:, 2], 1.0)
    np.save(tmp_path / "short.npy", f[:5])
    msg = prepare_error(mesh_case(path, fibres={"source": "file", "path": str(tmp_path / "short.npy")}))
    assert "[fibres] path: " in msg and f"({m.n_cells}, 3)" in msg
