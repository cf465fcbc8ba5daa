"""Checks and sound repairs of fibre and sheet directions, run on every mesh read (`check_mesh`) and at solver entry.

Rules (one line per problem, with counts and the first cell ids):

- fibres NaN/inf or zero-length (|f| <= 1e-8): `MeshError` (a direction cannot be guessed); the fix is to compute fibres
  (``--fibres rule-based``), to ignore them (``--fibres none``, isotropic), or to repair the file.
- fibres not unit length: normalised, one `MeshWarning` (when any |1 - |f|| > 1e-3; smaller errors, e.g. float32 files,
  are normalised without a word).
- sheets without fibres: dropped with a warning. Sheets NaN/inf or zero-length: *all* sheets are dropped with one warning
  (decision: sheets are only needed for orthotropic conduction; transversely isotropic runs are unaffected, and an
  orthotropic run then stops with "needs sheet directions"). Sheets parallel to their fibre (nothing left after
  Gram–Schmidt, |ŝ - (ŝ·f) f| <= 1e-3): `MeshError`. Sheets not unit or not orthogonal to the fibre: Gram–Schmidt
  against the fibre and normalised, one warning (when |1 - |s|| > 1e-3 or |f·ŝ| > 1e-3).
- a field that is one vector (up to sign) on more than 99% of the cells of a mesh that is not box-like (its volume fills
  less than 90% of its bounding box, axis-aligned or principal) and has at least 50 cells looks like a placeholder (public cohort
  meshes carry (0,0,1)): one loud warning; `mesh info` reports it (`fibre_quality`).

Everything is vectorised numpy on the host.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import MeshError, MeshWarning
from ._mesh import Mesh

__all__ = [
    "FIBRE_CHOICES",
    "check_fibres",
    "choose_fibres",
    "fibre_quality",
    "fibre_quality_lines",
    "require_usable_directions",
]

FIBRE_CHOICES = ("mesh", "rule-based", "none")

_ZERO = 1e-8  # a direction shorter than this is no direction
_UNIT_TOL = 1e-3  # warn when |1 - |v|| exceeds this (smaller: normalised silently)
_ORTHO_TOL = 1e-3  # warn when |f . s_hat| exceeds this
_EXACT = 1e-12  # rows within this of unit length / orthogonality are kept as they are
_PARALLEL = 1e-3  # the sheet's part orthogonal to the fibre, relative to |s|, below which it is "parallel"
_CONSTANT_FRACTION = 0.99
_BOX_FILL = 0.9
_MIN_CELLS = 50

_FIX = "use --fibres rule-based (compute them) or --fibres none (isotropic), or repair the file's fibre array"


def _first(ids, k: int = 5) -> str:
    ids = np.asarray(ids).ravel()
    return ", ".join(str(int(i)) for i in ids[:k]) + (", ..." if ids.size > k else "")


def _warn(message: str) -> None:
    warnings.warn(message, MeshWarning, stacklevel=4)


def _canonical(u: np.ndarray) -> np.ndarray:
    """Unit vectors with the sign fixed (first non-zero component positive): f and -f are the same fibre."""
    idx = np.argmax(np.abs(u) > 1e-9, axis=1)
    sign = np.sign(u[np.arange(u.shape[0]), idx])
    sign[sign == 0] = 1.0
    return u * sign[:, None]


def _mode(u: np.ndarray) -> tuple[float, np.ndarray | None]:
    """(fraction of rows equal to the most common row to 1e-6, that row) for unit rows (sign-free)."""
    if u.shape[0] == 0:
        return 0.0, None
    key = np.round(_canonical(u), 6) + 0.0  # + 0.0: -0.0 -> 0.0
    vals, counts = np.unique(key, axis=0, return_counts=True)
    i = int(np.argmax(counts))
    return float(counts[i] / u.shape[0]), vals[i]


def _box_fill(mesh: Mesh) -> float:
    """Mesh volume over the volume of its bounding box, axis-aligned or along the principal axes, whichever is smaller
    (1 for a box, ~0.52 for a solid ellipsoid, much less for a curved shell)."""
    p = np.asarray(mesh.points, np.float64)
    c = p - p.mean(axis=0)
    try:
        _, _, vt = np.linalg.svd(c, full_matrices=False)
    except np.linalg.LinAlgError:
        return 0.0
    # the smaller of the axis-aligned and the principal-axes boxes (principal axes are arbitrary for a square section)
    box = min(float(np.prod(q.max(axis=0) - q.min(axis=0))) for q in (c, c @ vt.T))
    vol = float(np.abs(mesh.cell_volumes()).sum())
    return vol / box if box > 0 else 0.0


def _norms(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = np.asarray(np.isfinite(a).all(axis=1))
    n = np.linalg.norm(np.where(finite[:, None], a, 0.0), axis=1)
    return n, finite


def fibre_quality(mesh: Mesh) -> dict | None:
    """Fibre (and sheet) quality of a mesh, or None without fibres.

    Returns a dict: ``n_cells``; ``fibre_nonfinite``, ``fibre_zero`` (counts); ``fibre_unit_error_max``/``_mean``
    (|1 - |f|| over the usable fibres); ``sheets`` (bool), ``sheet_nonfinite``, ``sheet_zero``,
    ``sheet_unit_error_max``/``_mean``, ``orthogonality_error_max``/``_mean`` (|f̂ · ŝ|), ``sheet_parallel`` (count);
    ``constant_fraction`` (fraction of cells whose fibre, up to sign, is the most common one), ``constant_fibre`` (that
    vector, unit), ``box_fill`` (volume / principal-axes bounding box), ``placeholder`` (bool: see the module docstring).
    """
    if mesh.fibres is None:
        return None
    f = np.asarray(mesh.fibres, np.float64)
    nf, ff = _norms(f)
    usable = ff & (nf > _ZERO)
    fu = np.where(usable[:, None], f / np.where(usable, nf, 1.0)[:, None], 0.0)
    uerr = np.abs(1.0 - nf[usable])
    frac, vec = _mode(fu[usable])
    q = {
        "n_cells": int(f.shape[0]),
        "fibre_nonfinite": int((~ff).sum()),
        "fibre_zero": int((ff & (nf <= _ZERO)).sum()),
        "fibre_unit_error_max": float(uerr.max()) if uerr.size else float("nan"),
        "fibre_unit_error_mean": float(uerr.mean()) if uerr.size else float("nan"),
        "sheets": mesh.sheets is not None,
        "constant_fraction": frac,
        "constant_fibre": None if vec is None else tuple(float(v) for v in vec),
    }
    if mesh.sheets is not None:
        s = np.asarray(mesh.sheets, np.float64)
        ns, fs = _norms(s)
        su_ok = fs & (ns > _ZERO)
        both = su_ok & usable
        su = np.where(su_ok[:, None], s / np.where(su_ok, ns, 1.0)[:, None], 0.0)
        cos = np.abs(np.sum(su * fu, axis=1))[both]
        serr = np.abs(1.0 - ns[su_ok])
        q.update(
            {
                "sheet_nonfinite": int((~fs).sum()),
                "sheet_zero": int((fs & (ns <= _ZERO)).sum()),
                "sheet_unit_error_max": float(serr.max()) if serr.size else float("nan"),
                "sheet_unit_error_mean": float(serr.mean()) if serr.size else float("nan"),
                "orthogonality_error_max": float(cos.max()) if cos.size else float("nan"),
                "orthogonality_error_mean": float(cos.mean()) if cos.size else float("nan"),
                "sheet_parallel": int((np.sqrt(np.maximum(1.0 - cos**2, 0.0)) <= _PARALLEL).sum()),
            }
        )
    fill = _box_fill(mesh)
    q["box_fill"] = fill
    q["placeholder"] = bool(f.shape[0] >= _MIN_CELLS and frac > _CONSTANT_FRACTION and fill < _BOX_FILL)
    return q


def _vec(v) -> str:
    return "(" + ",".join(f"{x:.3g}" for x in v) + ")"


def fibre_quality_lines(summary: dict) -> list[str]:
    """The ``Fibres:`` lines of `organtwin mesh info` from a `mesh_summary` dict (its ``fibre_quality`` entry)."""
    q = summary.get("fibre_quality")
    if q is None:
        return [
            f"Fibres: {'yes' if summary.get('fibres') else 'no'}" + (" (sheets: yes)" if summary.get("sheets") else "")
        ]
    where = " (as in the file, before the read's repairs)" if q.get("as_in_file") else ""
    lines = [
        f"Fibres: yes (sheets: {'yes' if q['sheets'] else 'no'}){where}; unit-norm error max "
        f"{q['fibre_unit_error_max']:.2g}, mean {q['fibre_unit_error_mean']:.2g}; zero {q['fibre_zero']}, NaN/inf "
        f"{q['fibre_nonfinite']}"
    ]
    if q["sheets"]:
        lines.append(
            f"  sheets: unit-norm error max {q['sheet_unit_error_max']:.2g}; orthogonality |f.s| max "
            f"{q['orthogonality_error_max']:.2g}, mean {q['orthogonality_error_mean']:.2g}; zero "
            f"{q['sheet_zero']}, NaN/inf {q['sheet_nonfinite']}, parallel to the fibre {q['sheet_parallel']}"
        )
    const = (
        f"  constant fraction: {100 * q['constant_fraction']:.1f}% of cells have the fibre {_vec(q['constant_fibre'])}"
        if q["constant_fibre"] is not None
        else "  constant fraction: n/a"
    )
    if q["placeholder"]:
        const += " - looks like a PLACEHOLDER (mesh not a box); use --fibres rule-based or --fibres none"
    lines.append(const)
    return lines


def placeholder_message(q: dict, source: str = "mesh") -> str:
    """The one-line placeholder warning for a `fibre_quality` dict that has ``placeholder`` set."""
    return (
        f"{source}: fibres look like a placeholder: {100 * q['constant_fraction']:.1f}% of cells have "
        f"{_vec(q['constant_fibre'])} on a mesh that is not a box; use --fibres rule-based or --fibres none "
        f"(or pass real fibres)"
    )


def check_fibres(mesh: Mesh, *, source: str = "mesh") -> Mesh:
    """Check the fibres and sheets of a mesh; repair what is sound to repair (module docstring); return the mesh.

    Raises:
        MeshError: one line, for NaN/inf or zero-length fibres, or sheets parallel to their fibre.
    """
    if mesh.fibres is None:
        if mesh.sheets is not None:
            _warn(f"{source}: sheet directions without fibre directions were dropped (sheets need fibres)")
            mesh = mesh.replace(sheets=None)
        return mesh
    f = np.asarray(mesh.fibres, np.float64)
    nf, finite = _norms(f)
    bad_nan, bad_zero = ~finite, finite & (nf <= _ZERO)
    if bad_nan.any() or bad_zero.any():
        ids = np.flatnonzero(bad_nan | bad_zero)
        raise MeshError(
            f"{source}: unusable fibres: {int(bad_nan.sum())} NaN/inf and {int(bad_zero.sum())} zero-length of "
            f"{f.shape[0]} (first cell ids: {_first(ids)}); {_FIX}"
        )
    changed = {}
    uerr = np.abs(1.0 - nf)
    if uerr.max() > _UNIT_TOL:
        n_bad = int((uerr > _UNIT_TOL).sum())
        _warn(
            f"{source}: {n_bad} of {f.shape[0]} fibres were not unit length (|f| from {nf.min():.3g} to "
            f"{nf.max():.3g}; first cell ids: {_first(np.flatnonzero(uerr > _UNIT_TOL))}); normalised"
        )
    # rows already unit to round-off stay bit for bit (round trips read back identically)
    fu = np.where((uerr > _EXACT)[:, None], f / nf[:, None], f)
    if (uerr > _EXACT).any():
        changed["fibres"] = fu
    if mesh.sheets is not None:
        s = np.asarray(mesh.sheets, np.float64)
        ns, sfin = _norms(s)
        sbad = ~sfin | (ns <= _ZERO)
        if sbad.any():
            _warn(
                f"{source}: {int((~sfin).sum())} NaN/inf and {int((sfin & (ns <= _ZERO)).sum())} zero-length sheet "
                f"directions of {s.shape[0]} (first cell ids: {_first(np.flatnonzero(sbad))}); all sheets were "
                f"dropped (transversely isotropic runs are unaffected; orthotropic ones need --fibres rule-based)"
            )
            changed["sheets"] = None
        else:
            su = s / ns[:, None]
            cos = np.sum(su * fu, axis=1)
            r = su - cos[:, None] * fu
            nr = np.linalg.norm(r, axis=1)
            par = nr <= _PARALLEL
            if par.any():
                raise MeshError(
                    f"{source}: {int(par.sum())} of {s.shape[0]} sheet directions are parallel to their fibre (first "
                    f"cell ids: {_first(np.flatnonzero(par))}), so no sheet plane is defined; {_FIX}"
                )
            serr = np.abs(1.0 - ns)
            n_unit, n_orth = int((serr > _UNIT_TOL).sum()), int((np.abs(cos) > _ORTHO_TOL).sum())
            if n_unit or n_orth:
                _warn(
                    f"{source}: {n_unit} of {s.shape[0]} sheets were not unit length and {n_orth} not orthogonal to "
                    f"their fibre (max |f.s| {np.abs(cos).max():.3g}); made orthonormal to the fibre "
                    f"(Gram-Schmidt)"
                )
            fix = (serr > _EXACT) | (np.abs(cos) > _EXACT)
            if fix.any():
                changed["sheets"] = np.where(fix[:, None], r / nr[:, None], s)
    if changed:
        mesh = mesh.replace(**changed)
    q = fibre_quality(mesh)
    if q is not None and q["placeholder"]:
        _warn(placeholder_message(q, source))
    return mesh


def require_usable_directions(fibres, sheets, who: str) -> None:
    """Host check at solver entry: refuse NaN/inf or zero fibres and sheets, and sheets parallel to their fibre, with
    one line (non-unit or non-orthogonal directions are fine: the tensors normalise and Gram–Schmidt inside)."""
    if fibres is None:
        return
    f = np.asarray(fibres, np.float64)
    nf, ff = _norms(f)
    bad = ~ff | (nf <= _ZERO)
    if bad.any():
        raise MeshError(
            f"{who}: {int(bad.sum())} of {f.shape[0]} fibre directions are NaN/inf or zero (first cell "
            f"ids: {_first(np.flatnonzero(bad))}); {_FIX}"
        )
    if sheets is None:
        return
    s = np.asarray(sheets, np.float64)
    ns, sf = _norms(s)
    bad = ~sf | (ns <= _ZERO)
    if not bad.any():
        su = s / ns[:, None]
        fu = f / nf[:, None]
        bad = np.linalg.norm(su - np.sum(su * fu, axis=1)[:, None] * fu, axis=1) <= _PARALLEL
    if bad.any():
        raise MeshError(
            f"{who}: {int(bad.sum())} of {s.shape[0]} sheet directions are NaN/inf, zero or parallel to "
            f"their fibre (first cell ids: {_first(np.flatnonzero(bad))}); {_FIX}"
        )


def choose_fibres(mesh: Mesh, choice: str, *, source: str = "mesh", needs_fibres: bool = False) -> tuple[Mesh, str]:
    """Apply a ``--fibres`` choice: ``"mesh"`` (the file's arrays, checked on read), ``"rule-based"`` (Bayer 2012 from
    the surfaces endo_lv[/endo_rv]/epi/base) or ``"none"`` (isotropic: the file's arrays are ignored).

    Returns ``(mesh, description)`` with a one-line description of the fibres used, for the CLI to print.

    Raises:
        MeshError: one line: an unknown choice; rule-based fibres without the surfaces they need; ``needs_fibres``
            (anisotropic speeds or conductivities) with ``"none"`` or with a mesh that has no fibres.
    """
    if choice not in FIBRE_CHOICES:
        raise MeshError(f"--fibres must be one of {', '.join(FIBRE_CHOICES)}, got {choice!r}")
    if choice == "none":
        if needs_fibres:
            raise MeshError(
                "--fibres none (isotropic) cannot be used with anisotropic speeds or conductivities; give "
                "equal fibre and transverse values, or use --fibres mesh / rule-based"
            )
        return mesh.replace(fibres=None, sheets=None), "fibres: none (isotropic; the file's fibre arrays are ignored)"
    if choice == "rule-based":
        need = ["endo_lv", "epi", "base"]
        missing = [n for n in need if n not in mesh.surfaces]
        if missing:
            have = ", ".join(sorted(mesh.surfaces)) or "none"
            raise MeshError(
                f"{source}: --fibres rule-based needs the surfaces {', '.join(need)} (and endo_rv for two "
                f"ventricles); missing: {', '.join(missing)} (surfaces: {have}); name them with "
                f"`organtwin mesh surfaces MESH OUT --auto` (or --map)"
            )
        from ._fibres import rule_based_fibres

        mesh = rule_based_fibres(mesh)
        endo = "endo_lv, endo_rv" if "endo_rv" in mesh.surfaces else "endo_lv"
        return mesh, f"fibres: rule-based (Bayer 2012, from surfaces {endo}, epi, base)"
    if mesh.fibres is None:
        if needs_fibres:
            raise MeshError(
                f"{source} has no fibres, needed for anisotropic speeds or conductivities; use --fibres "
                f"rule-based, compute them with `organtwin mesh fibres`, or give equal values"
            )
        return mesh, "fibres: none in the file (isotropic)"
    q = fibre_quality(mesh)
    desc = f"fibres: from the mesh file ({'with' if mesh.sheets is not None else 'no'} sheets)"
    if q is not None and q["placeholder"]:
        desc += (
            f" - WARNING: they look like a placeholder ({100 * q['constant_fraction']:.1f}% of cells have "
            f"{_vec(q['constant_fibre'])}); use --fibres rule-based or --fibres none"
        )
    return mesh, desc
