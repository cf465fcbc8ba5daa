"""organtwin's one VTU (VTK XML unstructured grid) writer: meshes (`organtwin.mesh.write_mesh` for a .vtu path) and the
time series of results on a fixed tetrahedral mesh (`organtwin.io`, which re-exports `VtuWriter`).

Every snapshot of a run repeats the same geometry; general writers (meshio) encode it again for every file (base64 and
zlib), which on a 100k-node / 440k-tet mesh costs seconds per file. `VtuWriter` encodes the geometry and the cell data
once (zlib-compressed binary blocks, VTK's ``vtkZLibDataCompressor`` layout) and then writes each file as: the XML header,
the point data (compressed per file) and the cached geometry, all in one ``<AppendedData encoding="raw">`` section.
With ``binary=False`` every array is written inline as ascii text instead (larger and slower; for reading by eye or by
tools without a binary VTU reader). ParaView/VTK, pyvista and meshio read both.

`VtuWriter.for_mesh` writes a `Mesh` so that `read_mesh` gives it back whole (it is what `write_mesh` uses for .vtu):
the tets, then every surface as triangle cells; cell data ``region`` (the region id of a tet, the surface tag of a
triangle), ``fibres`` / ``sheets`` and the mesh's other cell fields (zeros on the triangles); node sets as 0/1 point
arrays ``nodeset:<name>``; region and surface names as gmsh-style ``<FieldData>`` ``{name: [tag, dim]}`` (dim 3 region,
2 surface). For results files (``rename_tag_fields=True``, the default) a cell field whose name `read_mesh` would take
for the region ids or the fibres, e.g. a second tag array, is kept as ``<name>_input``; `write_mesh` keeps the names.

The file is written atomically by `organtwin.io`'s one atomic writer (imported when a file is written).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .._errors import InputError
from ._io import _FIBRE_KEYS, _NODE_SET_PREFIX, _SHEET_KEYS, REGION_KEYS, surface_tags

__all__ = ["VtuWriter", "read_vtu_point_array"]

_VTK_TETRA = 10
_VTK_TRIANGLE = 5
_BLOCK = 1 << 16  # uncompressed bytes per zlib block
_TYPES = {
    np.dtype(np.float32): "Float32",
    np.dtype(np.float64): "Float64",
    np.dtype(np.int8): "Int8",
    np.dtype(np.uint8): "UInt8",
    np.dtype(np.int16): "Int16",
    np.dtype(np.uint16): "UInt16",
    np.dtype(np.int32): "Int32",
    np.dtype(np.uint32): "UInt32",
    np.dtype(np.int64): "Int64",
    np.dtype(np.uint64): "UInt64",
}


def _as_array(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype.kind == "f" and a.dtype not in _TYPES:
        a = a.astype(np.float64)
    if a.dtype not in _TYPES:
        raise InputError(f"cannot write an array of dtype {a.dtype} to VTU")
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))


def _encode(a: np.ndarray, compress: bool, level: int) -> bytes:
    """One appended-data block: a UInt64 header (the byte count, or VTK's compressed-block table) and the data."""
    raw = a.tobytes()
    if not compress:
        return np.uint64(len(raw)).tobytes() + raw
    blocks = [raw[i : i + _BLOCK] for i in range(0, len(raw), _BLOCK)] or [b""]
    packed = [zlib.compress(b, level) for b in blocks]
    last = len(blocks[-1]) if raw else 0
    header = np.array([len(blocks), _BLOCK, last] + [len(p) for p in packed], dtype="<u8")
    return header.tobytes() + b"".join(packed)


def _text(a: np.ndarray) -> str:
    """The values of ``a`` as ascii, row-major; floats in their shortest exact form (they read back bit for bit)."""
    return " ".join(map(str, a.reshape(-1).tolist()))


def _components(a: np.ndarray, rows: int, what: str) -> int:
    if a.ndim == 0 or a.shape[0] != rows:
        raise InputError(f"{what} has {a.shape[0] if a.ndim else 0} rows, expected {rows}")
    if a.ndim == 1:
        return 1
    if a.ndim == 2:
        return int(a.shape[1])
    raise InputError(f"{what} must be one value or a vector per row, got shape {a.shape}")


class VtuWriter:
    """Writes VTU files of one tetrahedral mesh with different point data; the geometry is encoded once.

    Args:
        points: (nodes, 3) coordinates.
        tets: (cells, 4) node indices.
        cell_data: fields per cell written into every file (e.g. ``{"region": regions}``): one row per tet, then one
            per triangle when ``triangles`` are given.
        triangles: optional (faces, 3) node indices written after the tets (surfaces).
        point_data: point fields written into every file (before the per-file ones; a per-file field of the same name
            replaces it).
        field_data: ``{name: (tag, dim)}`` integer pairs written as VTK FieldData (the names of regions and surfaces).
        compress: zlib-compress the data (default True; binary only).
        level: the zlib compression level.
        binary: raw binary appended data (default); False writes every array inline as ascii text.
    """

    def __init__(
        self,
        points,
        tets,
        cell_data: dict | None = None,
        *,
        triangles=None,
        point_data: dict | None = None,
        field_data: dict | None = None,
        compress: bool = True,
        level: int = 6,
        binary: bool = True,
    ):
        points = _as_array(np.asarray(points, dtype=np.float64))
        tets = np.asarray(tets)
        tris = np.zeros((0, 3), dtype=np.int64) if triangles is None else np.asarray(triangles)
        if points.ndim != 2 or points.shape[1] != 3:
            raise InputError(f"points must have shape (nodes, 3), got {points.shape}")
        if tets.ndim != 2 or tets.shape[1] != 4:
            raise InputError(f"tets must have shape (cells, 4), got {tets.shape}")
        if tris.ndim != 2 or tris.shape[1] != 3:
            raise InputError(f"triangles must have shape (faces, 3), got {tris.shape}")
        n_conn = 4 * tets.shape[0] + 3 * tris.shape[0]
        index = np.int32 if points.shape[0] < 2**31 and n_conn < 2**31 else np.int64
        self.n_points, self.n_cells = int(points.shape[0]), int(tets.shape[0] + tris.shape[0])
        self.binary = bool(binary)
        self.compress, self.level = bool(compress) and self.binary, int(level)
        cell_arrays = []
        for name, value in (cell_data or {}).items():
            a = _as_array(value)
            cell_arrays.append((str(name), a, _components(a, self.n_cells, f"cell field {name!r}")))
        self._cell = [(n, a.dtype, k, self._encode(a)) for n, a, k in cell_arrays]
        self._static_points = {str(k): _as_array(v) for k, v in (point_data or {}).items()}
        for k, v in self._static_points.items():
            _components(v, self.n_points, f"point field {k!r}")
        self._field_data = {str(k): (int(v[0]), int(v[1])) for k, v in (field_data or {}).items()}
        conn = np.concatenate([tets.astype(index).reshape(-1), tris.astype(index).reshape(-1)])
        offsets = np.concatenate(
            [
                np.arange(4, 4 * tets.shape[0] + 1, 4, dtype=index),
                4 * tets.shape[0] + np.arange(3, 3 * tris.shape[0] + 1, 3, dtype=index),
            ]
        )
        types = np.concatenate(
            [np.full(tets.shape[0], _VTK_TETRA, dtype=np.uint8), np.full(tris.shape[0], _VTK_TRIANGLE, dtype=np.uint8)]
        )
        self._points = self._encode(points)
        self._conn = self._encode(_as_array(conn))
        self._offsets = self._encode(_as_array(offsets.astype(index)))
        self._types = self._encode(types)
        self._index_type = _TYPES[np.dtype(index)]

    def _encode(self, a: np.ndarray) -> bytes | str:
        """An appended-data block (binary) or the inline text of a DataArray (ascii)."""
        return _encode(a, self.compress, self.level) if self.binary else _text(a)

    @classmethod
    def for_mesh(
        cls,
        mesh,
        *,
        point_data: dict | None = None,
        cell_fields: bool = True,
        rename_tag_fields: bool = True,
        compress: bool = True,
        level: int = 6,
        binary: bool = True,
    ) -> "VtuWriter":
        """A writer of ``mesh`` with everything `organtwin.mesh.read_mesh` reads back: regions and their names,
        surfaces (triangles, tags, names), fibres and sheets, the other cell fields, node sets (module docstring).
        ``point_data``: static point fields for every file (e.g. the mesh's own point fields). ``cell_fields=False``
        leaves out fibres, sheets and the other cell fields (a time series: they would be repeated in every file, 48
        bytes per tet for fibres and sheets; the run's activation.vtu carries them). ``rename_tag_fields``: a cell
        field named like a region or fibre field is written as ``<name>_input`` (False: under its own name, as
        `write_mesh` does)."""
        tags = surface_tags(mesh.surfaces)
        tris = [np.asarray(s.triangles, np.int64).reshape(-1, 3) for s in mesh.surfaces.values()]
        tri_tags = [np.full(len(t), tags[k], np.int32) for t, k in zip(tris, mesh.surfaces)]
        n_tris = int(sum(len(t) for t in tris))

        def padded(a, tri_values=None):
            a = np.asarray(a)
            if n_tris == 0:
                return a
            pad = (
                np.zeros((n_tris,) + a.shape[1:], a.dtype)
                if tri_values is None
                else np.concatenate(tri_values).astype(a.dtype)
            )
            return np.concatenate([a, pad])

        cell_data = {}
        for k, v in (mesh.cell_data if cell_fields else {}).items():
            name = str(k)
            if rename_tag_fields and name.lower() in REGION_KEYS + _FIBRE_KEYS + _SHEET_KEYS:
                name = f"{name}_input"  # kept, renamed: it would be read back as the region ids or the fibres
            cell_data[name] = padded(v)
        if mesh.fibres is not None and cell_fields:
            cell_data["fibres"] = padded(np.asarray(mesh.fibres, np.float64))
        if mesh.sheets is not None and cell_fields:
            cell_data["sheets"] = padded(np.asarray(mesh.sheets, np.float64))
        cell_data["region"] = padded(np.asarray(mesh.regions, np.int32), tri_tags)
        points = dict(point_data or {})
        for name, ns in mesh.node_sets.items():
            mask = np.zeros(mesh.n_nodes, dtype=np.uint8)
            mask[np.asarray(ns)] = 1
            points.setdefault(_NODE_SET_PREFIX + name, mask)
        field_data = {name: (tag, 2) for name, tag in tags.items()}
        for rid, name in mesh.region_names:
            field_data.setdefault(str(name), (int(rid), 3))
        return cls(
            mesh.points,
            mesh.tets,
            cell_data,
            triangles=np.concatenate(tris) if tris else None,
            point_data=points,
            field_data=field_data,
            compress=compress,
            level=level,
            binary=binary,
        )

    def encode(self, point_data: dict | None = None) -> bytes:
        """The bytes of a VTU file with these point fields (and the mesh's cell fields)."""
        blocks: list[bytes] = []
        offset = 0

        def add(data: bytes) -> int:
            nonlocal offset
            start = offset
            blocks.append(data)
            offset += len(data)
            return start

        def array_xml(name, dtype_name, comps, data: bytes | str) -> str:
            n = f' Name="{_xml_name(name)}"' if name is not None else ""
            c = f' NumberOfComponents="{comps}"' if comps != 1 else ""  # scalars: VTK's default (meshio reads (n,))
            if isinstance(data, str):
                return f'        <DataArray type="{dtype_name}"{n}{c} format="ascii">{data}</DataArray>'
            return f'        <DataArray type="{dtype_name}"{n}{c} format="appended" offset="{add(data)}"/>'

        pd_lines = []
        per_file = {str(k): v for k, v in (point_data or {}).items()}
        merged = {**{k: v for k, v in self._static_points.items() if k not in per_file}, **per_file}
        for name, value in merged.items():
            a = _as_array(value)
            comps = _components(a, self.n_points, f"point field {name!r}")
            pd_lines.append(array_xml(name, _TYPES[a.dtype], comps, self._encode(a)))
        cd_lines = [array_xml(n, _TYPES[dt], k, enc) for n, dt, k, enc in self._cell]
        pts = array_xml(None, "Float64", 3, self._points)
        conn = array_xml("connectivity", self._index_type, 1, self._conn)
        offs = array_xml("offsets", self._index_type, 1, self._offsets)
        types = array_xml("types", "UInt8", 1, self._types)
        compressor = ' compressor="vtkZLibDataCompressor"' if self.compress else ""
        lines = [
            '<?xml version="1.0"?>',
            f'<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" header_type="UInt64"{compressor}>',
            "  <UnstructuredGrid>",
            *self._field_data_xml(),
            f'    <Piece NumberOfPoints="{self.n_points}" NumberOfCells="{self.n_cells}">',
            "      <PointData>",
            *pd_lines,
            "      </PointData>",
            "      <CellData>",
            *cd_lines,
            "      </CellData>",
            "      <Points>",
            pts,
            "      </Points>",
            "      <Cells>",
            conn,
            offs,
            types,
            "      </Cells>",
            "    </Piece>",
            "  </UnstructuredGrid>",
        ]
        if not self.binary:
            return "\n".join([*lines, "</VTKFile>", ""]).encode("utf-8")
        xml = "\n".join([*lines, '  <AppendedData encoding="raw">', "   _"])
        return xml.encode("utf-8") + b"".join(blocks) + b"\n  </AppendedData>\n</VTKFile>\n"

    def _field_data_xml(self) -> list[str]:
        if not self._field_data:
            return []
        from xml.sax.saxutils import quoteattr

        rows = [
            f'      <DataArray type="Int64" Name={quoteattr(n)} NumberOfTuples="2" format="ascii">{t} {d}</DataArray>'
            for n, (t, d) in self._field_data.items()
        ]
        return ["    <FieldData>", *rows, "    </FieldData>"]

    def write(self, path, point_data: dict | None = None) -> Path:
        """Write one file, atomically (temporary file, then ``os.replace``: `organtwin._atomic`, the one atomic writer)."""
        from .._atomic import atomic_write

        data = self.encode(point_data)
        return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _xml_name(name: str) -> str:
    from xml.sax.saxutils import escape

    return escape(str(name), {'"': "&quot;"})


def _decode(buf: bytes, at: int, dtype: np.dtype, compressed: bool) -> np.ndarray:
    if not compressed:
        n = int(np.frombuffer(buf, "<u8", 1, at)[0])
        return np.frombuffer(buf, dtype, n // dtype.itemsize, at + 8)
    nb = int(np.frombuffer(buf, "<u8", 1, at)[0])
    head = np.frombuffer(buf, "<u8", 3 + nb, at)
    pos, parts = at + 8 * (3 + nb), []
    for size in head[3:].tolist():
        parts.append(zlib.decompress(buf[pos : pos + size]))
        pos += size
    return np.frombuffer(b"".join(parts), dtype)


def read_vtu_point_array(path, name: str) -> np.ndarray | None:
    """The point data ``name`` of a VTU file that `VtuWriter` wrote (appended raw data, UInt64 headers), read directly
    (no mesh parsing); None when the file is not in that layout or lacks the array (read it with meshio then)."""
    import re

    data = Path(path).read_bytes()
    start = data.find(b'<AppendedData encoding="raw">')
    if start < 0 or b'header_type="UInt64"' not in data[:300]:
        return None
    head = data[:start].decode("utf-8", "replace")
    pd = re.search(r"<PointData>(.*?)</PointData>", head, re.S)
    n_points = re.search(r'NumberOfPoints="(\d+)"', head)
    if pd is None or n_points is None:
        return None
    for m in re.finditer(r"<DataArray ([^>]*)/>", pd.group(1)):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if _unescape(attrs.get("Name", "")) != name or attrs.get("format") != "appended":
            continue
        types = {v: k for k, v in _TYPES.items()}
        dtype = types.get(attrs.get("type", ""))
        if dtype is None:
            return None
        base = data.index(b"_", start + len(b'<AppendedData encoding="raw">')) + 1
        a = _decode(data, base + int(attrs["offset"]), dtype.newbyteorder("<"), b"vtkZLibDataCompressor" in data[:300])
        comps = int(attrs.get("NumberOfComponents", "1"))
        return a.reshape(int(n_points.group(1)), comps) if comps != 1 else a.copy()
    return None


def _unescape(s: str) -> str:
    from xml.sax.saxutils import unescape

    return unescape(s, {"&quot;": '"'})
