"""What `organtwin mesh convert` writes: a mesh cut to some regions, without the tag fields that compete with them."""

from __future__ import annotations

from collections.abc import Sequence

from ._io import separate_tag_fields
from ._mesh import Mesh

__all__ = ["convert_mesh"]


def convert_mesh(
    mesh: Mesh, *, regions: Sequence[int] | None = None, keep_fields: bool = False
) -> tuple[Mesh, list[str]]:
    """The mesh to write when converting ``mesh``, and the names of the tag fields taken out of it.

    Arguments:
        mesh: the mesh as read.
        regions: keep only these region ids (`Mesh.submesh`: nodes renumbered, the surfaces on them kept); None keeps
            every region. An id not in the mesh is a `MeshError`.
        keep_fields: keep the cell fields that compete with the regions (a second "tag" array, ...) renamed
            ``orig:<name>`` instead of dropping them (`separate_tag_fields`), so that the file reads back with the
            regions written.
    """
    if regions is not None:
        mesh = mesh.submesh(list(regions))
    return separate_tag_fields(mesh, keep=keep_fields)
