"""Error and warning types shared by the whole package.

Every error a user can cause carries a one-line message saying what went wrong, where, and how to fix it. The CLI prints
``str(error)`` on one line and exits non-zero; library users catch the usual built-in bases (ValueError, OSError).
"""

from __future__ import annotations


class OrgantwinError(Exception):
    """Base class of every error organtwin raises on purpose."""


class MeshError(OrgantwinError, ValueError):
    """A mesh is malformed or cannot be used as asked (bad file, bad cells, missing data)."""


class MeshWarning(UserWarning):
    """A mesh was repaired or looks suspicious (inverted tets reordered, unreferenced nodes dropped, units guessed)."""


class NetworkError(OrgantwinError, ValueError):
    """A 0D circulation network is malformed (unknown block, dangling port, unsupported topology, bad parameter)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by SIGTERM. A KeyboardInterrupt, so every cleanup an interrupt runs (``finally``,
    all-or-nothing results folders) runs for it too; the command line exits with 143 instead of 130."""
