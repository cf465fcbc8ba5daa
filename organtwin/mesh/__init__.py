"""Meshes: the Mesh type, reading/writing, checks, generators, P1 finite elements and fibres."""

from ._cavity import (
    CavityVolume as CavityVolume,
)
from ._cavity import (
    cavity as cavity,
)
from ._cavity import (
    cavity_volume as cavity_volume,
)
from ._cavity import (
    cavity_volumes as cavity_volumes,
)
from ._checks import check_mesh as check_mesh
from ._checks import guess_units as guess_units
from ._convert import convert_mesh as convert_mesh
from ._fem import (
    P1Geometry as P1Geometry,
)
from ._fem import (
    cell_gradient as cell_gradient,
)
from ._fem import (
    conductivity_tensors as conductivity_tensors,
)
from ._fem import (
    element_mass as element_mass,
)
from ._fem import (
    element_stiffness as element_stiffness,
)
from ._fem import (
    lumped_mass as lumped_mass,
)
from ._fem import (
    orthonormal_frame as orthonormal_frame,
)
from ._fem import (
    p1_geometry as p1_geometry,
)
from ._fem import (
    region_index as region_index,
)
from ._fem import (
    region_values as region_values,
)
from ._fibre_checks import (
    FIBRE_CHOICES as FIBRE_CHOICES,
)
from ._fibre_checks import (
    check_fibres as check_fibres,
)
from ._fibre_checks import (
    choose_fibres as choose_fibres,
)
from ._fibre_checks import (
    fibre_quality as fibre_quality,
)
from ._fibre_checks import (
    require_usable_directions as require_usable_directions,
)
from ._fibres import (
    FibrePotentials as FibrePotentials,
)
from ._fibres import (
    FibreRule as FibreRule,
)
from ._fibres import (
    fibre_potentials as fibre_potentials,
)
from ._fibres import (
    rule_based_fibres as rule_based_fibres,
)
from ._file_summary import file_summary as file_summary
from ._generate import (
    biv_mesh as biv_mesh,
)
from ._generate import (
    builtin_mesh_path as builtin_mesh_path,
)
from ._generate import (
    ellipsoid_volume_mesh as ellipsoid_volume_mesh,
)
from ._generate import (
    lv_ellipsoid_mesh as lv_ellipsoid_mesh,
)
from ._generate import (
    slab_mesh as slab_mesh,
)
from ._io import (
    REGION_KEYS as REGION_KEYS,
)
from ._io import (
    SURFACE_KEYS as SURFACE_KEYS,
)
from ._io import (
    read_mesh as read_mesh,
)
from ._io import (
    read_opencarp as read_opencarp,
)
from ._io import (
    read_vtx as read_vtx,
)
from ._io import (
    separate_tag_fields as separate_tag_fields,
)
from ._io import (
    write_mesh as write_mesh,
)
from ._io import (
    write_opencarp as write_opencarp,
)
from ._io import (
    write_vtx as write_vtx,
)
from ._mesh import Mesh as Mesh
from ._mesh import Surface as Surface
from ._quality import (
    format_summary as format_summary,
)
from ._quality import (
    mean_edge_length as mean_edge_length,
)
from ._quality import (
    mesh_summary as mesh_summary,
)
from ._quality import (
    tet_aspect_ratios as tet_aspect_ratios,
)
from ._solve import JacobiCG as JacobiCG
from ._solve import laplace_solve as laplace_solve
from ._solve import solve_spd as solve_spd
from ._sparse import (
    EllMatrix as EllMatrix,
)
from ._sparse import (
    SparsityPattern as SparsityPattern,
)
from ._sparse import (
    assemble as assemble,
)
from ._sparse import (
    assemble_mass as assemble_mass,
)
from ._sparse import (
    assemble_stiffness as assemble_stiffness,
)
from ._sparse import ell_matvec as ell_matvec
from ._surfaces import (
    apply_names as apply_names,
)
from ._surfaces import (
    find_name_maps as find_name_maps,
)
from ._surfaces import (
    label_ventricular_surfaces as label_ventricular_surfaces,
)
from ._surfaces import (
    load_name_map as load_name_map,
)
from ._surfaces import (
    load_name_maps as load_name_maps,
)
from ._surfaces import (
    parse_id_names as parse_id_names,
)
from ._surfaces import (
    surface_summary as surface_summary,
)
from ._ventricles import describe_regions as describe_regions
from ._ventricles import ventricle_regions as ventricle_regions
