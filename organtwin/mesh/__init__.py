"""Meshes: the Mesh type, reading/writing, checks, generators, P1 finite elements and fibres."""

from ._mesh import Mesh as Mesh, Surface as Surface
from ._fem import (
    P1Geometry as P1Geometry,
    cell_gradient as cell_gradient,
    conductivity_tensors as conductivity_tensors,
    element_mass as element_mass,
    element_stiffness as element_stiffness,
    lumped_mass as lumped_mass,
    orthonormal_frame as orthonormal_frame,
    p1_geometry as p1_geometry,
    region_index as region_index,
    region_values as region_values,
)
from ._sparse import (
    EllMatrix as EllMatrix,
    SparsityPattern as SparsityPattern,
    assemble as assemble,
    assemble_mass as assemble_mass,
    assemble_stiffness as assemble_stiffness,
)
from ._solve import laplace_solve as laplace_solve, solve_spd as solve_spd
from ._io import (
    read_mesh as read_mesh,
    write_mesh as write_mesh,
    read_opencarp as read_opencarp,
    write_opencarp as write_opencarp,
    read_vtx as read_vtx,
    write_vtx as write_vtx,
    REGION_KEYS as REGION_KEYS,
    SURFACE_KEYS as SURFACE_KEYS,
    separate_tag_fields as separate_tag_fields,
)
from ._surfaces import (
    apply_names as apply_names,
    find_name_maps as find_name_maps,
    label_ventricular_surfaces as label_ventricular_surfaces,
    load_name_map as load_name_map,
    load_name_maps as load_name_maps,
    parse_id_names as parse_id_names,
    surface_summary as surface_summary,
)
from ._checks import check_mesh as check_mesh, guess_units as guess_units
from ._fibre_checks import (
    FIBRE_CHOICES as FIBRE_CHOICES,
    check_fibres as check_fibres,
    choose_fibres as choose_fibres,
    fibre_quality as fibre_quality,
    require_usable_directions as require_usable_directions,
)
from ._quality import (
    format_summary as format_summary,
    mean_edge_length as mean_edge_length,
    mesh_summary as mesh_summary,
    tet_aspect_ratios as tet_aspect_ratios,
)
from ._generate import (
    biv_mesh as biv_mesh,
    builtin_mesh_path as builtin_mesh_path,
    ellipsoid_volume_mesh as ellipsoid_volume_mesh,
    lv_ellipsoid_mesh as lv_ellipsoid_mesh,
    slab_mesh as slab_mesh,
)
from ._fibres import (
    FibrePotentials as FibrePotentials,
    FibreRule as FibreRule,
    fibre_potentials as fibre_potentials,
    rule_based_fibres as rule_based_fibres,
)
from ._sparse import ell_matvec as ell_matvec
from ._solve import JacobiCG as JacobiCG
from ._ventricles import describe_regions as describe_regions, ventricle_regions as ventricle_regions
from ._cavity import (
    CavityVolume as CavityVolume,
    cavity as cavity,
    cavity_volume as cavity_volume,
    cavity_volumes as cavity_volumes,
)
