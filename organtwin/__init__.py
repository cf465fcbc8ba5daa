"""organtwin: a differentiable organ-physics toolkit in JAX."""

from ._errors import MeshError as MeshError
from ._errors import MeshWarning as MeshWarning
from ._errors import OrgantwinError as OrgantwinError

__version__ = "0.1.0"


def __getattr__(name: str):
    # Mesh and Surface (and JAX with them) load on first use, so that the `organtwin` console script can take Ctrl-C
    # before the heavy imports (organtwin.cli._signals); submodules (organtwin.mesh, ...) load on first use too.
    if name in ("Mesh", "Surface"):
        from . import mesh

        return getattr(mesh, name)
    if name == "RESULTS":
        from ._solution import RESULTS

        return RESULTS
    if not name.startswith("_"):
        import importlib

        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
