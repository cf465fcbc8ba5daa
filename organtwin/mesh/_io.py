"""Reading and writing meshes: every meshio format that holds tets, and openCARP (.pts/.elem/.lon/.vtx/.surf).

Reading maps a file onto a `Mesh` in mm: tet blocks are merged, triangles become named `Surface`s, fibre/sheet arrays
become `fibres`/`sheets`, everything else is kept as cell or point data. Writing is the inverse and atomic: files are
written in a temporary folder next to the target and moved into place only once complete, so a failure never leaves a
half-written mesh.

Which field is the region id (tets): `region_field=` if given; else the first of `REGION_KEYS` present that holds one
integer per tet (case-insensitive; a numbering of the cells, all ids distinct, is passed over); else the tet block
index. "region", the field write_mesh writes, comes first: organtwin's own files read back as written, whatever other
tag fields they carry. Then gmsh:physical, medit:ref, _volume-id, ..., tag, material, id (gmsh, medit, the cardiac
cohorts' VTUs, openCARP conversions and others each have exactly one of these, so their reading is unchanged).

Which field is the surface tag (triangles): `surface_field=` if given; else the first of `SURFACE_KEYS` that varies over
the triangles ("region", then _surface-id, surface-id, surface_id, surface, gmsh:physical, medit:ref, ...), passing
over fields that are constant there (a _volume-id that is 0 on every triangle); if none varies, the first present; if
none is present, any other integer cell field that varies; else the triangle block index. One surface per tag value.

Names of regions and surfaces travel as gmsh-style field data ``{name: [tag, dim]}`` (dim 3 = region, dim 2 = surface):
$PhysicalNames in .msh, FieldData in .vtu and legacy .vtk, an Information element in .xdmf. Medit files hold only the
integer tags; openCARP surfaces and node sets are named by their file names. Node sets travel in meshio formats as 0/1
point arrays named "nodeset:<name>". Names can also come from a JSON name map (given, or found next to the mesh as
``<stem>.json``, ``<stem>_names.json``, ``<stem>_regions.json``, ``<stem>_surfaces.json``) and from explicit id -> name
dictionaries; the format and the precedence are in `organtwin.mesh._surfaces` and docs/mesh-io.md.

meshio is imported here only, and only when a function is called (style rule 11).

Two bugs of meshio 5.3's gmsh readers are worked around by wrapping one private function each (``_gmsh22.
cell_data_from_raw``: block sizes of $ElementData; ``_gmsh41._read_nodes``: the node tags, to put the points in tag
order). The wrappers are installed only for the duration of one `read_mesh` call, under a lock (a second thread's read
waits; meshio's public API is used unchanged otherwise), and the originals are put back in a ``finally``: no process-wide
change outlives the call, and a program's own meshio calls outside `read_mesh` never see them.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

import numpy as np

from .._errors import MeshError, MeshWarning
from ._checks import check_mesh
from ._mesh import Mesh, Surface

if TYPE_CHECKING:
    from meshio import CellBlock
    from numpy.typing import ArrayLike

__all__ = [
    "read_mesh",
    "write_mesh",
    "read_opencarp",
    "write_opencarp",
    "read_vtx",
    "write_vtx",
    "REGION_KEYS",
    "SURFACE_KEYS",
    "separate_tag_fields",
]

#: Cell-data names taken as the region id of the tets, first found wins (matched case-insensitively). "region" (what
#: write_mesh writes) comes first so organtwin's own files read back as written whatever other tag fields they carry.
REGION_KEYS = (
    "region",
    "gmsh:physical",
    "medit:ref",
    "_volume-id",
    "volume-id",
    "volume_id",
    "cell-zone-ids",
    "elemtag",
    "tag",
    "regions",
    "material",
    "id",
    # the tag arrays other meshio readers produce
    "netgen:index",
    "su2:tag",
    "avsucd:material",
    "flac3d:zone",
    "tetgen:ref",
    "ugrid:ref",
)
#: Cell-data names taken as the surface tag of the triangles, in order; a field constant on the triangles (e.g. a
#: volume id that is 0 there) is passed over when a later one varies. Then any other integer field that varies.
SURFACE_KEYS = (
    "region",
    "_surface-id",
    "surface-id",
    "surface_id",
    "surfaceid",
    "surface-ids",
    "surface_ids",
    "surface",
    "surfaces",
    "gmsh:physical",
    "medit:ref",
    "face-id",
    "face_id",
    "boundary-id",
    "boundary_id",
    "boundary",
    "patch",
    "elemtag",
    "tag",
    "_volume-id",
    "regions",
    "material",
    "id",
    "netgen:index",
    "su2:tag",
    "avsucd:material",
    "flac3d:zone",
    "tetgen:ref",
    "ugrid:ref",
)
_FIBRE_KEYS = ("fibres", "fibers", "fiber", "fibre", "f0")
_SHEET_KEYS = ("sheets", "sheet", "s0")
# Tag arrays that are bookkeeping copies when equal to the chosen region array (dropped instead of kept as cell data).
_COPY_KEYS = REGION_KEYS + ("gmsh:geometrical",)
#: Integer tag fields that compete with the region field (dropped or renamed by `separate_tag_fields`).
TAG_KEYS = tuple(dict.fromkeys(REGION_KEYS + SURFACE_KEYS + ("gmsh:geometrical",)))
_OPENCARP_SUFFIXES = (".pts", ".elem", ".lon")
_MESHIO_BINARY = {"vtk", "gmsh", "gmsh22"}  # .vtu: VtuWriter
_NODE_SET_PREFIX = "nodeset:"  # node sets travel in meshio formats as 0/1 point arrays "nodeset:<name>"
_READ_HINT = "formats: .vtu .vtk .msh .xdmf .mesh .inp .med ... (any meshio format with tets) or openCARP .pts/.elem"


def _one_line(e: BaseException) -> str:
    s = " ".join(str(e).split())
    return f"{type(e).__name__}: {s}" if s else f"{type(e).__name__}: not a valid file of this format"


def _warn(message: str) -> None:
    warnings.warn(message, MeshWarning, stacklevel=3)


def _meshio():
    try:
        import meshio
    except ImportError as e:  # pragma: no cover - meshio is a dependency
        raise MeshError(
            f"reading and writing meshes needs meshio ({e}); install it with `pip install meshio`"
        ) from None
    return meshio


def _scaled(mesh: Mesh, scale, source: str) -> Mesh:
    """``mesh.scaled(scale)``, refused when the factor takes the mesh's size out of what float64 geometry can hold
    (tet volumes overflow or vanish), so the error names --scale rather than "zero volume"."""
    size = float(np.linalg.norm(np.ptp(np.asarray(mesh.points), axis=0))) if mesh.n_nodes else 1.0
    new = size * float(scale)
    if size > 0 and not (1e-30 < new < 1e30):
        raise MeshError(
            f"{source}: --scale {float(scale):g} makes the mesh {new:.3g} mm across (from {size:.3g}); "
            "give the factor from the file's units to mm (e.g. 1000 for metres, 0.001 for µm)"
        )
    return mesh.scaled(scale)


def _check_scale(scale) -> None:
    """A coordinate factor must be positive and finite: a negative one mirrors the mesh (every tet inside out), zero
    collapses it."""
    if scale is None:
        return
    try:
        f = float(scale)
    except (TypeError, ValueError):
        raise MeshError(f"--scale must be a positive factor (got {scale!r})") from None
    if not (f > 0 and np.isfinite(f)):
        why = (
            "a mirrored mesh would turn every tet inside out"
            if f < 0
            else "it would collapse every tet to a point"
            if f == 0
            else "coordinates must stay finite"
        )
        raise MeshError(f"--scale must be a positive factor (got {f:g}); {why}")


# ====================================================================================================== reading (meshio)
def read_mesh(
    path,
    *,
    scale: int | float | None = None,
    check: bool = True,
    file_format: str | None = None,
    region_names: dict | None = None,
    surface_names: dict | None = None,
    name_map=None,
    region_field: str | None = None,
    surface_field: str | None = None,
) -> Mesh:
    """Read a tetrahedral mesh from any meshio format or openCARP files, in mm.

    Args:
        path: the mesh file (.vtu, .vtk, .msh, .xdmf, .mesh, ...), or an openCARP .pts/.elem/.lon file or basename.
        scale: factor from file coordinates to mm (1000 for a file in metres). Default: 1, or 1e-3 for openCARP (µm).
        check: run `check_mesh` (errors for broken meshes, warnings and repairs for inverted tets, unused nodes, ...).
        file_format: a meshio format name ("gmsh", "vtu", ...) or "opencarp", when the extension does not tell.
        region_names: {region id: name}; wins over the name map and the file's names. Unknown ids: MeshError.
        surface_names: {surface tag: name}; several tags under one name merge into one surface. Unknown ids: MeshError.
        name_map: a JSON name map (path or loaded dict) or a list of them; None looks next to the mesh
            (`find_name_maps`); False uses none. Ids it names that are not in the mesh: an error if none match, else a
            warning.
        region_field / surface_field: the cell field holding region ids (tets) / surface tags (triangles), instead of
            the rule in the module docstring.

    Raises:
        MeshError: the file is missing, unreadable, holds no tets, or fails the checks; a name or field that does not
            fit the mesh.
    """
    from ._surfaces import apply_names, find_name_maps

    p = Path(path)
    _check_scale(scale)
    if file_format == "opencarp" or _is_opencarp(p):
        mesh = read_opencarp(p, scale=scale, check=check)
        if region_field or surface_field:
            raise MeshError(
                f"{p}: openCARP files have one tag per element; --region-field/--surface-field do not apply"
            )
    else:
        if not p.exists():
            raise MeshError(
                f"mesh file not found: {p}; check the path (openCARP meshes: give the .pts file or the basename)"
            )
        if p.is_dir():
            raise MeshError(f"{p} is a folder, not a mesh file; give the mesh file inside it")
        if p.suffix.lower() == ".vtx":
            raise MeshError(
                f"{p} is an openCARP node set (.vtx), not a mesh; read the mesh (.pts), or the set with read_vtx"
            )
        m = _meshio_read(p, file_format)
        mesh = _from_meshio(m, str(p), region_field=region_field, surface_field=surface_field)
        if scale is not None:
            mesh = _scaled(mesh, scale, str(p))
        mesh = check_mesh(mesh, source=str(p)) if check else mesh
    from ._surfaces import _source_of, load_name_maps

    source = None
    if name_map is None:  # maps found next to the mesh are used when they are ones; otherwise said and ignored
        found = find_name_maps(p)
        if found:
            source = _source_of(found)
            try:
                return apply_names(
                    mesh,
                    region_names=region_names,
                    surface_names=surface_names,
                    name_map=load_name_maps(found),
                    name_map_source=source,
                )
            except MeshError as e:
                if not any(str(e).startswith(str(f)) for f in found):
                    raise
                _warn(f"ignored {source} found next to the mesh: {e}")
        name_map = None
    elif name_map is False:
        name_map = None
    else:
        source = _source_of(name_map)
    return apply_names(
        mesh, region_names=region_names, surface_names=surface_names, name_map=name_map, name_map_source=source
    )


def _meshio_read(p: Path, file_format: str | None):
    """meshio's reader for the file, called directly: meshio.read prints and calls sys.exit(1) on a corrupt file."""
    meshio = _meshio()
    try:
        from meshio._helpers import reader_map
    except ImportError:  # pragma: no cover - layout of other meshio versions
        reader_map = None
    if file_format is not None:
        formats = [file_format]
    else:
        name = p.name.lower()
        exts = sorted((e for e in meshio.extension_to_filetypes if name.endswith(e)), key=len, reverse=True)
        if not exts:
            raise MeshError(
                f"cannot tell the mesh format of {p} from its extension {p.suffix!r}; {_READ_HINT}, "
                "or pass file_format="
            )
        formats = list(meshio.extension_to_filetypes[exts[0]])
        if "gmsh" in formats:  # .msh: gmsh first (meshio would try ANSYS first and report its error)
            formats = ["gmsh"] + [f for f in formats if f != "gmsh"]
    if reader_map is not None and any(f not in reader_map for f in formats):
        raise MeshError(
            f"unknown mesh format {file_format!r} for {p}; use one of meshio's format names "
            f"({', '.join(sorted(reader_map))}) or 'opencarp'"
        )
    errors: list[BaseException] = []  # one per format tried (never none: formats is never empty)
    for fmt in formats:
        try:
            with (
                _MESHIO_PATCH_LOCK,
                warnings.catch_warnings(),
                _gmsh22_cell_data_fix(),
                _gmsh41_node_tags() as node_tags,
                _meshio_messages(p),
            ):
                warnings.simplefilter("ignore", DeprecationWarning)
                m = reader_map[fmt](str(p)) if reader_map is not None else meshio.read(p, file_format=fmt)
            return _in_node_tag_order(m, node_tags)
        except (Exception, SystemExit) as e:  # ReadError, but also ValueError/KeyError/... on corrupt files
            errors.append(e)
    raise MeshError(
        f"cannot read mesh file {p} as {' or '.join(formats)} ({_one_line(errors[0])}); check that the "
        f"file is complete and in the format its extension says ({_READ_HINT})"
    )


#: Held while the gmsh reader wrappers are installed (module docstring): one read at a time sees them.
_MESHIO_PATCH_LOCK = threading.RLock()


@contextlib.contextmanager
def _meshio_messages(path: Path):
    """Catch what meshio prints (it reports through rich on stdout/stderr) and pass it on as MeshWarnings."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield
    finally:
        for line in out.getvalue().splitlines():
            line = " ".join(line.split())
            if line and "only meant for debugging" not in line:
                _warn(f"{path}: meshio says: {line}")


@contextlib.contextmanager
def _gmsh41_node_tags():
    """Capture the node tags meshio's gmsh 4.1 reader sees (it keeps the points in file order, grouped by entity, but
    returns $NodeData in node-tag order, so point data and points disagree unless the points are put in tag order)."""
    captured: list = []
    try:
        from meshio.gmsh import _gmsh41
    except ImportError:  # pragma: no cover
        yield captured
        return
    original = getattr(_gmsh41, "_read_nodes", None)
    if original is None:  # pragma: no cover - other meshio versions
        yield captured
        return

    def read_nodes(*args, **kwargs):
        out = original(*args, **kwargs)
        captured.append(np.asarray(out[1]))
        return out

    _gmsh41._read_nodes = read_nodes
    try:
        yield captured
    finally:
        _gmsh41._read_nodes = original


def _in_node_tag_order(m, node_tags: list):
    """The meshio mesh with its points in node-tag order, when the tags are a permutation of 0..n-1 (gmsh 4.1)."""
    if len(node_tags) != 1:
        return m
    tags = node_tags[0].astype(np.int64)
    n = len(m.points)
    if tags.shape != (n,) or np.array_equal(tags, np.arange(n)):
        return m
    if np.unique(tags).size != n or tags.min() != 0 or tags.max() != n - 1:
        return m
    points = np.empty_like(m.points)
    points[tags] = m.points
    m.points = points
    for block in m.cells:
        block.data = tags[block.data]
    m.point_data.pop("gmsh:dim_tags", None)
    return m


@contextlib.contextmanager
def _gmsh22_cell_data_fix():
    """meshio 5.3's gmsh 2.2 reader splits $ElementData by len((type, data)) == 2 instead of the block sizes, so any
    .msh 2.2 file with element data fails to read. Within this context it gets the block sizes right."""
    try:
        from meshio.gmsh import _gmsh22
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(_gmsh22, "cell_data_from_raw", None)
    if original is None:  # pragma: no cover - other meshio versions
        yield
        return

    def fixed(cells, cell_data_raw):
        return original([c[1] if isinstance(c, tuple) and len(c) == 2 else c for c in cells], cell_data_raw)

    _gmsh22.cell_data_from_raw = fixed
    try:
        yield
    finally:
        _gmsh22.cell_data_from_raw = original


def _is_opencarp(p: Path) -> bool:
    if p.suffix.lower() in _OPENCARP_SUFFIXES:
        return True
    return not p.exists() and p.with_name(p.name + ".pts").exists()


def _lower_keys(d: dict) -> dict:
    out = {}
    for k in d:
        out.setdefault(str(k).lower(), k)
    return out


def _concat(cell_data: dict, key, blocks: list[int]) -> np.ndarray | None:
    try:
        arrs = [np.asarray(cell_data[key][i]) for i in blocks]
        if any(a.ndim == 2 and a.shape[1] == 1 for a in arrs):
            arrs = [a.reshape(a.shape[0], -1) if a.ndim == 2 else a.reshape(-1, 1) for a in arrs]
        return np.concatenate(arrs, axis=0)
    except (ValueError, IndexError, TypeError):
        return None


def _as_ids(a: np.ndarray | None) -> np.ndarray | None:
    """The array as integer ids, or None when it is not one integer per cell."""
    if a is None or a.dtype.kind not in "iuf" or not (a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)):
        return None
    a = a.reshape(-1)
    if a.dtype.kind == "f" and (not np.all(np.isfinite(a)) or np.any(a != np.round(a))):
        return None
    return a.astype(np.int64)


def _is_numbering(ids: np.ndarray) -> bool:
    return ids.size > 100 and np.unique(ids).size == ids.size


def _pick_tags(
    cell_data: dict,
    lower: dict,
    blocks: list[int],
    keys=REGION_KEYS,
    *,
    varying: bool = False,
    field: str | None = None,
    source: str = "",
    what: str = "region",
) -> tuple[str | None, np.ndarray | None]:
    """The tag array of the cells in `blocks`: `field` if given, else the first of `keys` holding one integer per cell;
    a numbering of the cells (a different value for each of more than 100 cells, e.g. an "ID" array of element ids) is
    not a tag array and is passed over. With `varying`, a constant array is passed over when a later one varies, and
    when no key matches, any other integer array that varies is taken."""
    if field is not None:
        key = lower.get(field.lower())
        ids = None if key is None else _as_ids(_concat(cell_data, key, blocks))
        if ids is None:
            have = [k for k in cell_data if _as_ids(_concat(cell_data, k, blocks)) is not None]
            raise MeshError(
                f"{source}: no integer cell field {field!r} on the {what} cells (integer fields there: "
                f"{', '.join(map(str, have)) or 'none'}); pick one of them"
            )
        return key, ids
    first = None
    for cand in keys:
        key = lower.get(cand)
        if key is not None:
            ids = _as_ids(_concat(cell_data, key, blocks))
            if ids is not None and not _is_numbering(ids):
                if not varying or (ids.size and ids.min() != ids.max()):
                    return key, ids
                first = first or (key, ids)
    if varying and first is None:
        for key in cell_data:
            a = _concat(cell_data, key, blocks)
            ids = _as_ids(a) if a is not None and a.dtype.kind in "iu" else None
            if ids is not None and ids.size and ids.min() != ids.max() and not _is_numbering(ids):
                return key, ids
    return first or (None, None)


def _warn_unread_fields(cd, lower, blocks, point_data, source, region_key, fibre_key, sheet_key) -> None:
    """Say when a field named as regions, fibres or sheets is there but cannot be read as such (so it is not silently
    lost): a region field of non-whole numbers, fibres that are not 3 numbers per tet, fibres given per node."""
    if region_key is None and "region" in lower:
        a = _concat(cd, lower["region"], blocks)
        if a is not None and _as_ids(a) is None:
            _warn(
                f"{source}: cell field {lower['region']!r} is not one whole-number region id per tet (e.g. NaN or "
                "1.5), so it is not read as the regions: every tet is in region 1; write integer region ids"
            )
    for names, key, what in ((_FIBRE_KEYS, fibre_key, "fibres"), (_SHEET_KEYS, sheet_key, "sheets")):
        if key is not None:
            continue
        point_keys = {str(k).lower(): k for k in point_data}
        for cand in names:
            if cand in lower:
                a = _concat(cd, lower[cand], blocks)
                shape = "mixed shapes" if a is None else f"shape {tuple(a.shape)}"
                _warn(
                    f"{source}: cell field {lower[cand]!r} is not 3 numbers per tet ({shape}), so the mesh has no "
                    f"{what}; write one (x, y, z) direction per tet"
                )
                break
            if cand in point_keys:
                _warn(
                    f"{source}: point field {point_keys[cand]!r} gives {what} per node; organtwin reads {what} per "
                    f"tet (cell data), so the mesh has no {what}; convert them to one direction per tet"
                )
                break


def _pick_vectors(cell_data: dict, lower: dict, blocks: list[int], names) -> tuple[str | None, np.ndarray | None]:
    for cand in names:
        key = lower.get(cand)
        if key is not None:
            a = _concat(cell_data, key, blocks)
            if a is not None and a.dtype.kind in "iuf" and a.ndim == 2 and a.shape[1] == 3:
                return key, a.astype(np.float64)
    return None, None


def _names_from_field_data(field_data: dict | None) -> tuple[dict, dict]:
    """gmsh-style field data {name: [tag, dim]} -> ({region id: name}, {surface tag: name})."""
    regions, surfaces = {}, {}
    for name, v in (field_data or {}).items():
        v = np.asarray(v).ravel()
        if v.size != 2 or v.dtype.kind not in "iuf":
            continue
        tag, dim = int(v[0]), int(v[1])
        target = {3: regions, 2: surfaces}.get(dim)
        if target is not None:
            target.setdefault(tag, str(name))
    return regions, surfaces


def _from_meshio(m, source: str, *, region_field: str | None = None, surface_field: str | None = None) -> Mesh:
    """A meshio.Mesh as a Mesh (unchecked, file units)."""
    tet_blocks, tri_blocks, ignored, higher = [], [], {}, {}
    for i, block in enumerate(m.cells):
        t = block.type
        if t.startswith("tetra"):
            tet_blocks.append(i)
            if t != "tetra":
                higher[t] = higher.get(t, 0) + len(block.data)
        elif t.startswith("triangle"):
            tri_blocks.append(i)
        elif t != "vertex" and not t.startswith("line"):
            ignored[t] = ignored.get(t, 0) + len(block.data)
    if not tet_blocks:
        found = ", ".join(f"{len(b.data)} {b.type}" for b in m.cells) or "no cells"
        raise MeshError(
            f"{source}: the file holds no tetrahedra ({found}); organtwin needs a tetrahedral volume mesh "
            "(tetrahedralise it first, e.g. with gmsh, TetGen or meshtool)"
        )
    if ignored:
        what = ", ".join(f"{n} {t}" for t, n in ignored.items())
        _warn(f"{source}: ignored {what} cells; organtwin reads only tets (and triangles as surfaces)")
    if higher:
        what = ", ".join(f"{n} {t}" for t, n in higher.items())
        _warn(f"{source}: kept only the 4 corner nodes of {what} cells (higher-order nodes are dropped)")

    cd = m.cell_data or {}
    lower = _lower_keys(cd)
    tets = np.concatenate([np.asarray(m.cells[i].data)[:, :4] for i in tet_blocks], axis=0)
    region_key, regions = _pick_tags(cd, lower, tet_blocks, field=region_field, source=source)
    if tri_blocks:
        tri_key, tri_tags = _pick_tags(
            cd, lower, tri_blocks, SURFACE_KEYS, varying=True, field=surface_field, source=source, what="triangle"
        )
    elif surface_field is not None:
        raise MeshError(f"{source}: the file has no triangles, so there is no surface field {surface_field!r} to read")
    if regions is None:
        regions = np.concatenate([np.full(len(m.cells[i].data), k + 1) for k, i in enumerate(tet_blocks)])
    fibre_key, fibres = _pick_vectors(cd, lower, tet_blocks, _FIBRE_KEYS)
    sheet_key, sheets = _pick_vectors(cd, lower, tet_blocks, _SHEET_KEYS)
    _warn_unread_fields(cd, lower, tet_blocks, m.point_data or {}, source, region_key, fibre_key, sheet_key)

    cell_data = {}
    for key in cd:
        if key in (region_key, fibre_key, sheet_key):
            continue
        a = _concat(cd, key, tet_blocks)
        constant = a is not None and (a.size == 0 or bool(np.all(a == a.flat[0])))
        if tri_blocks and key == tri_key and str(key).lower() in SURFACE_KEYS and constant:
            continue  # the surface tag field, constant (e.g. 0) on the tets: nothing to keep
        if a is None:
            _warn(f"{source}: skipped cell array {key!r}: its shape differs between tet blocks")
            continue
        if str(key).lower() in _COPY_KEYS and region_key is not None:
            ids = _as_ids(a)
            if ids is not None and np.array_equal(ids, regions):
                continue  # a copy of the region ids (e.g. "region" next to "gmsh:physical")
        if str(key).lower() == "gmsh:geometrical" and region_key is not None:
            continue  # gmsh's entity numbers: bookkeeping of the file, not a field
        cell_data[str(key)] = a
    if region_key is not None and region_field is None:  # say which of several tag fields became the regions
        others = {}
        for k, a in cell_data.items():
            ids = _as_ids(a) if k.lower() in REGION_KEYS else None
            if ids is not None and np.unique(ids).size > 1 and not (ids.size > 100 and np.unique(ids).size == ids.size):
                others[k] = np.unique(ids)
        if others:
            what = "; ".join(f"{k!r} with ids {_id_list(v)}" for k, v in others.items())
            _warn(
                f"{source}: regions from the cell field {region_key!r} (ids {_id_list(np.unique(regions))}); other "
                f"tag field(s) differ: {what}; pass --region-field NAME (read_mesh(region_field=...)) to use one of "
                "them (rule: docs/mesh-io.md)"
            )

    region_names, surface_names = _names_from_field_data(getattr(m, "field_data", None))
    if source.lower().endswith(".vtk"):  # names with spaces travel percent-encoded in legacy VTK (see the writer)
        from urllib.parse import unquote

        region_names = {k: unquote(v) for k, v in region_names.items()}
        surface_names = {k: unquote(v) for k, v in surface_names.items()}
    surfaces = {}
    if tri_blocks:
        tris = np.concatenate([np.asarray(m.cells[i].data)[:, :3] for i in tri_blocks], axis=0)
        tags = tri_tags
        if tags is None:
            tags = np.concatenate([np.full(len(m.cells[i].data), k + 1) for k, i in enumerate(tri_blocks)])
        order = np.argsort(tags, kind="stable")
        uniq, starts = np.unique(tags[order], return_index=True)
        for tag, group in zip(uniq.tolist(), np.split(order, starts[1:])):
            name = surface_names.get(tag, f"surface_{tag}")
            if name in surfaces:
                name = f"{name}_{tag}"
            surfaces[name] = Surface(tris[group], tag)

    point_data = {str(k): np.asarray(v) for k, v in (m.point_data or {}).items() if k != "gmsh:dim_tags"}
    if "medit:ref" in point_data and np.unique(point_data["medit:ref"]).size <= 1:
        del point_data["medit:ref"]  # medit files carry a ref per point, usually one value for all (no information)
    node_sets = {
        k[len(_NODE_SET_PREFIX) :]: np.flatnonzero(np.asarray(v).reshape(len(v), -1)[:, 0])
        for k, v in point_data.items()
        if k.startswith(_NODE_SET_PREFIX)
    }
    point_data = {k: v for k, v in point_data.items() if not k.startswith(_NODE_SET_PREFIX)}
    present = set(np.unique(regions).tolist())
    return Mesh(
        np.asarray(m.points, dtype=np.float64),
        tets,
        regions,
        fibres=fibres,
        sheets=sheets,
        surfaces=surfaces,
        node_sets=node_sets,
        point_data=point_data,
        cell_data=cell_data,
        region_names={k: v for k, v in region_names.items() if k in present},
    )


def _id_list(ids) -> str:
    ids = [int(i) for i in ids]
    return str(ids) if len(ids) <= 12 else f"[{ids[0]}, {ids[1]}, ..., {ids[-1]}] ({len(ids)} values)"


def separate_tag_fields(mesh: Mesh, *, keep: bool = False) -> tuple[Mesh, list[str]]:
    """The mesh without the cell fields that are tag fields competing with its regions (names in `REGION_KEYS` or
    `SURFACE_KEYS`, e.g. a second "tag" array in which the septum is merged into the LV), and their names.

    With `keep`, they stay, renamed ``orig:<name>`` so that no reader takes them for the regions. `mesh convert` calls
    this, so that what it writes reads back with the regions it wrote in any program.
    """
    names = [k for k in mesh.cell_data if k.lower() in TAG_KEYS or k.lower() == "gmsh:geometrical"]
    if not names:
        return mesh, []
    cell_data = {k: v for k, v in mesh.cell_data.items() if k not in names}
    if keep:
        for k in names:
            new = f"orig:{k}"
            while new in cell_data or new in mesh.cell_data:
                new = f"orig:{new}"
            cell_data[new] = mesh.cell_data[k]
    return mesh.replace(cell_data=cell_data), names


# ====================================================================================================== writing
def write_mesh(mesh: Mesh, path, *, file_format: str | None = None, binary: bool = True) -> Path:
    """Write a mesh to any meshio format or openCARP files, atomically.

    .vtu files are written by organtwin's one VTU writer (`organtwin.mesh._vtu.VtuWriter.for_mesh`, which also writes
    the results' VTUs); the other formats through meshio.

    Regions go out as cell data "region" (and gmsh:physical in .msh, medit:ref in .mesh), fibres/sheets as "fibres" /
    "sheets", surfaces as triangle cells whose "region" value is the surface tag, region and surface names as field data,
    node sets as 0/1 point arrays "nodeset:<name>", and the other point/cell fields as they are. gmsh 4.1 stores one
    block per physical group, so a .msh 4.1 file gives the tets back grouped by region (nodes keep their order).
    openCARP (.pts/.elem/.lon, file_format="opencarp") is written in µm, with node sets as <base>.<name>.vtx and
    surfaces as <base>.<name>.surf.

    Args:
        mesh: the mesh (mm).
        path: the output file; the format follows the extension (.msh is gmsh 4.1).
        file_format: a meshio format name to override the extension ("gmsh22" for gmsh 2.2 .msh), or "opencarp".
        binary: binary rather than ascii where the format has both (vtu: zlib-compressed raw appended data, else every
            array inline as ascii text; vtk, msh).

    Returns:
        The path written (for openCARP, the .pts file).
    """
    p = Path(path)
    if file_format == "opencarp" or (file_format is None and p.suffix.lower() in _OPENCARP_SUFFIXES):
        return write_opencarp(mesh, p)
    fmt = file_format or _format_from_path(p)
    if fmt == "vtu":
        return _atomic_write(p, lambda tmp: _write_vtu(mesh, tmp / p.name, binary))
    return _atomic_write(p, lambda tmp: _write_meshio(mesh, tmp / p.name, fmt, binary, p))


def _write_vtu(mesh: Mesh, out: Path, binary: bool) -> list[Path]:
    """The mesh as one .vtu file, by `VtuWriter.for_mesh` (the mesh's fields under their own names)."""
    from ._vtu import VtuWriter

    writer = VtuWriter.for_mesh(mesh, point_data=mesh.point_data, rename_tag_fields=False, binary=binary)
    out.write_bytes(writer.encode())
    return [out]


def _format_from_path(p: Path) -> str:
    name = p.name.lower()
    if name.endswith(".msh"):
        return "gmsh"
    from meshio import extension_to_filetypes

    for ext in sorted(extension_to_filetypes, key=len, reverse=True):
        if name.endswith(ext):
            return extension_to_filetypes[ext][0]
    raise MeshError(
        f"cannot tell which mesh format to write for {p} (extension {p.suffix!r}); use .vtu, .vtk, .msh, "
        ".xdmf, .mesh or openCARP .pts, or pass file_format="
    )


def _atomic_write(target: Path, write) -> Path:
    """Run write(tmpdir) -> [files] in a temporary folder beside `target`, then move the files next to `target`
    (`organtwin._atomic.atomic_files`: fsync'ed, the last file returned moved last).

    The files keep the names they will have (formats such as XDMF refer to their companion files by name). A failure
    removes the temporary folder and leaves existing files untouched; errors are one-line MeshErrors naming the file.
    """
    from .._atomic import atomic_files

    parent = target.parent
    if not parent.is_dir():
        raise MeshError(
            f"cannot write {target}: "
            + (
                f"{parent} is a file, not a folder; choose another path"
                if parent.exists()
                else f"the folder {parent} does not exist; create it first"
            )
        )
    if target.is_dir():
        raise MeshError(f"cannot write {target}: it is a folder; give a file name, e.g. {target.name}/mesh.vtu")

    def error(e: OSError, meant: Path, stage: str) -> MeshError:
        if stage == "create":
            return MeshError(f"cannot write {target}: {_one_line(e)}; check the folder is writable")
        return MeshError(f"cannot write {parent / meant.name}: {e.strerror or e}; choose another path")

    def checked(tmp: Path):
        try:
            return write(tmp)
        except MeshError:
            raise
        except Exception as e:
            raise MeshError(
                f"could not write {target} ({_one_line(e)}); nothing was written, check the format "
                "and the data (e.g. field names and dtypes)"
            ) from None

    atomic_files(target, checked, error=error)
    return target


def surface_tags(surfaces: dict) -> dict[str, int]:
    """A distinct positive tag per surface, its own where possible (what every writer of organtwin stores)."""
    wanted = [s.tag for s in surfaces.values()]
    taken, out, nxt = set(), {}, 1
    for name, s in surfaces.items():
        tag = s.tag
        if tag <= 0 or tag in taken:
            while nxt in taken or nxt in wanted:
                nxt += 1
            tag = nxt
        taken.add(tag)
        out[name] = tag
    return out


def _write_meshio(mesh: Mesh, out: Path, fmt: str, binary: bool, target: Path) -> list[Path]:
    meshio = _meshio()
    tags = surface_tags(mesh.surfaces)
    regions = mesh.regions.astype(np.int32)
    # Cell blocks: tets (index arrays into mesh.tets) and triangles (connectivity, tag per triangle). gmsh 4.1 stores one
    # physical tag per block (entity), so there every region and every surface is a block of its own (tets come back
    # grouped by region); elsewhere all tets are one block and all triangles another, in the mesh's order.
    if fmt == "gmsh":
        tet_parts = [np.flatnonzero(regions == r) for r in np.unique(regions)]
        tri_parts = [
            (s.triangles.astype(np.int64), np.full(s.n_faces, tags[k], np.int32)) for k, s in mesh.surfaces.items()
        ]
    else:
        tet_parts = [np.arange(mesh.n_cells)]
        tri_parts = []
        if mesh.surfaces:
            tri_parts = [
                (
                    np.concatenate([s.triangles for s in mesh.surfaces.values()]).astype(np.int64),
                    np.concatenate([np.full(s.n_faces, tags[k], np.int32) for k, s in mesh.surfaces.items()]),
                )
            ]
    tets = mesh.tets.astype(np.int64)
    # (declared as meshio.Mesh takes them: its list and dict parameters are invariant)
    cells: list[tuple[str, ArrayLike] | CellBlock] = [("tetra", tets[i]) for i in tet_parts]
    cells += [("triangle", t) for t, _ in tri_parts]

    def per_block(a, tri_values=None) -> list[ArrayLike]:
        """A tet array split over the blocks; triangles get `tri_values` (one array per triangle block) or zeros."""
        a = np.asarray(a)
        parts: list[ArrayLike] = [a[i] for i in tet_parts]
        for j, (t, _) in enumerate(tri_parts):
            parts.append(
                np.zeros((t.shape[0],) + a.shape[1:], a.dtype)
                if tri_values is None
                else np.asarray(tri_values[j], a.dtype)
            )
        return parts

    tri_tags = [tg for _, tg in tri_parts]
    field_data = {name: np.array([tag, 2]) for name, tag in tags.items()}
    for rid, name in mesh.region_names:
        field_data.setdefault(name, np.array([rid, 3]))
    point_data: dict[str, ArrayLike] = dict(mesh.point_data)
    cell_data: dict[str, list[ArrayLike]]
    if fmt == "medit":
        cell_data = {"medit:ref": per_block(regions, tri_tags)}
        point_data = {k: v for k, v in point_data.items() if k == "medit:ref"}
        dropped = (["fibres"] if mesh.fibres is not None else []) + (["sheets"] if mesh.sheets is not None else [])
        dropped += [f"cell field {k!r}" for k in mesh.cell_data]
        dropped += [f"point field {k!r}" for k in mesh.point_data if k != "medit:ref"]
        dropped += [f"node set {k!r}" for k in mesh.node_sets]
        if mesh.region_names or any(n != f"surface_{t}" for n, t in tags.items()):
            dropped.append("region/surface names")
        if dropped:
            _warn(
                f"{target}: the medit format holds only points, cells and integer tags; dropped {', '.join(dropped)} "
                "(write .vtu or .msh to keep them)"
            )
    else:
        cell_data = {k: per_block(v) for k, v in mesh.cell_data.items()}
        if mesh.fibres is not None:
            cell_data["fibres"] = per_block(mesh.fibres)
        if mesh.sheets is not None:
            cell_data["sheets"] = per_block(mesh.sheets)
        cell_data["region"] = per_block(regions, tri_tags)
        for name, ns in mesh.node_sets.items():
            mask = np.zeros(mesh.n_nodes, dtype=np.int32)
            mask[ns] = 1
            point_data[_NODE_SET_PREFIX + name] = mask
        if fmt in ("gmsh", "gmsh22"):
            cell_data["gmsh:physical"] = per_block(regions, tri_tags)
            if fmt == "gmsh22":
                cell_data["gmsh:geometrical"] = per_block(regions, tri_tags)
            else:
                entities: list[ArrayLike] = [np.full(len(i), k + 1, np.int32) for k, i in enumerate(tet_parts)]
                entities += [np.full(len(t), j + 1, np.int32) for j, (t, _) in enumerate(tri_parts)]
                cell_data["gmsh:geometrical"] = entities
                point_data["gmsh:dim_tags"] = _gmsh_node_entities(
                    mesh.n_nodes, [tets[i] for i in tet_parts], [t for t, _ in tri_parts], target
                )
            if not binary:  # meshio writes ascii gmsh data with repr(), which spells numpy scalars "np.float64(1.0)"
                cell_data = {
                    k: v if k.startswith("gmsh:") else [_python_scalars(x) for x in v] for k, v in cell_data.items()
                }
                point_data = {k: v if k.startswith("gmsh:") else _python_scalars(v) for k, v in point_data.items()}

    m = meshio.Mesh(
        mesh.points,
        cells,
        point_data=point_data,
        cell_data=cell_data,
        field_data=field_data if fmt in ("gmsh", "gmsh22") else {},
    )
    kwargs = {"binary": binary} if fmt in _MESHIO_BINARY else {}
    with _meshio_messages(target):
        meshio.write(out, m, file_format=fmt, **kwargs)
    if field_data and fmt == "vtk":
        _vtk_add_field_data(out, field_data, binary)
    elif field_data and fmt == "xdmf":
        _xdmf_add_field_data(out, field_data)
    files = sorted(f for f in out.parent.iterdir() if f != out)
    return files + [out]


def _python_scalars(a) -> np.ndarray:
    """The array as an object array of Python floats/ints (same shape)."""
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    out[...] = a.tolist() if a.ndim else a.item()
    return out


def _gmsh_node_entities(n_nodes: int, tet_blocks: list, tri_blocks: list, target: Path) -> np.ndarray:
    """(dim, entity tag) per node for msh 4.1: volume entity k+1 of tet block k, overridden on surface j+1's nodes.

    meshio writes an entity (and its physical tag) only if some node belongs to it, so every block keeps at least one of
    its nodes.
    """
    ent = np.zeros((n_nodes, 2), dtype=np.int64)
    blocks = [(3, k + 1, t) for k, t in enumerate(tet_blocks)] + [(2, j + 1, t) for j, t in enumerate(tri_blocks)]
    for dim, tag, conn in blocks:
        ent[conn.ravel()] = (dim, tag)
    key = ent[:, 0] * (1 << 32) + ent[:, 1]
    counts = dict(zip(*np.unique(key, return_counts=True)))
    for dim, tag, conn in blocks:
        k = dim * (1 << 32) + tag
        if counts.get(k, 0):
            continue
        nodes = np.unique(conn)
        donor = next((v for v in nodes.tolist() if counts[key[v]] > 1), None)
        if donor is None:
            raise MeshError(
                f"cannot write {target} as gmsh 4.1: a region or surface shares all its nodes with others; "
                "write gmsh 2.2 instead (file_format='gmsh22') or .vtu"
            )
        counts[key[donor]] -= 1
        key[donor], ent[donor] = k, (dim, tag)
        counts[k] = 1
    return ent


def _vtk_add_field_data(path: Path, field_data: dict, binary: bool) -> None:
    # Legacy VTK: a FIELD block after CELL_TYPES and before POINT_DATA/CELL_DATA is read by meshio as field data.
    # Names are single tokens there: whitespace and "%" are percent-encoded ("LV endocardium" -> "LV%20endocardium")
    # and decoded on read.
    from urllib.parse import quote

    field_data = {
        quote(n, safe="".join(c for c in map(chr, range(33, 127)) if c != "%")): v for n, v in field_data.items()
    }
    names = [n for n in field_data if re.fullmatch(r"\S+", n)]
    if len(names) < len(field_data):  # pragma: no cover - quote leaves no whitespace
        _warn(f"{path.name}: legacy VTK cannot store names with spaces; dropped {sorted(set(field_data) - set(names))}")
    if not names:
        return
    data = path.read_bytes()
    int32 = "vtktypeint32" if b"Version 5" in data[:64] else "int"  # the 5.1 format spells 32-bit ints so
    block = f"FIELD FieldData {len(names)}\n".encode()
    for name in names:
        v = np.asarray(field_data[name], dtype=np.int32)
        block += f"{name} 1 2 {int32}\n".encode()
        block += (v.astype(">i4").tobytes() + b"\n") if binary else f"{v[0]} {v[1]}\n".encode()
    start = data.find(b"\nCELL_TYPES ")
    ends = [j for j in (data.find(b"\nPOINT_DATA ", start), data.find(b"\nCELL_DATA ", start)) if j >= 0]
    if start < 0:
        raise MeshError(f"{path.name}: unexpected legacy VTK layout from meshio; cannot store region names")
    at = min(ends) + 1 if ends else len(data)
    if not ends and not data.endswith(b"\n"):
        block = b"\n" + block
    path.write_bytes(data[:at] + block + data[at:])


def _xdmf_add_field_data(path: Path, field_data: dict) -> None:
    import xml.etree.ElementTree as ET

    tree = ET.parse(path)
    grid = tree.getroot().find(".//Grid")
    if grid is None:
        raise MeshError(f"{path.name}: unexpected XDMF layout from meshio (no Grid); cannot store region names")
    info = ET.SubElement(grid, "Information", Name="Information", Value=str(len(field_data)))
    info.text = (
        "<main>"
        + "".join(f'<map key={quoteattr(name)} dim="{int(v[1])}">{int(v[0])}</map>' for name, v in field_data.items())
        + "</main>"
    )
    tree.write(path)


# ====================================================================================================== openCARP
def _opencarp_base(p: Path) -> Path:
    return p.with_suffix("") if p.suffix.lower() in _OPENCARP_SUFFIXES else p


def _sibling(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise MeshError(
            f"openCARP {what} file not found: {path}; openCARP meshes need <base>.pts and <base>.elem side by side"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MeshError(f"cannot read {path} ({_one_line(e)}); is it an ascii openCARP {what} file?") from None


def _header_count(path: Path, token: str, what: str) -> int:
    try:
        n = int(token)
        if n < 0:
            raise ValueError
        return n
    except ValueError:
        raise MeshError(
            f"{path}: the first line must be the number of {what}, got {token!r}; is this an openCARP file?"
        ) from None


def read_vtx(path) -> np.ndarray:
    """Read an openCARP node set (.vtx): a count, optionally ``intra``/``extra``, then one node index per line."""
    p = Path(path)
    tokens = _read_text(p, "node set (.vtx)").split()
    if not tokens:
        raise MeshError(f"{p}: empty .vtx file; it should start with the number of nodes")
    n = _header_count(p, tokens[0], "nodes")
    body = tokens[2:] if len(tokens) > 1 and tokens[1].lower() in ("intra", "extra") else tokens[1:]
    try:
        ids = np.array(body, dtype=np.int64)
    except ValueError:
        raise MeshError(f"{p}: node indices must be whole numbers; is this an openCARP .vtx file?") from None
    if ids.size != n:
        raise MeshError(
            f"{p}: the header says {n} nodes but {ids.size} follow; the file is truncated or the count is wrong"
        )
    return ids


def write_vtx(path, nodes, *, domain: str = "intra") -> Path:
    """Write an openCARP node set (.vtx), atomically."""
    p = Path(path)
    nodes = np.asarray(nodes, dtype=np.int64).ravel()

    def write(tmp):
        out = tmp / p.name
        _write_vtx_file(out, nodes, domain)
        return [out]

    return _atomic_write(p, write)


def _write_vtx_file(out: Path, nodes: np.ndarray, domain: str = "intra") -> None:
    with open(out, "w") as f:
        f.write(f"{nodes.size}\n{domain}\n")
        np.savetxt(f, nodes.reshape(-1, 1), fmt="%d")


def _parse_elements(path: Path, text: str) -> tuple[np.ndarray, np.ndarray | list[list[str]]]:
    """Element type per line and the rows (fast path: an (n, k) string array when all lines look alike)."""
    head, _, body = text.partition("\n")
    n = _header_count(path, (head.split() or [""])[0], "elements")
    tokens = body.split()
    for width in (6, 5, 4):
        if (
            n
            and len(tokens) == n * width
            and len(first := set(tokens[0::width])) == 1
            and first <= set(_OPENCARP_NODES)
        ):
            arr = np.array(tokens).reshape(n, width)
            return arr[:, 0], arr
    rows = [ln.split() for ln in body.splitlines() if ln.strip()]
    if len(rows) != n:
        raise MeshError(
            f"{path}: the header says {n} elements but {len(rows)} follow; the file is truncated or the count is wrong"
        )
    return np.array([r[0] for r in rows]), rows


_OPENCARP_NODES = {"Tt": 4, "Tr": 3, "Ln": 2, "Qd": 4, "Pr": 6, "Hx": 8, "Py": 5}


def _elements_of_type(path: Path, types: np.ndarray, rows, want: str):
    """Node indices, tags (None when the lines have no tag) and the row mask of the elements of type `want`."""
    k = _OPENCARP_NODES[want]
    mask = types == want
    sel = rows[mask] if isinstance(rows, np.ndarray) else [r for r, keep in zip(rows, mask) if keep]
    widths = {sel.shape[1]} if isinstance(sel, np.ndarray) else {len(r) for r in sel}
    if len(widths) > 1 or (widths and next(iter(widths)) not in (k + 1, k + 2)):
        raise MeshError(f"{path}: {want} lines must hold {k} node indices and an optional tag; fix the malformed lines")
    sel = np.array(sel).reshape(len(sel), -1) if len(sel) else np.zeros((0, k + 1), dtype=str)
    try:
        nodes = sel[:, 1 : k + 1].astype(np.int64)
        tags = sel[:, k + 1].astype(np.int64) if sel.shape[1] > k + 1 else None
    except (ValueError, TypeError):
        raise MeshError(f"{path}: node indices and tags must be whole numbers; is this an openCARP file?") from None
    return nodes, tags, mask


def read_opencarp(base, *, scale: int | float | None = None, check: bool = True) -> Mesh:
    """Read an openCARP mesh: <base>.pts (µm), <base>.elem (tets), optional <base>.lon, sibling .vtx and .surf files.

    Only tets (``Tt``) are kept; other elements are skipped with a warning. Node sets come from every .vtx file in the
    same folder and surfaces from every .surf file, named by the file stem (a leading "<base>." is removed).

    Args:
        base: the basename, or the .pts/.elem/.lon file.
        scale: factor from file coordinates to mm; default 1e-3 (openCARP coordinates are µm).
        check: run `check_mesh`.
    """
    _check_scale(scale)
    base = _opencarp_base(Path(base))
    pts_path, elem_path, lon_path = (_sibling(base, s) for s in _OPENCARP_SUFFIXES)

    tokens = _read_text(pts_path, "points (.pts)").split()
    n = _header_count(pts_path, tokens[0] if tokens else "", "points")
    try:
        xyz = np.array(tokens[1:], dtype=np.float64)
    except ValueError:
        raise MeshError(f"{pts_path}: coordinates must be numbers; is this an openCARP .pts file?") from None
    if xyz.size != 3 * n:
        raise MeshError(
            f"{pts_path}: the header says {n} points but {xyz.size / 3:g} follow; the file is truncated or "
            "the count is wrong"
        )
    points = xyz.reshape(n, 3)

    types, rows = _parse_elements(elem_path, _read_text(elem_path, "elements (.elem)"))
    tets, regions, tet_mask = _elements_of_type(elem_path, types, rows, "Tt")
    if regions is None:
        regions = np.ones(len(tets), dtype=np.int64)
    if not tet_mask.all():
        unknown = sorted(set(types.tolist()) - set(_OPENCARP_NODES))
        if unknown:
            raise MeshError(
                f"{elem_path}: unknown element type(s) {unknown}; openCARP types are {', '.join(_OPENCARP_NODES)}"
            )
        other, counts = np.unique(types[~tet_mask], return_counts=True)
        what = ", ".join(f"{t}: {c}" for t, c in zip(other.tolist(), counts.tolist()))
        _warn(
            f"{elem_path}: kept {int(tet_mask.sum())} tets (Tt) and skipped {int((~tet_mask).sum())} other elements "
            f"({what}); organtwin reads only tets"
        )
    if not tet_mask.any():
        raise MeshError(f"{elem_path}: the file holds no tets (Tt); organtwin needs a tetrahedral volume mesh")

    fibres = sheets = None
    if lon_path.exists():
        fibres, sheets = _read_lon(lon_path, len(types), tet_mask)

    node_sets, surfaces = {}, {}
    prefix = base.name + "."
    folder = base.parent if str(base.parent) else Path(".")
    for f in sorted(folder.glob("*.vtx")):
        name = f.stem[len(prefix) :] if f.stem.startswith(prefix) else f.stem
        try:
            ids = read_vtx(f)
        except MeshError as e:
            _warn(f"skipped node set {f}: {e}")
            continue
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            _warn(
                f"skipped node set {f}: it names nodes beyond the {n} of {pts_path.name} (it belongs to another mesh)"
            )
            continue
        node_sets[name] = ids
    for k, f in enumerate(sorted(folder.glob("*.surf")), start=1):
        name = f.stem[len(prefix) :] if f.stem.startswith(prefix) else f.stem
        try:
            stypes, srows = _parse_elements(f, _read_text(f, "surface (.surf)"))
            tris, stags, smask = _elements_of_type(f, stypes, srows, "Tr")
        except MeshError as e:
            _warn(f"skipped surface {f}: {e}")
            continue
        if tris.size and (tris.min() < 0 or tris.max() >= n):
            _warn(f"skipped surface {f}: it names nodes beyond the {n} of {pts_path.name} (it belongs to another mesh)")
            continue
        tag = int(stags[0]) if stags is not None and stags.size and np.all(stags == stags[0]) else k
        surfaces[name] = Surface(tris, tag)

    mesh = Mesh(points, tets, regions, fibres=fibres, sheets=sheets, surfaces=surfaces, node_sets=node_sets)
    mesh = mesh.scaled(1e-3 if scale is None else scale)
    return check_mesh(mesh, source=str(pts_path)) if check else mesh


def _read_lon(path: Path, n_elem: int, tet_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        vals = np.array(_read_text(path, "fibres (.lon)").split(), dtype=np.float64)
    except ValueError:
        raise MeshError(f"{path}: fibre directions must be numbers; is this an openCARP .lon file?") from None
    for k in (1, 2):
        if vals.size == 3 * k * n_elem + 1 and vals[0] == k:  # header line with the number of vectors
            vals = vals[1:]
            break
    if vals.size == 3 * n_elem:
        k = 1
    elif vals.size == 6 * n_elem:
        k = 2
    else:
        raise MeshError(
            f"{path}: expected 3 or 6 numbers for each of the {n_elem} elements (after a header line 1 or "
            f"2), found {vals.size}; the .lon file does not belong to this .elem file"
        )
    rows = vals.reshape(n_elem, 3 * k)[tet_mask]
    return rows[:, :3], (rows[:, 3:6] if k == 2 else None)


def write_opencarp(mesh: Mesh, base) -> Path:
    """Write openCARP files, atomically: <base>.pts (µm), .elem, .lon (fibres[, sheets]), <base>.<name>.vtx per node
    set and <base>.<name>.surf per surface. Region names and point/cell fields have no place in openCARP files and are
    dropped with a warning. Returns the .pts path."""
    base = _opencarp_base(Path(base))
    pts = _sibling(base, ".pts")
    dropped = (
        (["region names"] if mesh.region_names else [])
        + [f"cell field {k!r}" for k in mesh.cell_data]
        + [f"point field {k!r}" for k in mesh.point_data]
    )
    if dropped:
        _warn(f"{pts}: openCARP files hold no {', '.join(dropped)}; they were dropped (write .vtu to keep them)")
    tags = surface_tags(mesh.surfaces)
    bad = [n for n in [*mesh.surfaces, *mesh.node_sets] if not n or n in (".", "..") or re.search(r"[/\\\x00]", n)]
    if bad:
        raise MeshError(
            f"cannot write {pts}: surface/node-set names {bad} cannot be file names; rename them "
            "(mesh.replace(surfaces=...))"
        )

    def write(tmp: Path) -> list[Path]:
        b = tmp / base.name
        files = []
        if mesh.fibres is not None:
            lon = _sibling(b, ".lon")
            k = 2 if mesh.sheets is not None else 1
            data = mesh.fibres if mesh.sheets is None else np.hstack([mesh.fibres, mesh.sheets])
            with open(lon, "w") as f:
                f.write(f"{k}\n")
                np.savetxt(f, data, fmt="%.17g")
            files.append(lon)
        for name, s in mesh.surfaces.items():
            out = _sibling(b, f".{name}.surf")
            with open(out, "w") as f:
                f.write(f"{s.n_faces}\n")
                np.savetxt(f, np.column_stack([s.triangles, np.full(s.n_faces, tags[name])]), fmt="Tr %d %d %d %d")
            files.append(out)
        for name, ns in mesh.node_sets.items():
            out = _sibling(b, f".{name}.vtx")
            _write_vtx_file(out, ns)
            files.append(out)
        elem = _sibling(b, ".elem")
        with open(elem, "w") as f:
            f.write(f"{mesh.n_cells}\n")
            np.savetxt(f, np.column_stack([mesh.tets, mesh.regions]), fmt="Tt %d %d %d %d %d")
        out = _sibling(b, ".pts")
        with open(out, "w") as f:
            f.write(f"{mesh.n_nodes}\n")
            np.savetxt(f, mesh.points * 1000.0, fmt="%.17g")
        return files + [elem, out]

    _atomic_write(pts, write)
    return pts
