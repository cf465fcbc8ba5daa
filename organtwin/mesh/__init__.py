"""Meshes: the Mesh type, reading/writing, checks, generators, P1 finite elements and fibres."""

from ._mesh import Mesh as Mesh, Surface as Surface
