"""organtwin: a differentiable organ-physics toolkit in JAX."""

from ._errors import CalibrationError as CalibrationError
from ._errors import CalibrationWarning as CalibrationWarning
from ._errors import CaseError as CaseError
from ._errors import DataError as DataError
from ._errors import InputError as InputError
from ._errors import MeshError as MeshError
from ._errors import MeshWarning as MeshWarning
from ._errors import NetworkError as NetworkError
from ._errors import NetworkWarning as NetworkWarning
from ._errors import OrgantwinError as OrgantwinError
from ._errors import ResultsError as ResultsError
from ._errors import SizeError as SizeError
from ._errors import UnitError as UnitError


def __getattr__(name: str):
    # Mesh and Surface (and JAX with them) load on first use, so that the `organtwin` console script can take Ctrl-C
    # before the heavy imports (organtwin.cli._signals); submodules (organtwin.mesh, ...) load on first use too.
    if name in ("Mesh", "Surface"):
        from . import mesh

        return getattr(mesh, name)
    if name == "__version__":
        # written once, in pyproject.toml; the installed (or editable) package carries it in its metadata. Read on first
        # use: importlib.metadata costs ~30 ms, before the console script has its signal handlers (cli/_signals.py).
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("organtwin")
        except PackageNotFoundError:  # a source tree on sys.path, never installed
            return "0+unknown"
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
