"""Every error and warning type organtwin raises, in one place.

Every error a user can cause carries a one-line message saying what went wrong, where, and how to fix it, and derives
from `OrgantwinError`; each also derives from the built-in base a library user would catch (ValueError for bad input,
OSError for files). The command line prints ``str(error)`` of an `OrgantwinError`, of an `OSError` and of a solver
outcome (`organtwin.RESULTS` through ``eqx.error_if``) on one line and exits 1; any other exception is a bug in
organtwin and says so (``organtwin --debug ...`` shows its traceback).

The classes are re-exported where users import them: ``organtwin.MeshError``, ``organtwin.io.CaseError``,
``organtwin.io.UnitError``, ``organtwin.io.ResultsError``, ``organtwin.calibrate.CalibrationError``, ...
"""

from __future__ import annotations


class OrgantwinError(Exception):
    """Base class of every error organtwin raises on purpose."""


class MeshError(OrgantwinError, ValueError):
    """A mesh is malformed or cannot be used as asked (bad file, bad cells, missing data)."""


class MeshWarning(UserWarning):
    """A mesh was repaired or looks suspicious (inverted tets reordered, unreferenced nodes dropped, units guessed)."""


class CalibrationWarning(UserWarning):
    """A fit's result deserves a second look (e.g. its discretisation shift exceeds its statistical SD: the mesh or
    time step, not the noise, limits what the data determine); the one-line message names the parameter."""


class NetworkError(OrgantwinError, ValueError):
    """A 0D circulation network is malformed (unknown block, dangling port, unsupported topology, bad parameter)."""


class NetworkWarning(UserWarning):
    """A 0D configuration holds something organtwin reads but does not use as written (an unknown key, an option
    with no meaning for organtwin's integrator); the one-line message names it and says what organtwin does instead."""


class SizeError(OrgantwinError, ValueError):
    """A size (steps, samples, snapshots, starts, nodes) is beyond an integer limit or the memory there is."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class UnitError(OrgantwinError, ValueError):
    """A value has the wrong unit, an unknown unit or is not a number (the message says what was expected)."""


class CaseError(OrgantwinError, ValueError):
    """A case file is malformed, incomplete or inconsistent with its mesh (one-line message naming file and key)."""


class CalibrationError(OrgantwinError, ValueError):
    """A calibration set-up that cannot work (unknown parameter, bad bound, value outside its bounds); one line."""


class DataError(OrgantwinError, ValueError):
    """Measured data cannot be used as given (unreadable file, missing column, NaN, bad units, uneven sampling)."""


class InputError(OrgantwinError, ValueError):
    """An argument to a library function that cannot be used as given (a value out of its range, a name that is not
    known, arrays of mismatched shapes); the one-line message names the argument and what it accepts. The general
    case of the specific errors above."""


class ResultsError(OrgantwinError, OSError):
    """Results could not be written (one-line message; nothing partial is left behind). ``meant``: the file or folder
    that was to be written (never a temporary name), where known."""

    def __init__(self, message: str, *, meant=None, errno: int | None = None):
        # imported here: `import organtwin` stays free of pathlib's imports (the console script's start)
        from pathlib import Path

        super().__init__(message)
        self.meant = None if meant is None else Path(meant)
        if errno is not None:
            self.errno = errno


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by SIGTERM. A KeyboardInterrupt, so every cleanup an interrupt runs (``finally``,
    all-or-nothing results folders) runs for it too; the command line exits with 143 instead of 130."""
