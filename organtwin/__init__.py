"""organtwin: a differentiable organ-physics toolkit in JAX."""

from ._errors import MeshError as MeshError, MeshWarning as MeshWarning, OrgantwinError as OrgantwinError
from .mesh import Mesh as Mesh, Surface as Surface

__version__ = "0.1.0"
