"""The bad-input catalogue (issue 18, item 6): every `organtwin` command driven through the installed console script with
inputs a user gets wrong, and what each must answer.

One `Case` is one command line. It runs in its own folder ``{d}`` (the working directory; every output place of the
case lies inside it) next to a shared folder of small inputs ``{in}`` (`make_inputs`). For a refused input the command
must exit with `Case.rc` (2: bad command line, 1: bad input found in the work), print exactly one ``organtwin: error:``
line holding every one of `Case.words` (what, where, how to fix: the option, the file, the limit) and no traceback,
and leave the case folder exactly as it was: no output file or folder, no ``.partial`` / ``.tmp`` leftovers, the
user's own files there (`Case.files`) byte for byte. A `Case` with ``rc=0`` is a legal but suspicious input: it must
succeed with one ``organtwin: warning:`` line holding `Case.words`.

Used by tests/test_bad_inputs.py (one test per case) and benchmarks/bad_inputs.py (the counts in RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Case:
    """One bad input. ``argv`` follows ``organtwin``; ``{in}`` is the shared inputs folder, ``{d}`` the case's own
    folder (the working directory). ``files``: files written into ``{d}`` before the run (``{in}``/``{d}`` replaced in
    text), each must be untouched afterwards; ``dirs``: folders made there."""

    id: str
    argv: tuple[str, ...]
    rc: int
    words: tuple[str, ...]  # each must be in the error line, case-insensitive; "a|b": either a or b (rc 0 and no
    # words: a legal input that must succeed with no warning)
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    xfail: str | None = None  # why the command does not answer as demanded yet (a strict xfail in the test)
    slow: bool = False

    @property
    def command(self) -> str:
        """The command it drives, e.g. 'mesh info', 'ep run', 'cell'."""
        head = self.argv[0]
        return f"{head} {self.argv[1]}" if head in ("mesh", "ep", "flow", "bench") else head

    @property
    def outcome(self) -> str:
        if self.rc == 0 and not self.words:
            return "accepted (a legal input, no word)"
        return {0: "warning", 1: "error in the work (rc 1)", 2: "bad command line (rc 2)"}[self.rc]


def _c(id, argv: str | list, rc: int, *words, **kw) -> Case:
    return Case(id, tuple(argv.split() if isinstance(argv, str) else argv), rc, tuple(words), **kw)


# ------------------------------------------------------------------------------------------------------------ inputs
def _two_tets_on_one_face_thrice():
    """Three tets on the triangle (0, 1, 2): two above it (overlapping), one below."""
    points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.2, 1.0], [0.2, 0.2, -1.0], [0.3, 0.3, 2.0]])
    return points, np.array([[0, 1, 2, 3], [0, 2, 1, 4], [0, 1, 2, 5]])


def _tets_touching_at_a_vertex():
    points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.2, 1.0], [-1, 0, 0], [0, -1, 0], [-0.2, -0.2, -1.0]])
    return points, np.array([[0, 1, 2, 3], [0, 5, 4, 6]])


def make_inputs(folder: Path) -> Path:
    """The shared small inputs, written with organtwin's own writer (and plain text for the broken ones)."""
    from organtwin.mesh import Mesh, slab_mesh, write_mesh

    folder.mkdir(parents=True, exist_ok=True)
    slab = slab_mesh((2.0, 1.0, 1.0), 0.5)  # 45 nodes, 96 tets, region 1 'slab', surfaces x0 .. z1, fibres along x
    write_mesh(slab, folder / "slab.vtu")
    # two regions, 1 'LV' (x < 1 mm) and 2 'RV', and activation times: what `organtwin ecg` reads
    centre_x = np.asarray(slab.points)[np.asarray(slab.tets)].mean(axis=1)[:, 0]
    biv = slab.replace(regions=np.where(centre_x < 1.0, 1, 2), region_names={1: "LV", 2: "RV"})
    write_mesh(biv.replace(point_data={"activation_time": np.asarray(slab.points[:, 0] / 0.5)}), folder / "act.vtu")
    write_mesh(biv.replace(point_data={"activation_time": np.full(slab.n_nodes, np.nan)}), folder / "act_nan.vtu")
    zero = np.zeros((slab.n_cells, 3))
    write_mesh(slab.replace(fibres=zero, sheets=None), folder / "zero_fibres.vtu")
    nan_fibres = np.asarray(slab.fibres).copy()
    nan_fibres[3] = np.nan
    write_mesh(slab.replace(fibres=nan_fibres, sheets=None), folder / "nan_fibres.vtu")
    write_mesh(Mesh(*_two_tets_on_one_face_thrice()), folder / "face_in_three_tets.vtu")
    write_mesh(Mesh(*_tets_touching_at_a_vertex()), folder / "pinched.vtu")
    # a mesh with a NaN coordinate, and one with two tets on the same four nodes (the writer does not check)
    p = np.asarray(slab.points).copy()
    p[7, 1] = np.nan
    write_mesh(slab.replace(points=p), folder / "nan_point.vtu")
    write_mesh(
        slab.replace(
            tets=np.vstack([slab.tets, slab.tets[:1]]),
            regions=np.concatenate([slab.regions, slab.regions[:1]]),
            fibres=None,
            sheets=None,
        ),
        folder / "duplicate_tet.vtu",
    )
    flat = np.asarray(slab.points).copy()
    flat[:, 2] = 0.0  # every tet flattened: zero volume
    write_mesh(slab.replace(points=flat, fibres=None, sheets=None), folder / "flat.vtu")
    (folder / "garbage.vtu").write_bytes(bytes(range(256)) * 8)
    (folder / "empty.vtu").write_bytes(b"")
    (folder / "text.msh").write_text("this is not a gmsh file\n")
    (folder / "half.vtu").write_bytes((folder / "slab.vtu").read_bytes()[:600])
    (folder / "dir.vtu").mkdir(exist_ok=True)
    (folder / "mesh.stl").write_text("solid x\nendsolid x\n")
    (folder / "names_bad.json").write_text('{"LV": 1, ')
    (folder / "names_list.json").write_text("[1, 2, 3]")
    (folder / "names_missing.json").write_text('{"regions": {"LV": 42}}')
    (folder / "names_text.json").write_text('{"regions": {"LV": "one"}}')
    (folder / "cuff.json").write_text('{"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0}')
    _odd_meshes(folder, slab)
    return folder


def _odd_meshes(folder: Path, slab) -> None:
    """Meshes other tools write (through meshio, which checks nothing): mixed cell types, no tets, 2D points, huge or
    tiny or infinite coordinates, integer coordinates, fibres of the wrong shape or per node, non-integer region ids,
    tets naming missing nodes, an unused node, inverted tets; and a mesh in a folder with a space and accents."""
    import meshio

    pts, tets = np.asarray(slab.points), np.asarray(slab.tets)
    n = len(tets)

    def put(name, points=pts, cells=None, **data):
        meshio.write(folder / name, meshio.Mesh(points, cells or [("tetra", tets)], **data))

    put("mixed.vtu", cells=[("tetra", tets), ("hexahedron", np.arange(8)[None])])
    put("tri3d.vtu", cells=[("triangle", np.array([[0, 1, 2], [1, 2, 3]]))])
    flat = pts.copy()
    flat[:, 2] = 0.0
    put("pts2d.vtu", points=flat)
    put("huge.vtu", points=pts * 1e30)
    put("tiny.vtu", points=pts * 1e-30)
    inf = pts.copy()
    inf[3] = np.inf
    put("inf.vtu", points=inf)
    put("intpts.vtu", points=(pts * 2).astype(np.int32))
    put("fib2.vtu", cell_data={"fibres": [np.ones((n, 2))]})
    put("fibpt.vtu", point_data={"fibres": np.tile([1.0, 0.0, 0.0], (len(pts), 1))})
    put("reg_float.vtu", cell_data={"region": [np.full(n, 1.5)]})
    put("reg_nan.vtu", cell_data={"region": [np.full(n, np.nan)]})
    bad = tets.copy()
    bad[0, 0] = 10**6
    put("badidx.vtu", cells=[("tetra", bad)])
    put("orphans.vtu", points=np.vstack([pts, [[100.0, 100.0, 100.0]]]))
    put("inverted.vtu", cells=[("tetra", tets[:, [1, 0, 2, 3]])])
    at = pts[:, 0] / 0.5
    put("act_named.vtu", point_data={"AT": at})
    (folder / "space dir é").mkdir(exist_ok=True)
    (folder / "space dir é" / "slab ü.vtu").write_bytes((folder / "slab.vtu").read_bytes())
    (folder / "act.csv").write_text("x,y,z,t\n0,0,0,0\n")


# ---------------------------------------------------------------------------------------------------- case texts
EP_BASE = {
    "mesh": 'path = "{in}/slab.vtu"',
    "conductivity": 'sigma_l = "0.1 S/m"',
    "model": 'name = "aliev-panfilov"',
    "[stimulus]": 'kind = "box"\nlower = [0, 0, 0]\nupper = [0.5, 0.5, 0.5]\nstrength = "50000 uA/cm^3"',
    "simulation": 'duration = "5 ms"\ndt = "0.02 ms"',
}


def ep_case(drop=(), **sections) -> str:
    """The small valid slab case with sections replaced (``sections``; None drops one) or dropped."""
    body = {**EP_BASE, **sections}
    return "\n".join(f"[{k}]\n{v}\n" for k, v in body.items() if v is not None and k not in drop)


CAL_BASE = {
    "mesh": 'builtin = "lv-ellipsoid"',
    "circulation": 'model = "regazzoni2022"\ncycles = 2',
    "[free]": 'name = "circulation.model.blocks.LV.e_active"\nlower = 0.5\nupper = 6.0',
    "[data]": 'kind = "cuff"\nname = "cuff"\nfile = "cuff.json"\nnoise_sd = 2.0',
    "fit": 'method = "levenberg-marquardt"\nmax_steps = 2',
}


def cal_case(**sections) -> str:
    body = {**CAL_BASE, **sections}
    return "\n".join(f"[{k}]\n{v}\n" for k, v in body.items() if v is not None)


CUFF = '{"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0}'


def _fit_json(text: str, **changes) -> str:
    """A well-formed fit.json of the case ``text`` (its SHA-256 and text, cuff data, the built-in LV mesh), with
    provenance fields changed."""
    sha = "0" * 64
    prov = {
        "case_file": "{d}/case.toml",
        "case_dir": "{d}",
        "case_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "case_text": text,
        "data": {"cuff": {"path": "{d}/cuff.json", "sha256": sha}},
        "mesh": {"builtin": "lv-ellipsoid", "sha256": sha, "nodes": 1737, "tets": 6157},
        "seed": 0,
        "dtype": "float64",
        "fit_options": {},
        "versions": {"organtwin": "0"},
        "date_utc": "2026-12-07T00:00:00+00:00",
    }
    prov.update(changes)
    return json.dumps(
        {
            "organtwin_fit": 1,
            "parameters": {"circulation.model.blocks.LV.e_active": 2.0},
            "u": [0.0],
            "objective": 1.0,
            "steps": 1,
            "seconds": 1.0,
            "message": "",
            "history": [1.0],
            "provenance": prov,
        }
    )


def _zerod(**changes) -> str:
    cfg = {
        "simulation_parameters": {"number_of_cardiac_cycles": 1, "number_of_time_pts_per_cardiac_cycle": 11},
        "boundary_conditions": [
            {"bc_name": "INFLOW", "bc_type": "FLOW", "bc_values": {"Q": [100.0, 100.0], "t": [0.0, 1.0]}},
            {"bc_name": "OUT", "bc_type": "RESISTANCE", "bc_values": {"R": 1000.0, "Pd": 10000.0}},
        ],
        "vessels": [
            {
                "vessel_id": 0,
                "vessel_name": "V0",
                "vessel_length": 1.0,
                "zero_d_element_type": "BloodVessel",
                "zero_d_element_values": {"R_poiseuille": 100.0, "C": 1e-4, "L": 1.0},
                "boundary_conditions": {"inlet": "INFLOW", "outlet": "OUT"},
            }
        ],
    }
    for path, value in changes.items():  # "vessels.0.zero_d_element_type" = "Nonsense"
        *keys, last = path.split(".")
        obj = cfg
        for k in keys:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        if value is None:
            del obj[last]
        else:
            obj[int(last) if isinstance(obj, list) else last] = value
    return json.dumps(cfg)


USER = "my own notes, not organtwin's\n"


# ------------------------------------------------------------------------------------------------------------ table
def _cases() -> list[Case]:
    C = []
    add = C.append
    # ---- mesh info: files that are not meshes, broken meshes, bad options
    add(_c("mesh-info/missing-file", "mesh info nosuch.vtu", 1, "nosuch.vtu", "not found"))
    add(_c("mesh-info/empty-file", "mesh info {in}/empty.vtu", 1, "empty.vtu"))
    add(_c("mesh-info/garbage-bytes", "mesh info {in}/garbage.vtu", 1, "garbage.vtu"))
    add(_c("mesh-info/truncated-vtu", "mesh info {in}/half.vtu", 1, "half.vtu"))
    add(_c("mesh-info/text-as-msh", "mesh info {in}/text.msh", 1, "text.msh"))
    add(_c("mesh-info/folder-as-file", "mesh info {in}/dir.vtu", 1, "dir.vtu", "folder"))
    add(_c("mesh-info/surface-only-stl", "mesh info {in}/mesh.stl", 1, "mesh.stl"))
    add(_c("mesh-info/nan-coordinate", "mesh info {in}/nan_point.vtu", 1, "nan_point.vtu", "nan", "node"))
    add(_c("mesh-info/flat-zero-volume", "mesh info {in}/flat.vtu", 1, "flat.vtu", "zero volume"))
    add(
        _c(
            "mesh-info/face-in-three-tets",
            "mesh info {in}/face_in_three_tets.vtu",
            1,
            "face_in_three_tets.vtu",
            "more than two tets",
            "0, 1, 2",
        )
    )
    add(_c("mesh-info/duplicate-tet", "mesh info {in}/duplicate_tet.vtu", 1, "duplicate_tet.vtu", "duplicate"))
    add(_c("mesh-info/pinched-at-a-vertex", "mesh info {in}/pinched.vtu", 0, "pinched.vtu", "non-manifold", "1 nodes"))
    add(_c("mesh-info/zero-fibres", "mesh info {in}/zero_fibres.vtu", 1, "zero_fibres.vtu", "fibre"))
    add(_c("mesh-info/nan-fibres", "mesh info {in}/nan_fibres.vtu", 1, "nan_fibres.vtu", "fibre"))
    add(_c("mesh-info/scale-zero", "mesh info {in}/slab.vtu --scale 0", 1, "--scale"))
    add(_c("mesh-info/scale-negative", "mesh info {in}/slab.vtu --scale -1000", 1, "--scale"))
    add(_c("mesh-info/scale-nan", "mesh info {in}/slab.vtu --scale nan", 1, "--scale"))
    add(_c("mesh-info/scale-inf", "mesh info {in}/slab.vtu --scale inf", 1, "--scale"))
    add(_c("mesh-info/scale-not-a-number", "mesh info {in}/slab.vtu --scale ten", 2, "--scale"))
    add(
        _c("mesh-info/region-names-garbled", "mesh info {in}/slab.vtu --region-names 1:LV", 1, "--region-names", "1=LV")
    )
    add(_c("mesh-info/region-names-unknown-id", "mesh info {in}/slab.vtu --region-names 42=LV", 1, "42", "region"))
    add(_c("mesh-info/map-malformed-json", "mesh info {in}/slab.vtu --map {in}/names_bad.json", 1, "names_bad.json"))
    add(_c("mesh-info/map-not-an-object", "mesh info {in}/slab.vtu --map {in}/names_list.json", 1, "names_list.json"))
    add(_c("mesh-info/map-id-not-in-mesh", "mesh info {in}/slab.vtu --map {in}/names_missing.json", 1, "42"))
    add(
        _c(
            "mesh-info/map-id-not-a-number",
            "mesh info {in}/slab.vtu --map {in}/names_text.json",
            1,
            "names_text.json",
            "one",
        )
    )
    add(_c("mesh-info/map-missing-file", "mesh info {in}/slab.vtu --map nosuch.json", 2, "--map", "nosuch.json"))
    add(_c("mesh-info/region-field-unknown", "mesh info {in}/slab.vtu --region-field nosuch", 1, "nosuch", "region"))
    # ---- mesh convert
    add(_c("mesh-convert/unknown-extension", "mesh convert {in}/slab.vtu out.xyz", 1, "out.xyz"))
    add(
        _c(
            "mesh-convert/output-is-a-folder",
            "mesh convert {in}/slab.vtu outdir.vtu",
            2,
            "outdir.vtu",
            "folder",
            dirs=("outdir.vtu",),
        )
    )
    add(
        _c(
            "mesh-convert/output-under-a-file",
            "mesh convert {in}/slab.vtu notes.txt/out.vtu",
            2,
            "notes.txt",
            "not a folder",
            files={"notes.txt": USER},
        )
    )
    add(_c("mesh-convert/regions-not-in-mesh", "mesh convert {in}/slab.vtu out.vtu --regions 7", 1, "7", "regions"))
    add(_c("mesh-convert/regions-garbled", "mesh convert {in}/slab.vtu out.vtu --regions 1,,x", 2, "--regions"))
    add(
        _c(
            "mesh-convert/scale-negative-mirrors",
            "mesh convert {in}/slab.vtu out.vtu --scale -1",
            1,
            "--scale",
            "mirror",
        )
    )
    add(_c("mesh-convert/missing-input", "mesh convert nosuch.vtu out.vtu", 1, "nosuch.vtu"))
    add(
        _c(
            "mesh-convert/broken-input-keeps-old-output",
            "mesh convert {in}/garbage.vtu out.vtu",
            1,
            "garbage.vtu",
            files={"out.vtu": USER},
        )
    )
    # ---- mesh render
    add(
        _c(
            "mesh-render/field-not-in-mesh",
            "mesh render {in}/slab.vtu --out pic.png --field nosuch",
            1,
            "nosuch",
            "field",
        )
    )
    add(
        _c(
            "mesh-render/folder-without-activation",
            "mesh render emptydir --out pic.png",
            1,
            "emptydir",
            "activation.vtu",
            dirs=("emptydir",),
        )
    )
    add(
        _c(
            "mesh-render/output-is-a-folder",
            "mesh render {in}/slab.vtu --out pic.png",
            2,
            "--out",
            "pic.png",
            "folder",
            dirs=("pic.png",),
        )
    )
    add(_c("mesh-render/missing-out-option", "mesh render {in}/slab.vtu", 2, "--out"))
    # ---- mesh generate
    add(_c("mesh-generate/dx-zero", "mesh generate slab --out s.vtu --dx 0", 2, "--dx"))
    add(_c("mesh-generate/dx-nan", "mesh generate slab --out s.vtu --dx nan", 1, "--dx|dx must", "nan"))
    add(_c("mesh-generate/dx-inf", "mesh generate slab --out s.vtu --dx inf", 1, "--dx|dx must", "inf"))
    add(
        _c(
            "mesh-generate/dx-tiny-huge-mesh",
            "mesh generate slab --out s.vtu --dx 1e-5",
            1,
            "dx",
            "nodes",
            "use a larger dx",
        )
    )
    add(_c("mesh-generate/size-two-numbers", "mesh generate slab --out s.vtu --size 20,7", 2, "--size"))
    add(_c("mesh-generate/size-negative", "mesh generate slab --out s.vtu --size 20,-7,3", 1, "--size|size must", "-7"))
    add(_c("mesh-generate/h-nan", "mesh generate lv --out lv.vtu --h nan", 1, "--h|h must", "nan"))
    add(_c("mesh-generate/h-huge", "mesh generate lv --out lv.vtu --h 1e9", 1, "--h|h = ", "use h <="))
    add(_c("mesh-generate/unknown-kind", "mesh generate torus --out t.vtu", 2, "torus"))
    add(_c("mesh-generate/unknown-extension", "mesh generate slab --out s.xyz --dx 0.5 --size 1,1,1", 1, "s.xyz"))
    # ---- mesh fibres / surfaces
    add(_c("mesh-fibres/no-endo-epi-base", "mesh fibres {in}/slab.vtu out.vtu", 1, "endo", "surface"))
    add(
        _c(
            "mesh-fibres/alpha-nan",
            "mesh fibres {in}/slab.vtu out.vtu --alpha-endo nan",
            1,
            "--alpha-endo|alpha_endo",
            "nan",
        )
    )
    add(
        _c(
            "mesh-surfaces/auto-on-a-slab",
            "mesh surfaces {in}/slab.vtu out.vtu --auto --no-png",
            1,
            "boundary component",
            "--surface-names",
        )
    )
    add(
        _c(
            "mesh-surfaces/feature-angle-negative",
            "mesh surfaces {in}/slab.vtu out.vtu --auto --no-png --feature-angle -5",
            2,
            "--feature-angle",
        )
    )
    add(
        _c(
            "mesh-surfaces/surface-names-unknown-tag",
            "mesh surfaces {in}/slab.vtu out.vtu --no-png --surface-names 99=endo_lv",
            1,
            "99",
        )
    )
    # ---- cell
    add(_c("cell/unknown-model", "cell hodgkin-huxley", 2, "hodgkin-huxley"))
    add(_c("cell/dt-negative", "cell aliev-panfilov --dt -1", 2, "--dt"))
    add(_c("cell/dt-zero", "cell aliev-panfilov --dt 0", 2, "--dt"))
    add(_c("cell/dt-nan", "cell aliev-panfilov --dt nan", 2, "--dt"))
    add(
        _c(
            "cell/dt-too-large-nan-trace",
            "cell tentusscher2006-epi --dt 50 --beats 2 --out trace.csv",
            1,
            "--dt|dt 50",
            "dt <= 0.066",
        )
    )
    add(_c("cell/bcl-zero", "cell aliev-panfilov --bcl 0", 2, "--bcl"))
    add(_c("cell/bcl-inf", "cell aliev-panfilov --bcl inf", 1, "--bcl|bcl must", "inf"))
    add(_c("cell/beats-negative", "cell aliev-panfilov --beats -3", 2, "--beats"))
    add(_c("cell/beats-not-an-integer", "cell aliev-panfilov --beats 2.5", 2, "--beats"))
    add(_c("cell/beats-huge", "cell aliev-panfilov --beats 1000000000", 1, "beats", "--record-every"))
    add(
        _c(
            "cell/stim-amplitude-nan",
            "cell aliev-panfilov --stim-amplitude nan",
            1,
            "--stim-amplitude|stim_amplitude",
            "nan",
        )
    )
    add(_c("cell/stim-duration-negative", "cell aliev-panfilov --stim-duration -2", 2, "--stim-duration"))
    add(_c("cell/record-every-zero", "cell aliev-panfilov --record-every 0", 2, "--record-every"))
    add(
        _c(
            "cell/out-is-a-folder",
            "cell aliev-panfilov --beats 1 --out trace.csv",
            2,
            "--out",
            "trace.csv",
            "folder",
            dirs=("trace.csv",),
        )
    )
    add(
        _c(
            "cell/out-in-missing-folder",
            "cell aliev-panfilov --beats 1 --out nosuchdir/trace.csv",
            2,
            "--out",
            "nosuchdir",
            "does not exist",
        )
    )
    add(
        _c(
            "cell/png-under-a-file",
            "cell aliev-panfilov --beats 1 --png notes.txt/trace.png",
            2,
            "--png",
            "notes.txt",
            files={"notes.txt": USER},
        )
    )
    # ---- activate
    act = "activate {in}/slab.vtu --site 0,0,0 --out a.vtu"
    add(_c("activate/cv-fibre-zero", f"{act} --cv-fibre 0", 2, "--cv-fibre"))
    add(_c("activate/cv-fibre-negative", f"{act} --cv-fibre -0.6", 2, "--cv-fibre"))
    add(_c("activate/cv-fibre-nan", f"{act} --cv-fibre nan", 2, "--cv-fibre"))
    add(
        _c(
            "activate/cv-fibre-tiny-overflows",
            f"{act} --cv-fibre 1e-30",
            1,
            "--cv-fibre|conduction velocity",
            "1e-30",
            "use velocities >=",
        )
    )
    add(_c("activate/cv-transverse-inf", f"{act} --cv-fibre 0.6 --cv-transverse inf", 2, "--cv-transverse"))
    add(_c("activate/site-two-numbers", "activate {in}/slab.vtu --site 0,0 --cv-fibre 0.6 --out a.vtu", 2, "--site"))
    add(_c("activate/site-not-numbers", "activate {in}/slab.vtu --site a,b,c --cv-fibre 0.6 --out a.vtu", 2, "--site"))
    add(_c("activate/site-nan", "activate {in}/slab.vtu --site nan,0,0 --cv-fibre 0.6 --out a.vtu", 2, "--site"))
    add(
        _c(
            "activate/site-far-outside",
            "activate {in}/slab.vtu --site 500,500,500 --cv-fibre 0.6 --out a.vtu",
            1,
            "500",
        )
    )
    add(_c("activate/regions-not-in-mesh", f"{act} --cv-fibre 0.6 --regions 9", 1, "9", "region"))
    add(_c("activate/fast-endo-unknown-surface", f"{act} --cv-fibre 0.6 --fast-endo endo_lv", 1, "endo_lv"))
    add(_c("activate/site-radius-negative", f"{act} --cv-fibre 0.6 --site-radius -1", 2, "--site-radius"))
    add(_c("activate/fibres-unknown-choice", f"{act} --cv-fibre 0.6 --fibres sideways", 2, "sideways"))
    add(
        _c(
            "activate/zero-fibres-mesh",
            "activate {in}/zero_fibres.vtu --site 0,0,0 --cv-fibre 0.6 --out a.vtu",
            1,
            "zero_fibres.vtu",
            "fibre",
        )
    )
    add(_c("activate/out-is-a-folder", f"{act} --cv-fibre 0.6", 2, "--out", "a.vtu", "folder", dirs=("a.vtu",)))
    add(_c("activate/scale-negative", f"{act} --cv-fibre 0.6 --scale -1", 1, "--scale"))
    # ---- ecg
    add(_c("ecg/mesh-without-activation", "ecg {in}/slab.vtu --out e", 1, "activation_time"))
    add(_c("ecg/activation-all-nan", "ecg {in}/act_nan.vtu --out e", 1, "activation_time", "no finite value"))
    add(_c("ecg/duration-huge", "ecg {in}/act.vtu --out e --duration 1e9", 1, "--duration", "memory"))
    add(_c("ecg/dt-zero", "ecg {in}/act.vtu --out e --dt 0", 2, "--dt"))
    add(_c("ecg/dt-nan", "ecg {in}/act.vtu --out e --dt nan", 2, "--dt"))
    add(_c("ecg/sigma-i-negative", "ecg {in}/act.vtu --out e --sigma-i -0.1", 2, "--sigma-i"))
    add(_c("ecg/apd-zero", "ecg {in}/act.vtu --out e --apd 0", 2, "--apd"))
    add(
        _c(
            "ecg/electrodes-malformed",
            "ecg {in}/act.vtu --out e --electrodes el.csv",
            1,
            "el.csv",
            files={"el.csv": "RA,1,2\nLA,x,y,z\n"},
        )
    )
    add(
        _c(
            "ecg/electrodes-missing-leads",
            "ecg {in}/act.vtu --out e --electrodes el.csv",
            1,
            "el.csv",
            "V1",
            files={"el.csv": "RA,100,0,0\nLA,-100,0,0\nLL,0,-100,0\n"},
        )
    )
    add(_c("ecg/electrodes-missing-file", "ecg {in}/act.vtu --out e --electrodes nosuch.csv", 1, "nosuch.csv"))
    add(_c("ecg/out-is-a-file", "ecg {in}/act.vtu --out e", 1, "--out e", "file", files={"e": USER}))
    add(
        _c("ecg/out-holds-user-files", "ecg {in}/act.vtu --out e", 1, "--out e", "mine.txt", files={"e/mine.txt": USER})
    )
    add(_c("ecg/lv-regions-not-in-mesh", "ecg {in}/act.vtu --out e --lv-regions 9", 1, "--lv-regions", "9"))
    # ---- ep check / ep run: case files
    add(_c("ep-check/missing-case", "ep check nosuch.toml", 1, "nosuch.toml"))
    add(_c("ep-check/case-is-a-folder", "ep check case.toml", 1, "case.toml", dirs=("case.toml",)))
    add(_c("ep-check/toml-syntax", "ep check case.toml", 1, "case.toml", files={"case.toml": "[mesh\npath = 1\n"}))
    add(_c("ep-check/empty-case", "ep check case.toml", 1, "case.toml", "mesh", files={"case.toml": ""}))
    add(
        _c(
            "ep-check/no-simulation-section",
            "ep check case.toml",
            1,
            "case.toml",
            "simulation",
            files={"case.toml": ep_case(drop=("simulation",))},
        )
    )
    add(
        _c(
            "ep-check/unknown-key",
            "ep check case.toml",
            1,
            "case.toml",
            "strenght",
            files={"case.toml": ep_case(**{"[stimulus]": EP_BASE["[stimulus]"].replace("strength", "strenght")})},
        )
    )
    add(
        _c(
            "ep-check/unknown-section",
            "ep check case.toml",
            1,
            "case.toml",
            "solver",
            files={"case.toml": ep_case(solver="tol = 1")},
        )
    )
    add(
        _c(
            "ep-check/dt-wrong-unit",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            "mm",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = "0.02 mm"')},
        )
    )
    add(
        _c(
            "ep-check/dt-unknown-unit",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            "fortnights",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = "2 fortnights"')},
        )
    )
    add(
        _c(
            "ep-check/dt-wrong-type",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = [0.02]')},
        )
    )
    add(
        _c(
            "ep-check/dt-negative",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = -0.02')},
        )
    )
    add(
        _c(
            "ep-check/dt-nan",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = nan')},
        )
    )
    add(
        _c(
            "ep-check/duration-inf",
            "ep check case.toml",
            1,
            "case.toml",
            "duration",
            files={"case.toml": ep_case(simulation="duration = inf\ndt = 0.02")},
        )
    )
    add(
        _c(
            "ep-check/steps-overflow",
            "ep check case.toml",
            1,
            "case.toml",
            "steps",
            files={"case.toml": ep_case(simulation="duration = 1e30\ndt = 0.02")},
        )
    )
    add(
        _c(
            "ep-check/huge-duration-with-snapshots",
            "ep check case.toml",
            1,
            "case.toml",
            "snapshot",
            files={"case.toml": ep_case(simulation="duration = 4e7\ndt = 0.02", record="snapshot_every = 1.0")},
        )
    )
    add(
        _c(
            "ep-check/sigma-negative",
            "ep check case.toml",
            1,
            "case.toml",
            "sigma_l",
            files={"case.toml": ep_case(conductivity="sigma_l = -0.1")},
        )
    )
    add(
        _c(
            "ep-check/region-not-in-mesh",
            "ep check case.toml",
            1,
            "case.toml",
            "7",
            files={"case.toml": ep_case(**{"conductivity": "sigma_l = 0.1", "conductivity.7": "sigma_l = 0.2"})},
        )
    )
    add(
        _c(
            "ep-check/unknown-model",
            "ep check case.toml",
            1,
            "case.toml",
            "aliev-panfilof",
            files={"case.toml": ep_case(model='name = "aliev-panfilof"')},
        )
    )
    add(
        _c(
            "ep-check/stimulus-outside",
            "ep check case.toml",
            1,
            "case.toml",
            "stimulus",
            files={
                "case.toml": ep_case(
                    **{"[stimulus]": 'kind = "sphere"\ncentre = [0, 0, 90]\nradius = 1.0\nstrength = 50000'}
                )
            },
        )
    )
    add(
        _c(
            "ep-check/probe-outside",
            "ep check case.toml",
            1,
            "case.toml",
            "probe",
            files={"case.toml": ep_case(record="probes = { far = [100, 0, 0] }")},
        )
    )
    add(
        _c(
            "ep-check/mesh-missing",
            "ep check case.toml",
            1,
            "case.toml",
            "nosuch.vtu",
            files={"case.toml": ep_case(mesh='path = "nosuch.vtu"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-garbage",
            "ep check case.toml",
            1,
            "garbage.vtu",
            files={"case.toml": ep_case(mesh='path = "{in}/garbage.vtu"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-face-in-three-tets",
            "ep check case.toml",
            1,
            "face_in_three_tets.vtu",
            files={"case.toml": ep_case(mesh='path = "{in}/face_in_three_tets.vtu"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-scale-zero",
            "ep check case.toml",
            1,
            "case.toml",
            "scale",
            files={"case.toml": ep_case(mesh='path = "{in}/slab.vtu"\nscale = 0')},
        )
    )
    add(
        _c(
            "ep-check/fibres-unknown-source",
            "ep check case.toml",
            1,
            "case.toml",
            "source",
            files={"case.toml": ep_case(fibres='source = "sideways"')},
        )
    )
    add(
        _c(
            "ep-check/fibres-option-unknown",
            "ep check case.toml --fibres sideways",
            2,
            "sideways",
            files={"case.toml": ep_case()},
        )
    )
    add(
        _c(
            "ep-check/dt-too-large-theta",
            "ep check case.toml",
            1,
            "case.toml",
            "dt",
            "upstroke",
            "dt <=",
            files={
                "case.toml": ep_case(
                    model='name = "tentusscher2006-epi"',
                    simulation='duration = "5 ms"\ndt = "2 ms"\ndiffusion = "theta"',
                )
            },
        )
    )
    ep_run = "ep run case.toml --out r --no-progress"
    add(_c("ep-run/out-is-a-file", ep_run, 1, "--out r", "file", files={"case.toml": ep_case(), "r": USER}))
    add(
        _c(
            "ep-run/out-holds-user-files",
            ep_run,
            1,
            "--out r",
            "mine.txt",
            files={"case.toml": ep_case(), "r/mine.txt": USER},
        )
    )
    add(
        _c(
            "ep-run/out-under-a-file",
            "ep run case.toml --out notes.txt/r --no-progress",
            1,
            "--out",
            "notes.txt",
            files={"case.toml": ep_case(), "notes.txt": USER},
        )
    )
    add(
        _c(
            "ep-run/bad-case-leaves-nothing",
            ep_run,
            1,
            "case.toml",
            "dt",
            files={"case.toml": ep_case(simulation='duration = "5 ms"\ndt = -1')},
        )
    )
    add(
        _c(
            "ep-run/huge-stimulus-diverges",
            ep_run,
            1,
            "non-finite",
            "node",
            "t = ",
            "stimulus",
            files={"case.toml": ep_case(**{"[stimulus]": EP_BASE["[stimulus]"].replace("50000", "1e30")})},
            slow=True,
        )
    )
    add(
        _c(
            "ep-run/ecg-without-snapshots",
            "ep run case.toml --out r --no-progress --ecg",
            1,
            "snapshot",
            files={"case.toml": ep_case()},
        )
    )
    # ---- ep tune-cv
    add(_c("ep-tune-cv/cv-zero", "ep tune-cv aliev-panfilov --cv 0 --edge-length 0.5", 2, "--cv"))
    add(_c("ep-tune-cv/cv-nan", "ep tune-cv aliev-panfilov --cv nan --edge-length 0.5", 2, "--cv"))
    add(_c("ep-tune-cv/edge-negative", "ep tune-cv aliev-panfilov --cv 0.6 --edge-length -0.5", 2, "--edge-length"))
    add(
        _c(
            "ep-tune-cv/unknown-model",
            "ep tune-cv aliev-panfilof --cv 0.6 --edge-length 0.5",
            1,
            "aliev-panfilof",
            "aliev-panfilov",
        )
    )
    add(
        _c(
            "ep-tune-cv/diffusion-unknown",
            "ep tune-cv aliev-panfilov --cv 0.6 --edge-length 0.5 --diffusion implicit",
            2,
            "implicit",
        )
    )
    add(
        _c(
            "ep-tune-cv/dt-zero",
            "ep tune-cv aliev-panfilov --cv 0.6 --edge-length 0.5 --dt 0",
            1,
            "--dt|dt must",
            "positive",
        )
    )
    # ---- calibrate
    add(_c("calibrate/missing-case", "calibrate nosuch.toml --out fit", 1, "nosuch.toml"))
    add(
        _c(
            "calibrate/toml-syntax",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            files={"case.toml": "[fit\n", "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/no-free-parameters",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            "free",
            files={"case.toml": cal_case(**{"[free]": None}), "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/free-name-dunder",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            "__class__",
            files={
                "case.toml": cal_case(**{"[free]": 'name = "circulation.model.__class__"\nlower = 0\nupper = 1'}),
                "cuff.json": CUFF,
            },
        )
    )
    add(
        _c(
            "calibrate/free-bounds-reversed",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            "lower",
            files={"case.toml": cal_case(**{"[free]": CAL_BASE["[free]"].replace("0.5", "9.0")}), "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/data-file-missing",
            "calibrate case.toml --out fit",
            1,
            "cuff.json",
            files={"case.toml": cal_case()},
        )
    )
    add(
        _c(
            "calibrate/data-malformed-json",
            "calibrate case.toml --out fit",
            1,
            "cuff.json",
            files={"case.toml": cal_case(), "cuff.json": '{"systolic_mmhg": 120,'},
        )
    )
    add(
        _c(
            "calibrate/data-noise-zero",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            "noise_sd",
            files={"case.toml": cal_case(**{"[data]": CAL_BASE["[data]"].replace("2.0", "0.0")}), "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/unknown-method",
            "calibrate case.toml --out fit",
            1,
            "case.toml",
            "method",
            files={"case.toml": cal_case(fit='method = "simulated-annealing"'), "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/starts-huge",
            "calibrate case.toml --out fit --quiet --no-pictures",
            1,
            "starts",
            files={
                "case.toml": cal_case(fit='method = "levenberg-marquardt"\nmax_steps = 2\nstarts = 100000000'),
                "cuff.json": CUFF,
            },
            slow=True,
        )
    )
    add(
        _c(
            "calibrate/out-is-a-file",
            "calibrate case.toml --out fit",
            1,
            "--out fit",
            "file",
            files={"case.toml": cal_case(), "cuff.json": CUFF, "fit": USER},
        )
    )
    add(
        _c(
            "calibrate/out-holds-user-files",
            "calibrate case.toml --out fit",
            1,
            "--out fit",
            "mine.txt",
            files={"case.toml": cal_case(), "cuff.json": CUFF, "fit/mine.txt": USER},
        )
    )
    add(
        _c(
            "calibrate/truth-malformed",
            "calibrate case.toml --out fit --truth truth.json",
            1,
            "truth.json",
            files={"case.toml": cal_case(), "cuff.json": CUFF, "truth.json": "{LV: 1}"},
        )
    )
    add(
        _c(
            "calibrate/fit-json-malformed",
            "calibrate fit.json --out fit",
            1,
            "fit.json",
            files={"fit.json": '{"organtwin_fit": "1", "provenance": '},
        )
    )
    add(
        _c(
            "calibrate/fit-json-without-provenance",
            "calibrate fit.json --out fit",
            1,
            "fit.json",
            "provenance",
            files={"fit.json": '{"organtwin_fit": 1, "parameters": {"x": 1.0}, "u": [0.0]}'},
        )
    )
    add(
        _c(
            "calibrate/fit-json-case-edited",
            "calibrate fit.json --out fit",
            1,
            "fit.json",
            "case_sha256",
            files={
                "fit.json": _fit_json(cal_case(), case_text=cal_case(fit='method = "gauss-newton"\nmax_steps = 2')),
                "cuff.json": CUFF,
            },
        )
    )
    add(
        _c(
            "calibrate/fit-json-case-dir-elsewhere",
            "calibrate fit.json --out fit",
            1,
            "fit.json",
            "case_dir",
            files={"fit.json": _fit_json(cal_case(), case_dir="/"), "cuff.json": CUFF},
        )
    )
    add(
        _c(
            "calibrate/fit-json-data-outside-case-folder",
            "calibrate fit.json --out fit",
            1,
            "fit.json",
            "outside",
            "--allow-outside-case",
            files={
                "fit.json": _fit_json(
                    cal_case(**{"[data]": CAL_BASE["[data]"].replace('"cuff.json"', '"../../inputs/cuff.json"')})
                ),
                "cuff.json": CUFF,
            },
        )
    )
    # ---- demo
    add(_c("demo/out-is-a-file", "demo --out d", 1, "--out", "file", files={"d": USER}))
    add(_c("demo/out-holds-user-files", "demo --out d", 1, "--out", "mine.txt", files={"d/mine.txt": USER}))
    # ---- flow zerod
    add(_c("flow-zerod/missing-config", "flow zerod nosuch.json out.csv", 1, "nosuch.json"))
    add(_c("flow-zerod/malformed-json", "flow zerod c.json out.csv", 1, "c.json", files={"c.json": '{"vessels": ['}))
    add(_c("flow-zerod/empty-object", "flow zerod c.json out.csv", 1, "c.json", files={"c.json": "{}"}))
    add(
        _c(
            "flow-zerod/unknown-block",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "Nonsense",
            files={"c.json": _zerod(**{"vessels.0.zero_d_element_type": "Nonsense"})},
        )
    )
    add(
        _c(
            "flow-zerod/unknown-bc-type",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "WINDKESSEL9",
            files={"c.json": _zerod(**{"boundary_conditions.1.bc_type": "WINDKESSEL9"})},
        )
    )
    add(
        _c(
            "flow-zerod/negative-resistance",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "resistance",
            files={"c.json": _zerod(**{"vessels.0.zero_d_element_values.R_poiseuille": -100.0})},
        )
    )
    add(
        _c(
            "flow-zerod/parameter-not-a-number",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "C",
            files={"c.json": _zerod(**{"vessels.0.zero_d_element_values.C": "big"})},
        )
    )
    add(
        _c(
            "flow-zerod/dangling-outlet",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "NOWHERE",
            files={"c.json": _zerod(**{"vessels.0.boundary_conditions.outlet": "NOWHERE"})},
        )
    )
    add(
        _c(
            "flow-zerod/time-points-huge",
            "flow zerod c.json out.csv",
            1,
            "c.json",
            "number_of_time_pts",
            files={"c.json": _zerod(**{"simulation_parameters.number_of_time_pts_per_cardiac_cycle": 10**12})},
        )
    )
    add(
        _c(
            "flow-zerod/out-under-a-file",
            "flow zerod c.json notes.txt/out.csv",
            2,
            "OUT.csv",
            "notes.txt",
            files={"c.json": _zerod(), "notes.txt": USER},
        )
    )
    add(
        _c(
            "flow-zerod/out-is-a-folder",
            "flow zerod c.json out.csv",
            2,
            "OUT.csv",
            "folder",
            files={"c.json": _zerod()},
            dirs=("out.csv",),
        )
    )
    # ---- flow circulation
    circ = "flow circulation --out c"
    add(_c("flow-circulation/param-unknown-group", f"{circ} --param XX.e_active=2", 2, "XX"))
    add(_c("flow-circulation/param-not-a-number", f"{circ} --param LV.e_active=two", 2, "LV.e_active"))
    add(_c("flow-circulation/param-nan", f"{circ} --param LV.e_active=nan", 2, "LV.e_active"))
    add(_c("flow-circulation/param-negative-period", f"{circ} --param period=-0.8", 1, "period", "-0.8"))
    add(_c("flow-circulation/tol-zero", f"{circ} --tol 0", 2, "--tol"))
    add(_c("flow-circulation/max-cycles-zero", f"{circ} --max-cycles 0", 2, "--max-cycles"))
    add(_c("flow-circulation/activation-missing", f"{circ} --activation nosuch.vtu", 1, "nosuch.vtu"))
    add(_c("flow-circulation/activation-without-times", f"{circ} --activation {{in}}/slab.vtu", 1, "activation_time"))
    add(_c("flow-circulation/edv-garbled", f"{circ} --edv lots", 2, "--edv"))
    add(_c("flow-circulation/out-is-a-file", circ, 1, "--out c", "file", files={"c": USER}))
    add(_c("flow-circulation/out-holds-user-files", circ, 1, "--out c", "mine.txt", files={"c/mine.txt": USER}))
    # ---- bench niederer
    add(_c("bench-niederer/dx-not-dividing", "bench niederer --dx 0.3 -q", 1, "dx 0.3", "divide"))
    add(_c("bench-niederer/dx-negative", "bench niederer --dx -0.5 -q", 2, "--dx"))
    add(_c("bench-niederer/dt-zero", "bench niederer --dt 0 -q", 2, "--dt"))
    add(_c("bench-niederer/t-max-nan", "bench niederer --t-max nan -q", 2, "--t-max"))
    add(
        _c(
            "bench-niederer/json-under-a-file",
            "bench niederer -q -o notes.txt/r.json",
            2,
            "--out",
            "notes.txt",
            files={"notes.txt": USER},
        )
    )
    add(
        _c(
            "bench-niederer/explicit-unstable-dt",
            "bench niederer -q --diffusion explicit --mass lumped --dt 1",
            1,
            "dt",
        )
    )
    C.extend(_redteam_cases())
    return C


def _redteam_cases() -> list[Case]:
    """The second round (a checker's kinds, tried through the console script): odd meshes other tools write, empty
    strings and "." for options, case files and JSON in other encodings, units and sizes out of range, results folders
    edited by hand. Those that read a mesh or start JAX are slow."""
    C = []

    def add(case: Case, slow: bool = True):
        C.append(dataclasses.replace(case, slow=slow))

    slab = "{in}/slab.vtu"
    act = "activate {in}/slab.vtu --site 0,0,0 --cv-fibre 0.6 --out a.vtu"
    e = ep_case()
    # ---- mesh info: what meshio lets other tools write
    add(_c("mesh-info/mixed-cell-types", "mesh info {in}/mixed.vtu", 0, "mixed.vtu", "1 hexahedron", "only tets"))
    add(_c("mesh-info/triangles-only", "mesh info {in}/tri3d.vtu", 1, "tri3d.vtu", "no tetrahedra", "tetrahedralise"))
    add(_c("mesh-info/points-2d-flat-tets", "mesh info {in}/pts2d.vtu", 1, "pts2d.vtu", "zero volume"))
    add(_c("mesh-info/coordinates-1e30", "mesh info {in}/huge.vtu", 0, "huge.vtu", "--scale"))
    add(_c("mesh-info/coordinates-1e-30", "mesh info {in}/tiny.vtu", 0, "tiny.vtu", "--scale"))
    add(_c("mesh-info/inf-coordinate", "mesh info {in}/inf.vtu", 1, "inf.vtu", "infinite", "node"))
    add(_c("mesh-info/integer-coordinates", "mesh info {in}/intpts.vtu", 0))
    add(
        _c("mesh-info/fibres-two-components", "mesh info {in}/fib2.vtu", 0, "fib2.vtu", "'fibres'", "3 numbers per tet")
    )
    add(_c("mesh-info/fibres-per-node", "mesh info {in}/fibpt.vtu", 0, "fibpt.vtu", "per node", "per tet"))
    add(_c("mesh-info/region-ids-not-whole", "mesh info {in}/reg_float.vtu", 0, "reg_float.vtu", "whole-number"))
    add(_c("mesh-info/region-ids-nan", "mesh info {in}/reg_nan.vtu", 0, "reg_nan.vtu", "'region'", "region 1"))
    add(
        _c("mesh-info/tet-names-missing-node", "mesh info {in}/badidx.vtu", 1, "badidx.vtu", "do not exist", "45 nodes")
    )
    add(_c("mesh-info/unused-node", "mesh info {in}/orphans.vtu", 0, "orphans.vtu", "not used by any tet"))
    add(_c("mesh-info/inverted-tets", "mesh info {in}/inverted.vtu", 0, "inverted.vtu", "96 of 96", "reoriented"))
    add(_c("mesh-info/path-with-space-and-accents", ["mesh", "info", "{in}/space dir é/slab ü.vtu"], 0))
    add(_c("mesh-info/csv-as-mesh", "mesh info {in}/act.csv", 1, "act.csv", ".csv", "formats"))
    add(_c("mesh-info/empty-path", ["mesh", "info", ""], 1, "folder", "mesh file"))
    add(_c("mesh-info/scale-1e300", f"mesh info {slab} --scale 1e300", 1, "--scale", "mm across"))
    add(_c("mesh-info/scale-1e-300", f"mesh info {slab} --scale 1e-300", 1, "--scale", "mm across"))
    add(_c("mesh-info/scale-empty-string", ["mesh", "info", slab, "--scale", ""], 2, "--scale"), slow=False)
    add(_c("mesh-info/region-names-empty-string", ["mesh", "info", slab, "--region-names", ""], 1, "--region-names"))
    map_ok = '{"regions": {"S": 1}}'
    add(
        _c(
            "mesh-info/map-utf8-bom",
            f"mesh info {slab} --map m.json",
            0,
            files={"m.json": b"\xef\xbb\xbf" + map_ok.encode()},
        )
    )
    add(
        _c(
            "mesh-info/map-utf16",
            f"mesh info {slab} --map m.json",
            1,
            "m.json",
            "utf-8",
            files={"m.json": map_ok.encode("utf-16")},
        )
    )
    add(
        _c(
            "mesh-info/map-id-nan",
            f"mesh info {slab} --map m.json",
            1,
            "m.json",
            "whole number",
            files={"m.json": '{"regions": {"S": NaN}}'},
        )
    )
    add(
        _c(
            "mesh-info/map-id-inf",
            f"mesh info {slab} --map m.json",
            1,
            "m.json",
            "whole number",
            files={"m.json": '{"regions": {"S": 1e400}}'},
        )
    )
    add(_c("mesh-info/map-is-a-folder", f"mesh info {slab} --map mdir", 2, "--map", "mdir", dirs=("mdir",)))
    # ---- mesh convert / generate / render / fibres / surfaces
    add(_c("mesh-convert/out-dot", f"mesh convert {slab} .", 2, "DST .", "folder"))
    add(_c("mesh-convert/out-empty-string", ["mesh", "convert", slab, ""], 2, "DST", "folder"))
    add(
        _c(
            "mesh-convert/out-is-the-input",
            "mesh convert s.vtu s.vtu --scale 2",
            2,
            "s.vtu",
            "input",
            files={"s.vtu": USER},
        )
    )
    add(_c("mesh-convert/scale-1e300", f"mesh convert {slab} out.vtu --scale 1e300", 1, "--scale", "mm across"))
    add(_c("mesh-convert/regions-empty-string", ["mesh", "convert", slab, "out.vtu", "--regions", ""], 2, "--regions"))
    add(
        _c(
            "mesh-convert/out-in-missing-unicode-folder",
            ["mesh", "convert", slab, "sp ace é/out ü.vtu"],
            2,
            "sp ace é",
            "does not exist",
        )
    )
    # the output as --out/-o (issue 19), and the deprecated positional output given as well, or neither
    add(_c("mesh-convert/out-option-dot", f"mesh convert {slab} --out .", 2, "--out .", "folder"), slow=False)
    add(_c("mesh-convert/out-option-empty", ["mesh", "convert", slab, "-o", ""], 2, "--out", "folder"), slow=False)
    add(_c("mesh-convert/out-twice", f"mesh convert {slab} a.vtu --out b.vtu", 2, "DST and --out", "only"), slow=False)
    add(_c("mesh-convert/no-out", f"mesh convert {slab}", 2, "missing", "--out"), slow=False)
    add(_c("mesh-fibres/no-out", f"mesh fibres {slab} --png f.png", 2, "missing", "--out"), slow=False)
    add(_c("mesh-surfaces/no-out", f"mesh surfaces {slab} --auto", 2, "missing", "--out"), slow=False)
    add(_c("flow-zerod/no-out", "flow zerod c.json", 2, "missing", "--out", files={"c.json": "{}"}), slow=False)
    add(_c("flow-zerod/out-option-missing-config", "flow zerod nosuch.json -o out.csv", 1, "nosuch.json"), slow=False)
    add(
        _c("mesh-generate/edge-length-negative", "mesh generate lv --out lv.vtu --edge-length -2", 2, "--edge-length"),
        slow=False,
    )
    add(
        _c("mesh-generate/out-dot", "mesh generate slab --out . --dx 0.5 --size 1,1,1", 2, "--out .", "folder"),
        slow=False,
    )
    add(_c("mesh-generate/size-1e30", "mesh generate slab --out s.vtu --size 1e30,1,1", 1, "int32", "larger dx"))
    add(
        _c(
            "mesh-generate/size-empty-string", ["mesh", "generate", "slab", "--out", "s.vtu", "--size", ""], 2, "--size"
        ),
        slow=False,
    )
    add(_c("mesh-generate/h-1e-30", "mesh generate lv --out lv.vtu --h 1e-30", 1, "h = 1e-30", "use h >="))
    add(_c("mesh-generate/h-negative", "mesh generate lv --out lv.vtu --h -2", 2, "--h"), slow=False)
    add(
        _c("mesh-generate/out-in-missing-folder", "mesh generate slab --out nodir/s.vtu", 2, "nodir", "does not exist"),
        slow=False,
    )
    add(
        _c(
            "mesh-render/field-all-nan",
            "mesh render {in}/act_nan.vtu --out pic.png --field activation_time",
            1,
            "act_nan.vtu",
            "activation_time",
            "no finite value",
        )
    )
    add(
        _c(
            "mesh-render/field-empty-string",
            ["mesh", "render", slab, "--out", "pic.png", "--field", ""],
            2,
            "--field",
            "empty",
        ),
        slow=False,
    )
    add(_c("mesh-render/out-empty-string", ["mesh", "render", slab, "--out", ""], 2, "--out", "folder"))
    add(_c("mesh-fibres/alpha-inf", f"mesh fibres {slab} out.vtu --alpha-endo inf", 1, "alpha_endo", "inf"))
    add(_c("mesh-fibres/out-is-the-input", "mesh fibres s.vtu s.vtu", 2, "s.vtu", "input", files={"s.vtu": USER}))
    add(
        _c(
            "mesh-surfaces/feature-angle-nan",
            f"mesh surfaces {slab} out.vtu --auto --no-png --feature-angle nan",
            2,
            "--feature-angle",
            "nan",
        )
    )
    add(
        _c(
            "mesh-surfaces/feature-angle-720",
            f"mesh surfaces {slab} out.vtu --auto --no-png --feature-angle 720",
            2,
            "--feature-angle",
            "180",
        )
    )
    # ---- activate
    add(
        _c(
            "activate/coordinates-1e30",
            "activate {in}/huge.vtu --site 0,0,0 --cv-fibre 0.6 --out a.vtu",
            1,
            "too slow",
            "float32",
        )
    )
    add(_c("activate/cv-fibre-1e30", f"{act} --cv-fibre 1e30", 1, "too fast", "use velocities <="))
    add(_c("activate/cv-endo-nan", f"{act} --fast-endo x --cv-endo nan", 2, "--cv-endo", "nan"))
    add(
        _c(
            "activate/site-onset-nan",
            "activate {in}/slab.vtu --site 0,0,0@nan --cv-fibre 0.6 --out a.vtu",
            2,
            "--site",
            "0,0,0@nan",
        )
    )
    add(
        _c(
            "activate/site-onset-1e300",
            "activate {in}/slab.vtu --site 0,0,0@1e300 --cv-fibre 0.6 --out a.vtu",
            1,
            "onsets",
            "float64",
        )
    )
    add(
        _c(
            "activate/site-empty-string",
            ["activate", slab, "--site", "", "--cv-fibre", "0.6", "--out", "a.vtu"],
            2,
            "--site",
        )
    )
    add(_c("activate/out-dot", "activate {in}/slab.vtu --site 0,0,0 --cv-fibre 0.6 --out .", 2, "--out .", "folder"))
    add(
        _c(
            "activate/out-is-the-input",
            "activate s.vtu --site 0,0,0 --cv-fibre 0.6 --out s.vtu",
            2,
            "s.vtu",
            "input",
            files={"s.vtu": USER},
        )
    )
    add(
        _c(
            "activate/fibres-two-components",
            "activate {in}/fib2.vtu --site 0,0,0 --cv-fibre 0.6 --cv-transverse 0.3 --out a.vtu",
            1,
            "fib2.vtu",
            "no fibres",
        )
    )
    add(_c("activate/cv-normal-without-sheets", f"{act} --cv-normal 0.2", 1, "sheet", "--cv-normal"))
    # ---- ecg
    add(_c("ecg/activation-named-differently", "ecg {in}/act_named.vtu --out e", 1, "act_named.vtu", "activation_time"))
    add(_c("ecg/out-dot", "ecg {in}/act.vtu --out .", 1, "--out .", "current folder"))
    add(_c("ecg/out-empty-string", ["ecg", "{in}/act.vtu", "--out", ""], 1, "--out", "current folder"))
    add(_c("ecg/duration-negative", "ecg {in}/act.vtu --out e --duration -5", 2, "--duration"), slow=False)
    add(_c("ecg/sigma-b-inf", "ecg {in}/act.vtu --out e --sigma-b inf", 2, "--sigma-b"), slow=False)
    add(_c("ecg/dt-longer-than-the-beat", "ecg {in}/act.vtu --out e --dt 1000", 1, "--dt", "1 sample", "at least two"))
    leads = "RA LA LL V1 V2 V3 V4 V5 V6".split()
    add(
        _c(
            "ecg/electrodes-nan",
            "ecg {in}/act.vtu --out e --electrodes el.csv",
            1,
            "el.csv:2",
            "non-finite",
            files={"el.csv": "name,x,y,z\n" + "".join(f"{n},nan,0,0\n" for n in leads)},
        )
    )
    add(
        _c(
            "ecg/electrodes-utf16",
            "ecg {in}/act.vtu --out e --electrodes el.csv",
            1,
            "el.csv",
            "utf-8",
            files={"el.csv": ("name,x,y,z\n" + "".join(f"{n},1,2,3\n" for n in leads)).encode("utf-16")},
        )
    )
    bom = "\ufeffname,x,y,z\r\n" + "".join(f"{n},{50 + i},{30 * i},{-20 + i}\r\n" for i, n in enumerate(leads))
    add(
        _c(
            "ecg/electrodes-utf8-bom-crlf",
            "ecg {in}/act.vtu --out e --electrodes el.csv",
            0,
            files={"el.csv": bom.encode()},
        )
    )
    add(
        _c(
            "ecg/summary-not-json",
            "ecg {in}/act.vtu --out e",
            1,
            "--out e",
            "not written by organtwin",
            files={"e/summary.json": "not json{", "e/ecg.csv": "x"},
        )
    )
    # ---- ep check / ep run: case files in other encodings, units and sizes, results folders edited by hand
    sim = lambda body: ep_case(simulation=body)
    chk = "ep check case.toml"
    add(
        _c("ep-check/case-utf16", chk, 1, "case.toml", "not a UTF-8 text file", files={"case.toml": e.encode("utf-16")})
    )
    add(
        _c(
            "ep-check/case-latin1",
            chk,
            1,
            "case.toml",
            "utf-8",
            files={"case.toml": ('title = "caf\xe9"\n' + e).encode("latin-1")},
        )
    )
    add(_c("ep-check/case-utf8-bom", chk, 0, files={"case.toml": "\ufeff" + e}))
    add(_c("ep-check/case-crlf", chk, 0, files={"case.toml": e.replace("\n", "\r\n")}))
    add(_c("ep-check/case-nul-bytes", chk, 1, "case.toml", "invalid TOML", files={"case.toml": b"\x00" * 50}))
    add(
        _c(
            "ep-check/section-twice",
            chk,
            1,
            "case.toml",
            "twice",
            files={"case.toml": e + '\n[simulation]\ndt = "0.01 ms"\n'},
        )
    )
    add(
        _c(
            "ep-check/duration-in-mV",
            chk,
            1,
            "case.toml",
            "duration",
            "voltage",
            files={"case.toml": sim('duration = "5 mV"\ndt = "0.02 ms"')},
        )
    )
    add(_c("ep-check/duration-in-seconds", chk, 0, files={"case.toml": sim('duration = "0.005 s"\ndt = "0.02 ms"')}))
    add(
        _c(
            "ep-check/duration-empty-string",
            chk,
            1,
            "case.toml",
            "duration",
            "like",
            files={"case.toml": sim('duration = ""\ndt = "0.02 ms"')},
        )
    )
    add(
        _c(
            "ep-check/duration-unit-msec",
            chk,
            1,
            "case.toml",
            "duration",
            "msec",
            files={"case.toml": sim('duration = "5 msec"\ndt = "0.02 ms"')},
        )
    )
    add(
        _c(
            "ep-check/duration-two-numbers",
            chk,
            1,
            "case.toml",
            "duration",
            "5 5 ms",
            files={"case.toml": sim('duration = "5 5 ms"\ndt = "0.02 ms"')},
        )
    )
    add(
        _c(
            "ep-check/duration-1e999",
            chk,
            1,
            "case.toml",
            "duration",
            "finite",
            files={"case.toml": sim('duration = "1e999 ms"\ndt = "0.02 ms"')},
        )
    )
    add(
        _c(
            "ep-check/dt-longer-than-duration",
            chk,
            1,
            "case.toml",
            "dt",
            "longer than the run",
            files={"case.toml": sim('duration = "0.01 ms"\ndt = "0.02 ms"')},
        )
    )
    add(_c("ep-check/sigma-in-mS-per-cm", chk, 0, files={"case.toml": ep_case(conductivity='sigma_l = "1 mS/cm"')}))
    add(
        _c(
            "ep-check/sigma-a-time",
            chk,
            1,
            "case.toml",
            "sigma_l",
            "is a time",
            files={"case.toml": ep_case(conductivity='sigma_l = "0.1 ms"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-path-empty-string",
            chk,
            1,
            "case.toml",
            "[mesh] path",
            "empty",
            files={"case.toml": ep_case(mesh='path = ""')},
        )
    )
    add(
        _c(
            "ep-check/mesh-path-space-and-accents",
            chk,
            0,
            files={"case.toml": ep_case(mesh='path = "{in}/space dir é/slab ü.vtu"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-triangles-only",
            chk,
            1,
            "case.toml",
            "tri3d.vtu",
            "no tetrahedra",
            files={"case.toml": ep_case(mesh='path = "{in}/tri3d.vtu"')},
        )
    )
    add(
        _c(
            "ep-check/mesh-scale-1e300",
            chk,
            1,
            "case.toml",
            "scale",
            "mm across",
            files={"case.toml": ep_case(mesh='path = "{in}/slab.vtu"\nscale = 1e300')},
        )
    )
    box = 'kind = "box"\nlower = [{}]\nupper = [{}]\nstrength = "{} uA/cm^3"'
    add(
        _c(
            "ep-check/stimulus-box-inverted",
            chk,
            1,
            "case.toml",
            "upper",
            "below lower",
            files={"case.toml": ep_case(**{"[stimulus]": box.format("1, 1, 1", "0, 0, 0", 50000)})},
        )
    )
    add(
        _c(
            "ep-check/stimulus-strength-nan",
            chk,
            1,
            "case.toml",
            "strength",
            "nan",
            files={"case.toml": ep_case(**{"[stimulus]": box.format("0, 0, 0", "0.5, 0.5, 0.5", "nan")})},
        )
    )
    add(
        _c(
            "ep-check/fibres-file-two-numbers-per-tet",
            chk,
            1,
            "fib.txt",
            "3 or 6 numbers",
            files={"case.toml": ep_case(fibres='source = "file"\npath = "fib.txt"'), "fib.txt": "1 0\n" * 96},
        )
    )
    run = "ep run case.toml --out r --no-progress"
    manifest = lambda files: json.dumps({"organtwin_results": {"kind": "ep run"}, "manifest": {"files": files}})
    add(
        _c(
            "ep-run/out-dot",
            "ep run case.toml --out . --no-progress",
            1,
            "--out .",
            "current folder",
            files={"case.toml": e},
        )
    )
    add(
        _c(
            "ep-run/out-empty-string",
            ["ep", "run", "case.toml", "--out", "", "--no-progress"],
            1,
            "--out",
            "current folder",
            files={"case.toml": e},
        )
    )
    add(
        _c(
            "ep-run/out-parent-folder",
            "ep run case.toml --out .. --no-progress",
            1,
            "--out ..",
            "holds it",
            files={"case.toml": e},
        )
    )
    add(
        _c(
            "ep-run/out-holds-the-case",
            "ep run sub/case.toml --out sub --no-progress",
            1,
            "--out sub",
            "holds the input",
            files={"sub/case.toml": e},
        )
    )
    add(
        _c(
            "ep-run/summary-not-json",
            run,
            1,
            "--out r",
            "not written by organtwin",
            "activation.vtu",
            files={"case.toml": e, "r/summary.json": "{{{", "r/activation.vtu": USER},
        )
    )
    add(
        _c(
            "ep-run/summary-is-a-folder",
            run,
            1,
            "--out r",
            "summary.json/",
            files={"case.toml": e},
            dirs=("r/summary.json",),
        )
    )
    add(
        _c(
            "ep-run/manifest-size-edited",
            run,
            1,
            "--out r",
            "a.csv (changed since organtwin wrote it)",
            files={"case.toml": e, "r/summary.json": manifest({"a.csv": 3}), "r/a.csv": USER},
        )
    )
    # ---- cell
    add(_c("cell/out-dot", "cell aliev-panfilov --beats 1 --out .", 2, "--out .", "folder"))
    add(_c("cell/out-empty-string", ["cell", "aliev-panfilov", "--beats", "1", "--out", ""], 2, "--out", "folder"))
    add(
        _c(
            "cell/out-and-png-the-same-file",
            "cell aliev-panfilov --beats 1 --out t.png --png t.png",
            2,
            "--out and --png",
            "t.png",
        )
    )
    add(_c("cell/bcl-shorter-than-the-stimulus", "cell aliev-panfilov --beats 2 --bcl 0.5", 1, "stim_duration", "bcl"))
    add(
        _c(
            "cell/bcl-1-keeps-user-csv",
            "cell aliev-panfilov --beats 1 --bcl 1 --out t.csv",
            1,
            "bcl",
            files={"t.csv": USER},
        )
    )
    add(_c("cell/dtype-float16", "cell aliev-panfilov --dtype float16", 2, "--dtype", "float16"), slow=False)
    add(
        _c(
            "cell/record-every-1e9",
            "cell aliev-panfilov --beats 1 --record-every 1000000000",
            1,
            "record_every",
            "divisor",
        )
    )
    add(
        _c(
            "cell/stim-amplitude-1e30",
            "cell aliev-panfilov --beats 1 --stim-amplitude 1e30",
            1,
            "non-finite",
            "lower the stimulus",
        )
    )
    # ---- flow zerod: the config in other encodings, a NaN parameter
    zc = "flow zerod c.json out.csv"
    add(_c("flow-zerod/config-utf16", zc, 1, "c.json", "not UTF-8", files={"c.json": _zerod().encode("utf-16")}))
    add(_c("flow-zerod/config-utf8-bom", zc, 0, files={"c.json": "\ufeff" + _zerod()}))
    nan_r = _zerod(**{"vessels.0.zero_d_element_values.R_poiseuille": float("nan")})
    add(_c("flow-zerod/parameter-nan", zc, 1, "c.json", "R_poiseuille", "not finite", files={"c.json": nan_r}))
    return C


# The slower half (each starts JAX and reads a mesh or a case: ~3 s of CPU) runs with -m slow; the default suite keeps
# at least one case of every kind for every command, and every case refused before heavy imports (~0.4 s).
SLOW = (
    {
        "mesh-info/" + k
        for k in (
            "truncated-vtu",
            "text-as-msh",
            "surface-only-stl",
            "duplicate-tet",
            "nan-fibres",
            "scale-zero",
            "scale-nan",
            "scale-inf",
            "region-names-garbled",
            "map-not-an-object",
            "map-id-not-a-number",
            "region-field-unknown",
        )
    }
    | {
        "mesh-convert/regions-not-in-mesh",
        "mesh-convert/scale-negative-mirrors",
        "mesh-convert/missing-input",
        "mesh-render/field-not-in-mesh",
        "mesh-render/folder-without-activation",
    }
    | {"mesh-generate/" + k for k in ("dx-nan", "dx-inf", "size-negative", "h-nan", "h-huge", "unknown-extension")}
    | {"mesh-fibres/alpha-nan", "mesh-surfaces/auto-on-a-slab", "mesh-surfaces/feature-angle-negative"}
    | {"cell/" + k for k in ("bcl-inf", "stim-amplitude-nan", "out-in-missing-folder", "png-under-a-file")}
    | {
        "activate/" + k
        for k in (
            "cv-fibre-negative",
            "cv-fibre-nan",
            "cv-transverse-inf",
            "site-not-numbers",
            "site-nan",
            "site-radius-negative",
            "fibres-unknown-choice",
            "fast-endo-unknown-surface",
            "scale-negative",
            "out-is-a-folder",
        )
    }
    | {
        "ecg/" + k
        for k in (
            "activation-all-nan",
            "electrodes-missing-leads",
            "electrodes-missing-file",
            "out-is-a-file",
            "lv-regions-not-in-mesh",
        )
    }
    | {
        "ep-check/" + k
        for k in (
            "case-is-a-folder",
            "empty-case",
            "no-simulation-section",
            "unknown-section",
            "dt-unknown-unit",
            "dt-wrong-type",
            "dt-negative",
            "duration-inf",
            "sigma-negative",
            "unknown-model",
            "mesh-missing",
            "mesh-garbage",
            "mesh-scale-zero",
            "fibres-unknown-source",
            "fibres-option-unknown",
            "dt-too-large-theta",
        )
    }
    | {"ep-run/out-is-a-file", "ep-run/out-under-a-file", "ep-run/bad-case-leaves-nothing"}
    | {"ep-tune-cv/" + k for k in ("cv-nan", "edge-negative", "diffusion-unknown", "dt-zero")}
    | {
        "calibrate/" + k
        for k in (
            "missing-case",
            "no-free-parameters",
            "free-bounds-reversed",
            "data-file-missing",
            "data-noise-zero",
            "unknown-method",
            "out-is-a-file",
            "truth-malformed",
            "fit-json-malformed",
            "fit-json-without-provenance",
            "fit-json-case-dir-elsewhere",
        )
    }
    | {
        "flow-zerod/" + k
        for k in (
            "missing-config",
            "empty-object",
            "unknown-bc-type",
            "parameter-not-a-number",
            "dangling-outlet",
            "out-under-a-file",
        )
    }
    | {
        "flow-circulation/" + k
        for k in ("param-not-a-number", "param-nan", "param-negative-period", "activation-missing", "out-is-a-file")
    }
    | {"bench-niederer/explicit-unstable-dt"}
)


# Issue 19 (suite under 15 minutes on 2 cores): a second cut of cases that start JAX (2.3-5 s of CPU each, measured by
# benchmarks/bad_inputs.py, results_bad_inputs_2026-12-07.json). Each goes through the same refusal path as a case the
# default keeps for its command (named after the "~"), so the default still holds every kind of refusal of every
# command; these run in the whole catalogue (-m slow) and in benchmarks/bad_inputs.py.
SLOW_SECOND_CUT = {
    # mesh info: the reader's checks kept through missing-file, garbage-bytes, nan-coordinate, face-in-three-tets
    "mesh-info/scale-negative",  # ~ --scale checks (scale-not-a-number, scale-empty-string)
    "mesh-info/map-missing-file",  # ~ missing-file
    "mesh-info/zero-fibres",  # ~ activate/zero-fibres via the fibre checks, nan-coordinate
    "mesh-info/flat-zero-volume",  # ~ face-in-three-tets (mesh checks)
    "mesh-info/empty-file",  # ~ garbage-bytes
    "mesh-info/folder-as-file",  # ~ missing-file
    "mesh-info/pinched-at-a-vertex",  # ~ face-in-three-tets
    "mesh-info/map-id-not-in-mesh",  # ~ map-malformed-json (the name map's checks)
    "mesh-info/region-names-unknown-id",  # ~ map-malformed-json
    # cell: kept unknown-model, dt-nan, dt-too-large-nan-trace, out-is-a-folder, the argument checks under 1 s
    "cell/dt-negative",  # ~ dt-nan
    "cell/dt-zero",  # ~ dt-nan
    "cell/bcl-zero",  # ~ dt-nan (the same positive-number check)
    "cell/beats-negative",  # ~ beats-not-an-integer
    "cell/record-every-zero",  # ~ dt-nan
    "cell/stim-duration-negative",  # ~ dt-nan
    "cell/beats-huge",  # ~ dt-too-large-nan-trace
    # activate: kept site-far-outside, cv-fibre-tiny-overflows, regions-not-in-mesh, zero-fibres-mesh
    "activate/site-two-numbers",  # ~ site-far-outside
    "activate/cv-fibre-zero",  # ~ cv-fibre-tiny-overflows
    # mesh generate: kept dx-tiny-huge-mesh, out-in-missing-folder, unknown-kind
    "mesh-generate/h-negative",  # ~ edge-length-negative
    "mesh-generate/dx-zero",  # ~ edge-length-negative
    "mesh-generate/size-two-numbers",  # ~ dx-tiny-huge-mesh
    "mesh-generate/size-empty-string",  # ~ dx-tiny-huge-mesh
    "mesh-generate/out-dot",  # ~ out-in-missing-folder
    # mesh convert: kept broken-input-keeps-old-output, unknown-extension, the --out checks
    "mesh-convert/regions-garbled",  # ~ mesh-info/map-malformed-json
    "mesh-convert/output-under-a-file",  # ~ mesh-render/output-is-a-folder
    "mesh-convert/output-is-a-folder",  # ~ mesh-render/output-is-a-folder
    "mesh-render/field-empty-string",  # ~ mesh-render/missing-out-option
    # calibrate: kept fit-json-case-edited, free-name-dunder, out-holds-user-files
    "calibrate/toml-syntax",  # ~ ep-check/toml-syntax
    "calibrate/fit-json-data-outside-case-folder",  # ~ fit-json-case-edited
    "calibrate/data-malformed-json",  # ~ flow-zerod/malformed-json, mesh-info/map-malformed-json
    # ep check: kept steps-overflow, unknown-key, dt-wrong-unit, stimulus-outside, toml-syntax
    "ep-check/huge-duration-with-snapshots",  # ~ steps-overflow
    "ep-check/mesh-face-in-three-tets",  # ~ mesh-info/face-in-three-tets
    "ep-check/dt-nan",  # ~ dt-wrong-unit
    "ep-check/missing-case",  # ~ mesh-info/missing-file
    "ep-check/region-not-in-mesh",  # ~ activate/regions-not-in-mesh
    "ep-check/probe-outside",  # ~ stimulus-outside
    "ep-tune-cv/cv-zero",  # ~ activate/cv-fibre-tiny-overflows
    "demo/out-is-a-file",  # ~ demo/out-holds-user-files
    # flow zerod: kept malformed-json, unknown-block, negative-resistance, out-is-a-folder and the argument checks
    "flow-zerod/time-points-huge",  # ~ negative-resistance
    # ecg: kept electrodes-malformed, mesh-without-activation and the argument checks under 1 s
    "ecg/out-holds-user-files",  # ~ demo/out-holds-user-files
    "ecg/duration-huge",  # ~ duration-negative
    "bench-niederer/json-under-a-file",  # ~ dx-not-dividing
}


def _with_speed(cases: list[Case]) -> list[Case]:
    known = {c.id for c in cases}
    slow = SLOW | SLOW_SECOND_CUT
    assert slow <= known, f"SLOW names cases that do not exist: {sorted(slow - known)}"
    return [dataclasses.replace(c, slow=True) if c.id in slow else c for c in cases]


CASES: list[Case] = _with_speed(_cases())
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# ----------------------------------------------------------------------------------------------------------- running
def organtwin_exe() -> Path:
    """The installed console script, next to the running Python (the project's virtual environment)."""
    exe = Path(sys.executable).parent / "organtwin"
    if not exe.is_file():
        raise FileNotFoundError(f"{exe}: the organtwin console script is not installed here (pip install -e .)")
    return exe


def tree(folder: Path) -> dict[str, str]:
    """{relative path: sha256 of the bytes, or '<dir>'} of everything under ``folder``, hidden entries included."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = "<dir>"
        for name in files:
            p = os.path.join(root, name)
            try:
                out[os.path.relpath(p, folder)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            except OSError:
                out[os.path.relpath(p, folder)] = "<unreadable>"
    return out


def _fill(text, inputs: Path, d: Path):
    if isinstance(text, bytes):
        return text
    return text.replace("{in}", str(inputs)).replace("{d}", str(d))


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    before: dict
    after: dict
    seconds: float  # wall
    cpu: float  # user + system CPU seconds of the command (what it costs on an idle machine)


CPU_LIMIT_S = 150  # a refusal is cheap: a case that computes longer than this is killed (SIGXCPU) and fails


def _limit_cpu():
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 5))


def run_case(case: Case, inputs: Path, root: Path, *, timeout: float = 600.0) -> Result:
    """Run one case in ``root / <case id>``: write its files, run the console script there, snapshot the folder.
    Its stdout and stderr go to files beside the folder (not in it)."""
    d = root / case.id.replace("/", "__")
    d.mkdir(parents=True)
    for sub in case.dirs:
        (d / sub).mkdir(parents=True, exist_ok=True)
    for name, text in case.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        data = _fill(text, inputs, d)
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    before = tree(d)
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    argv = [str(organtwin_exe()), *(_fill(a, inputs, d) for a in case.argv)]
    out_path, err_path = d.with_name(d.name + ".stdout"), d.with_name(d.name + ".stderr")
    start = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(
            argv, cwd=d, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_limit_cpu
        )
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)  # the child's own CPU time, whatever else runs concurrently
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    stderr = err_path.read_text(errors="replace")
    if p.returncode < 0:
        stderr += f"\n(killed by signal {-p.returncode} after {seconds:.0f} s wall, {usage.ru_utime:.0f} s CPU)"
    return Result(
        p.returncode,
        out_path.read_text(errors="replace"),
        stderr,
        before,
        tree(d),
        seconds,
        usage.ru_utime + usage.ru_stime,
    )


def run_all(
    cases, inputs: Path, root: Path, *, workers: int = 4, timeout: float = 600.0, done=None
) -> dict[str, Result]:
    """Every case, ``workers`` subprocesses at a time: {case id: Result}; ``done(case, result)`` as each finishes."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_case, c, inputs, root, timeout=timeout): c for c in cases}
        out = {}
        for f in as_completed(futures):
            out[futures[f].id] = f.result()
            if done is not None:
                done(futures[f], out[futures[f].id])
        return {c.id: out[c.id] for c in cases}


def problems(case: Case, r: Result) -> list[str]:
    """What is wrong with the command's answer to ``case`` (empty: it answered as the catalogue demands)."""
    bad = []
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("organtwin: error:")]
    warns = [ln for ln in lines if ln.startswith("organtwin: warning:")]
    if r.rc != case.rc:
        bad.append(f"exit status {r.rc}, expected {case.rc}")
    if "Traceback" in r.stderr or "Traceback" in r.stdout:
        bad.append("a Python traceback")
    others = [ln for ln in lines if not ln.startswith("organtwin: ")]
    if others:
        bad.append(f"{len(others)} stderr lines that are not one-line organtwin messages, first: {others[0]!r}")
    if case.rc == 0:
        if errors:
            bad.append(f"an error line for a legal input: {errors[0]!r}")
        if not case.words:  # a legal input with nothing to say about it (an encoding, a path with spaces)
            if warns:
                bad.append(f"a warning for an ordinary input: {warns[0]!r}")
            return bad
        said = [w for w in warns if all(any(a.lower() in w.lower() for a in k.split("|")) for k in case.words)]
        if len(said) != 1:
            bad.append(f"expected one warning naming {case.words}, got {warns}")
    else:
        if len(errors) != 1:
            bad.append(f"{len(errors)} 'organtwin: error:' lines, expected exactly one")
        else:
            line = errors[0].lower()
            missing = [k for k in case.words if not any(alt.lower() in line for alt in k.split("|"))]
            if missing:
                bad.append(f"the error line does not say {missing}: {errors[0]!r}")
            if "unexpected" in line or "please report" in line:
                bad.append(f"an unexpected-error line for a user mistake: {errors[0]!r}")
        changed = sorted(k for k in set(r.before) | set(r.after) if r.before.get(k) != r.after.get(k))
        if changed:
            bad.append(f"the output place changed: {changed[:6]}")
    return bad
