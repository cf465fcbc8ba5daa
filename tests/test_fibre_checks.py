"""Fibres checked on every read and at every solver entry (issue 17, item 1): one-line errors for unusable directions,
sound repairs with one warning, placeholder fields called out, tensors SPD whatever the input, and the motivating bug
(placeholder fibre (0,0,1) / sheet (0,1,1) with equal speeds gave activation earlier than |x - x0| / v)."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from cli import one_error_line, run_cli

import organtwin.ep as ep
from organtwin._errors import MeshError, MeshWarning
from organtwin.ep._eikonal import velocity_metric
from organtwin.ionic import AlievPanfilov1996
from organtwin.mesh import (
    check_fibres,
    choose_fibres,
    conductivity_tensors,
    fibre_quality,
    lv_ellipsoid_mesh,
    slab_mesh,
    write_mesh,
)


@pytest.fixture(scope="module")
def lv():
    return lv_ellipsoid_mesh(h=2.0)


def _const(mesh, v):
    return np.tile(np.asarray(v, np.float64), (mesh.n_cells, 1))


def _caught(fn, *a, **k):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*a, **k)
    return out, [str(x.message) for x in w if issubclass(x.category, MeshWarning)]


# ------------------------------------------------------------------------------------------------ check_fibres rules
@pytest.mark.parametrize("bad, words", [(np.nan, "1 NaN/inf and 0 zero-length"), (0.0, "0 NaN/inf and 1 zero-length")])
def test_nan_or_zero_fibres_are_refused_in_one_line(bad, words):
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    f = m.fibres.copy()
    f[3] = bad
    with pytest.raises(MeshError) as e:
        check_fibres(m.replace(fibres=f), source="p.vtu")
    msg = str(e.value)
    assert "\n" not in msg and words in msg and "first cell ids: 3" in msg and "--fibres rule-based" in msg


def test_non_unit_fibres_are_normalised_with_one_warning():
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    f = m.fibres * 1.0
    f[:5] *= 3.0
    out, w = _caught(check_fibres, m.replace(fibres=f), source="p.vtu")
    assert len(w) == 1 and f"5 of {m.n_cells} fibres were not unit length" in w[0]
    np.testing.assert_allclose(np.linalg.norm(out.fibres, axis=1), 1.0, atol=1e-15)
    # tiny errors (a float32 file) are normalised without a word
    out, w = _caught(check_fibres, m.replace(fibres=m.fibres * (1 + 1e-6)), source="p.vtu")
    assert w == []
    np.testing.assert_allclose(np.linalg.norm(out.fibres, axis=1), 1.0, atol=1e-15)


def test_placeholder_sheets_are_gram_schmidted_and_parallel_sheets_refused(lv):
    m = lv.replace(fibres=_const(lv, (0, 0, 1)), sheets=_const(lv, (0, 1, 1)))
    out, w = _caught(check_fibres, m, source="p.vtu")
    assert any(
        f"{lv.n_cells} of {lv.n_cells} sheets were not unit length and {lv.n_cells} not orthogonal" in x
        and "max |f.s| 0.707" in x
        for x in w
    )
    np.testing.assert_allclose(out.sheets, _const(lv, (0, 1, 0)), atol=1e-15)
    with pytest.raises(MeshError, match=r"sheet directions are parallel to their fibre"):
        check_fibres(lv.replace(fibres=_const(lv, (0, 0, 1)), sheets=_const(lv, (0, 0, -2))), source="p.vtu")


def test_zero_sheets_are_dropped_with_a_warning():
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    s = _const(m, (0, 1, 0))
    s[[2, 7]] = 0.0
    out, w = _caught(check_fibres, m.replace(sheets=s), source="p.vtu")
    assert out.sheets is None and out.fibres is not None
    assert len(w) == 1 and "0 NaN/inf and 2 zero-length sheet directions" in w[0] and "first cell ids: 2, 7" in w[0]


def test_placeholder_fields_are_called_out_on_curved_meshes_only(lv):
    m = lv.replace(fibres=_const(lv, (0, 0, 1)))
    q = fibre_quality(m)
    assert q["placeholder"] and q["constant_fraction"] == 1.0 and q["constant_fibre"] == (0.0, 0.0, 1.0)
    assert q["box_fill"] < 0.5
    _, w = _caught(check_fibres, m, source="p.vtu")
    assert any(
        "fibres look like a placeholder: 100.0% of cells have (0,0,1)" in x and "--fibres rule-based" in x for x in w
    )
    # f and -f are the same fibre
    f = _const(lv, (0, 0, 1))
    f[::2] *= -1
    assert fibre_quality(lv.replace(fibres=f))["constant_fraction"] == 1.0
    # a slab with uniform fibres is a legitimate test geometry: no warning
    slab = slab_mesh((10.0, 4.0, 4.0), 1.0)
    qs = fibre_quality(slab)
    assert not qs["placeholder"] and qs["box_fill"] > 0.99
    _, w = _caught(check_fibres, slab, source="s.vtu")
    assert w == []


def test_fibre_quality_numbers(lv):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(lv.n_cells, 3))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    f[0] *= 1.5
    s = np.cross(f, rng.normal(size=(lv.n_cells, 3)))
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    s[1] = (s[1] + f[1]) / np.linalg.norm(s[1] + f[1])  # 45 degrees off
    q = fibre_quality(lv.replace(fibres=f, sheets=s))
    assert q["fibre_unit_error_max"] == pytest.approx(0.5)
    assert q["fibre_unit_error_mean"] == pytest.approx(0.5 / lv.n_cells, rel=1e-6)
    assert q["orthogonality_error_max"] == pytest.approx(np.sqrt(0.5), rel=1e-9)
    assert q["constant_fraction"] == pytest.approx(1 / lv.n_cells) and not q["placeholder"]
    assert q["fibre_zero"] == q["fibre_nonfinite"] == q["sheet_parallel"] == 0


def test_a_file_with_placeholder_arrays_is_repaired_on_read(tmp_path, lv):
    """Shaped like the cohort mesh: VTU with cell arrays 'fibers' (0,0,1) and 'sheets' (0,1,1), written by meshio."""
    import meshio

    from organtwin.mesh import read_mesh

    cells = [("tetra", lv.tets)]
    meshio.write(
        tmp_path / "p.vtu",
        meshio.Mesh(
            lv.points,
            cells,
            cell_data={
                "fibers": [_const(lv, (0, 0, 1))],
                "sheets": [_const(lv, (0, 1, 1))],
                "ID": [np.ones(lv.n_cells, np.int32)],
            },
        ),
    )
    m, w = _caught(read_mesh, tmp_path / "p.vtu")
    assert sum("fibres look like a placeholder" in x for x in w) == 1 and sum("(Gram-Schmidt)" in x for x in w) == 1
    np.testing.assert_allclose(m.sheets, _const(lv, (0, 1, 0)), atol=1e-15)


# ------------------------------------------------------------------------------------------------ SPD by construction
@pytest.mark.parametrize(
    "f, s",
    [
        ((0, 0, 1), (0, 1, 1)),  # placeholder pair: not unit, not orthogonal
        ((0, 0, 0), (0, 1, 0)),  # zero fibre
        ((np.nan, 0, 1), (0, 1, 0)),  # NaN fibre
        ((0, 0, 2), (0, 0, 1)),  # sheet parallel to the fibre
        ((1, 0, 0), (np.nan, 1, 0)),  # NaN sheet
        ((1, 0, 0), (0, 0, 0)),  # zero sheet
    ],
)
def test_tensors_are_spd_whatever_the_directions(f, s):
    F, S = jnp.asarray([f], jnp.float64), jnp.asarray([s], jnp.float64)
    v = jnp.asarray([[0.6, 0.3, 0.2]], jnp.float64)
    for M in (
        velocity_metric(F, S, v)[0],
        velocity_metric(F, None, v)[0],
        conductivity_tensors(jnp.asarray([0.3]), jnp.asarray([0.1]), F, sigma_n=jnp.asarray([0.05]), sheets=S)[0],
        conductivity_tensors(jnp.asarray([0.3]), jnp.asarray([0.1]), F)[0],
    ):
        M = np.asarray(M)
        assert np.all(np.isfinite(M)) and np.allclose(M, M.T)
        assert np.linalg.eigvalsh(M).min() > 0
    # equal speeds: exactly I / v^2 whatever the directions
    eq = np.asarray(velocity_metric(F, S, jnp.full((1, 3), 0.5, jnp.float64))[0])
    np.testing.assert_allclose(eq, np.eye(3) / 0.25, atol=1e-12)


@pytest.mark.parametrize("what", ["zero fibre", "nan fibre", "parallel sheet", "nan sheet"])
def test_degenerate_directions_cannot_reach_the_solvers(what):
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    f, s = m.fibres.copy(), _const(m, (0, 1, 0))
    if what == "zero fibre":
        f[1] = 0
    elif what == "nan fibre":
        f[1, 0] = np.nan
    elif what == "parallel sheet":
        s[1] = f[1]
    else:
        s[1, 2] = np.inf
    bad = m.replace(fibres=f, sheets=s)
    with pytest.raises(MeshError, match="first cell ids: 1"):
        ep.EikonalTissue.from_mesh(bad, ep.ConductionVelocity(0.6, 0.3))
    with pytest.raises(MeshError, match="first cell ids: 1"):
        ep.Tissue.from_mesh(bad, ep.Conductivity(0.3, 0.1), AlievPanfilov1996())


@pytest.mark.parametrize("v", [0.0, -0.5, np.nan, np.inf])
def test_non_positive_velocities_and_conductivities_are_refused(v):
    with pytest.raises(ValueError, match="positive and finite"):
        ep.ConductionVelocity(0.6, v)
    with pytest.raises(ValueError, match="positive and finite"):
        ep.Conductivity(0.3, v)
    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    with pytest.raises(ValueError, match="fast_velocity must be a positive"):
        ep.EikonalTissue.from_mesh(m, ep.ConductionVelocity(0.6), fast_velocity=v)


# ------------------------------------------------------------------------------------------------ the motivating bug
def test_placeholder_fibres_with_equal_speeds_give_the_isotropic_times(lv):
    """Regression: constant fibre (0,0,1) and sheet (0,1,1) (not unit, not orthogonal) on a curved mesh with equal
    speeds. Before the fix the metric was (1/v²)[[1,0,0],[0,1,1],[0,1,2]] (not I/v²): 58 nodes of this mesh activated
    earlier than |x - x0| / v (by up to 2.6 ms; on the 72k-node cohort heart ~6,700 nodes, up to 85 ms off fim-python).
    The mesh goes to the solver as built (no read check): the tensor itself must be right."""
    v = 0.6  # float64: conftest enables x64
    x0 = lv.points[np.argmin(lv.points[:, 2])]
    site = ep.EikonalSite(jnp.asarray(x0), 0.0, radius=0.0)
    bad = lv.replace(fibres=_const(lv, (0, 0, 1)), sheets=_const(lv, (0, 1, 1)))
    t_bad = np.asarray(
        ep.simulate_eikonal(
            ep.EikonalTissue.from_mesh(bad, ep.ConductionVelocity(v, v, v), dtype=jnp.float64), site
        ).activation
    )
    t_iso = np.asarray(
        ep.simulate_eikonal(
            ep.EikonalTissue.from_mesh(lv, ep.ConductionVelocity(v), dtype=jnp.float64), site
        ).activation
    )
    lower = np.linalg.norm(lv.points - x0, axis=1) / v
    assert np.all(np.isfinite(t_bad))
    assert np.all(t_bad >= lower - 1e-9), int((t_bad < lower - 1e-9).sum())
    np.testing.assert_allclose(t_bad, t_iso, rtol=1e-12, atol=1e-12)
    assert t_iso.max() > 30.0  # a real wave across the ventricle, not a trivial one


# ------------------------------------------------------------------------------------------------ CLI: --fibres
def _write_placeholder_vtu(path, mesh):
    import meshio

    meshio.write(
        path,
        meshio.Mesh(
            mesh.points,
            [("tetra", mesh.tets)],
            cell_data={"fibers": [_const(mesh, (0, 0, 1))], "sheets": [_const(mesh, (0, 1, 1))]},
        ),
    )


def test_cli_activate_fibres_choices(tmp_path, capsys, lv):
    import meshio

    _write_placeholder_vtu(tmp_path / "p.vtu", lv)
    x0 = lv.points[np.argmin(lv.points[:, 2])]
    site = ",".join(f"{c:.12g}" for c in x0)
    times = {}
    for choice in ("mesh", "none"):
        rc, out, err = run_cli(
            capsys,
            "activate",
            tmp_path / "p.vtu",
            "--site",
            site,
            "--site-radius",
            "0",
            "--cv-fibre",
            "0.6",
            "--cv-transverse",
            "0.6",
            "--float64",
            "--fibres",
            choice,
            "--out",
            tmp_path / f"{choice}.vtu",
        )
        assert rc == 0, err
        times[choice] = np.asarray(meshio.read(tmp_path / f"{choice}.vtu").point_data["activation_time"])
        if choice == "mesh":
            assert "fibres: from the mesh file (with sheets) - WARNING: they look like a placeholder" in out
            assert "fibres look like a placeholder: 100.0% of cells have (0,0,1)" in err
        else:
            assert "fibres: none (isotropic; the file's fibre arrays are ignored)" in out
            assert "placeholder" not in err
    lower = np.linalg.norm(lv.points - x0, axis=1) / 0.6
    assert np.all(times["mesh"] >= lower - 1e-9)
    np.testing.assert_allclose(times["mesh"], times["none"], rtol=1e-12)


def test_cli_activate_rule_based_fibres(tmp_path, capsys, lv):
    write_mesh(lv, tmp_path / "lv.vtu")
    rc, out, err = run_cli(
        capsys,
        "activate",
        tmp_path / "lv.vtu",
        "--site",
        "0,0,-20",
        "--cv-fibre",
        "0.6",
        "--cv-transverse",
        "0.3",
        "--fibres",
        "rule-based",
        "--out",
        tmp_path / "a.vtu",
    )
    assert rc == 0, err
    assert "fibres: rule-based (Bayer 2012, from surfaces endo_lv, epi, base)" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--fibres", "rule-based"], "--fibres rule-based needs the surfaces endo_lv, epi, base"),
        (["--fibres", "none", "--cv-transverse", "0.3"], "--fibres none (isotropic) cannot be used with anisotropic"),
        (["--fibres", "spline"], "--fibres must be one of mesh, rule-based, none"),
    ],
)
def test_cli_activate_fibres_errors_are_one_line(tmp_path, capsys, args, words):
    write_mesh(slab_mesh((4.0, 2.0, 2.0), 1.0), tmp_path / "m.vtu")
    rc, out, err = run_cli(
        capsys,
        "activate",
        tmp_path / "m.vtu",
        "--site",
        "0,0,0",
        "--cv-fibre",
        "0.6",
        "--out",
        tmp_path / "a.vtu",
        *args,
    )
    assert rc in (1, 2)
    line = one_error_line(err)
    assert words in line, line
    if "rule-based needs" in words:
        assert "missing: endo_lv, epi, base" in line and "organtwin mesh surfaces" in line
    assert not (tmp_path / "a.vtu").exists()


def test_cli_activate_unusable_fibres_one_line_and_none_overrides(tmp_path, capsys):
    import meshio

    m = slab_mesh((4.0, 2.0, 2.0), 1.0)
    f = m.fibres.copy()
    f[4] = 0.0
    meshio.write(tmp_path / "z.vtu", meshio.Mesh(m.points, [("tetra", m.tets)], cell_data={"fibres": [f]}))
    rc, out, err = run_cli(
        capsys, "activate", tmp_path / "z.vtu", "--site", "0,0,0", "--cv-fibre", "0.6", "--out", tmp_path / "a.vtu"
    )
    assert rc == 1
    line = one_error_line(err, only=True)
    assert "unusable fibres: 0 NaN/inf and 1 zero-length" in line and "--fibres none" in line
    rc, out, err = run_cli(
        capsys,
        "activate",
        tmp_path / "z.vtu",
        "--site",
        "0,0,0",
        "--cv-fibre",
        "0.6",
        "--fibres",
        "none",
        "--out",
        tmp_path / "a.vtu",
    )
    assert rc == 0, err and (tmp_path / "a.vtu").exists()


def test_choose_fibres_descriptions(lv):
    m, d = choose_fibres(lv, "none")
    assert m.fibres is None and "none" in d
    m, d = choose_fibres(lv, "mesh")
    assert d == "fibres: none in the file (isotropic)"
    with pytest.raises(MeshError, match="has no fibres"):
        choose_fibres(lv, "mesh", needs_fibres=True)


def test_mesh_info_reports_fibre_quality(tmp_path, capsys, lv):
    _write_placeholder_vtu(tmp_path / "p.vtu", lv)
    rc, out, err = run_cli(capsys, "mesh", "info", tmp_path / "p.vtu")
    assert rc == 0, err
    assert "sheets: unit-norm error max 0.41; orthogonality |f.s| max 0.71" in out
    assert "constant fraction: 100.0% of cells have the fibre (0,0,1) - looks like a PLACEHOLDER" in out
    assert "fibres look like a placeholder" in err  # and the read warned, once
    rc, out, err = run_cli(capsys, "mesh", "info", tmp_path / "p.vtu", "--json")
    import json

    q = json.loads(out)["fibre_quality"]
    assert q["placeholder"] is True and q["sheet_unit_error_max"] == pytest.approx(np.sqrt(2) - 1)


_CASE = """
[mesh]
path = "p.vtu"

[conductivity]
sigma_l = "0.3 S/m"
sigma_t = "0.1 S/m"

[model]
name = "bueno-orovio-epi"

[[stimulus]]
kind = "surface"
name = "endo_lv"
strength = "50000 uA/cm^3"
duration = "2 ms"

[simulation]
duration = "10 ms"
dt = "0.05 ms"
"""


def test_cli_ep_check_fibres_override(tmp_path, capsys, lv):
    """`ep check` says when the case's mesh fibres look like placeholders; `--fibres` replaces the case's source."""
    lvp = lv.replace(fibres=_const(lv, (0, 0, 1)), sheets=_const(lv, (0, 1, 0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_mesh(lvp, tmp_path / "p.vtu")
    (tmp_path / "case.toml").write_text(_CASE)
    rc, out, err = run_cli(capsys, "ep", "check", tmp_path / "case.toml")
    assert rc == 0, err
    assert "fibres mesh - WARNING: they look like a placeholder (100.0% of cells have one fibre)" in out
    rc, out, err = run_cli(capsys, "ep", "check", tmp_path / "case.toml", "--fibres", "rule-based")
    assert rc == 0, err
    assert "fibres rule-based" in out and "placeholder" not in out + err
    rc, out, err = run_cli(capsys, "ep", "check", tmp_path / "case.toml", "--fibres", "none")
    assert rc == 1 and "needs fibres" in one_error_line(err)
    rc, out, err = run_cli(capsys, "ep", "check", tmp_path / "case.toml", "--fibres", "nope")
    assert rc == 2 and "--fibres must be one of mesh, rule-based, none" in one_error_line(err)
