"""Free parameters of a calibration: chosen by name in any model pytree, bounded by smooth transforms, with priors.

A fit works on one flat unconstrained vector ``u``; `FreeParameters` maps it into the model (everything it does not
name stays fixed) and back. A name is a path into the pytree: attribute names and dict keys separated by dots, and an
integer index into an array parameter after a ``[``: ``"model.blocks.LV.e_active"`` (a `Circulation`),
``"velocity[0]"`` (the first region's velocity triple of an `EikonalTissue`), ``"velocity[0, 0]"`` (its fibre
velocity). A parameter's value may be a scalar or an array; the transform acts elementwise. A name steps only through
dict keys and the data fields of modules (dataclasses, named tuples): never a method, property, class attribute or a
name starting with an underscore (``__class__``, ``__globals__``), so a case file cannot reach beyond the model.

Transforms (each a final eqx.Module, bijections R -> (support)):

* `Unbounded` — x = u.
* `Positive` — x = scale · log(1 + e^u) (softplus): smooth, > 0, linear for large u (no overflow).
* `Bounded(lower, upper)` — x = lower + (upper − lower) · sigmoid(u).

Priors: `Normal(mean, sd)` on the parameter's value (a Gaussian log-density, as a penalty ½((x − mean)/sd)² added to
the loss), or `LogNormal(median, sd_log)` on log x. The Laplace approximation of the report (issue 6, item 2) reads the
same penalty as the prior precision.
"""

from __future__ import annotations

import abc
import dataclasses
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import CalibrationError as CalibrationError

__all__ = [
    "AbstractPrior",
    "AbstractTransform",
    "Bounded",
    "CalibrationError",
    "FreeParameter",
    "FreeParameters",
    "LogNormal",
    "Normal",
    "Positive",
    "Unbounded",
]


# ------------------------------------------------------------------------------------------------------ transforms
class AbstractTransform(eqx.Module):
    """x = forward(u): unconstrained u -> the parameter's support; ``inverse`` the other way."""

    @abc.abstractmethod
    def forward(self, u: Array) -> Array: ...

    @abc.abstractmethod
    def inverse(self, x: Array) -> Array: ...

    def check(self, name: str, x) -> None:
        """Raise a one-line `CalibrationError` if the concrete value ``x`` is outside the support."""


class Unbounded(AbstractTransform):
    def forward(self, u):
        return u

    def inverse(self, x):
        return jnp.asarray(x)


class Positive(AbstractTransform):
    """x = scale · log(1 + exp(u)); ``scale`` sets the size where the map bends (default 1, the parameter's unit)."""

    scale: float = 1.0

    def forward(self, u):
        return self.scale * jax.nn.softplus(u)

    def inverse(self, x):
        y = jnp.asarray(x) / self.scale
        return y + jnp.log(-jnp.expm1(-y))  # softplus⁻¹(y) = log(e^y − 1), stable for large y

    def check(self, name, x):
        if np.any(np.asarray(x) <= 0):
            raise CalibrationError(
                f"free parameter {name}: value {np.asarray(x).tolist()} is not > 0; give a positive "
                "start or another transform"
            )


class Bounded(AbstractTransform):
    """x = lower + (upper − lower) · sigmoid(u), lower < x < upper (scalars, or arrays matching the parameter's shape:
    one interval per element, e.g. a box around a site's position)."""

    lower: float | np.ndarray
    upper: float | np.ndarray

    def __check_init__(self):
        if not np.all(np.asarray(self.lower) < np.asarray(self.upper)):
            raise CalibrationError(f"Bounded: need lower < upper (got {self.lower}, {self.upper})")

    def forward(self, u):
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(u)

    def inverse(self, x):
        s = (jnp.asarray(x) - self.lower) / (self.upper - self.lower)
        return jnp.log(s) - jnp.log1p(-s)

    def check(self, name, x):
        v = np.asarray(x)
        if np.any(v <= self.lower) or np.any(v >= self.upper):
            raise CalibrationError(
                f"free parameter {name}: start {v.tolist()} is not strictly inside its bounds "
                f"({self.lower}, {self.upper}); move the start or widen the bounds"
            )


# ---------------------------------------------------------------------------------------------------------- priors
class AbstractPrior(eqx.Module):
    """A Gaussian prior in some coordinate: ``residuals(x)`` (standardised), penalty ½ Σ residuals²."""

    @abc.abstractmethod
    def residuals(self, x: Array) -> Array:
        """Standardised residuals (the parameter's elements, raveled)."""

    def penalty(self, x: Array) -> Array:
        """−log density up to a constant (summed over the parameter's elements)."""
        return 0.5 * jnp.sum(jnp.square(self.residuals(x)))


class Normal(AbstractPrior):
    mean: float | Array
    sd: float | Array

    def residuals(self, x):
        return jnp.ravel((x - self.mean) / self.sd)


class LogNormal(AbstractPrior):
    median: float | Array
    sd_log: float | Array

    def residuals(self, x):
        return jnp.ravel((jnp.log(x) - jnp.log(self.median)) / self.sd_log)


# ------------------------------------------------------------------------------------------------------ parameters
_STEP = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\[[0-9,\s]+\])?\s*$")


def _parse(name: str) -> tuple[list[str], tuple[int, ...] | None]:
    """'a.b.c[1, 2]' -> (['a', 'b', 'c'], (1, 2))."""
    parts = name.split(".")
    keys, index = [], None
    for i, part in enumerate(parts):
        m = _STEP.match(part)
        if not m:
            raise CalibrationError(
                f"free parameter {name!r}: cannot read {part!r}; write attributes and dict keys "
                "separated by dots, an array index last, e.g. 'model.blocks.LV.e_active' or "
                "'velocity[0, 0]'"
            )
        if m.group(1).startswith("_"):
            raise CalibrationError(
                f"free parameter {name!r}: {m.group(1)!r} starts with an underscore; a free "
                "parameter names the model's own fields and keys (e.g. 'tissue.velocity[0, 0]'), "
                "never private or special attributes"
            )
        keys.append(m.group(1))
        if m.group(2):
            if i != len(parts) - 1:
                raise CalibrationError(f"free parameter {name!r}: an index may only follow the last name")
            index = tuple(int(k) for k in m.group(2)[1:-1].split(",") if k.strip())
    return keys, index


def _step(obj, key: str, name: str):
    if isinstance(obj, dict):
        if key not in obj:
            raise CalibrationError(f"free parameter {name!r}: no key {key!r} (keys: {', '.join(map(str, obj))})")
        return obj[key]
    fields = _fields(obj)
    if fields is None:
        raise CalibrationError(
            f"free parameter {name!r}: cannot look up {key!r} in a {type(obj).__name__}; a name "
            "walks only through dict keys and the fields of a module (dataclass or named tuple)"
        )
    if key not in fields:
        raise CalibrationError(
            f"free parameter {name!r}: {type(obj).__name__} has no field {key!r}"
            + (f" (fields: {', '.join(fields)})" if fields else "")
        )
    return getattr(obj, key)


def _fields(obj) -> tuple[str, ...] | None:
    """The public data fields a name may step into: a dataclass's (every eqx.Module) or a named tuple's; None for
    anything else. Never methods, properties, class attributes or private names (``__class__``, ``__globals__``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = tuple(f.name for f in dataclasses.fields(obj))
    elif isinstance(obj, tuple) and (fields := getattr(type(obj), "_fields", None)) is not None:
        names = tuple(fields)
    else:
        return None
    return tuple(n for n in names if not n.startswith("_"))


class FreeParameter(eqx.Module):
    """One free parameter: ``name`` (a path into the model), its transform and optional prior (final)."""

    name: str = eqx.field(static=True)
    transform: AbstractTransform = Unbounded()
    prior: AbstractPrior | None = None

    def where(self, model):
        """The leaf (an array in the model) this parameter lives in."""
        keys, _ = _parse(self.name)
        obj = model
        for k in keys:
            obj = _step(obj, k, self.name)
        if not eqx.is_inexact_array(obj):
            raise CalibrationError(
                f"free parameter {self.name!r} is a {type(obj).__name__}, not a floating array; "
                "only floating parameters can be fitted"
            )
        return obj

    def get(self, model) -> Array:
        _, index = _parse(self.name)
        leaf = jnp.asarray(self.where(model))
        if index is None:
            return leaf
        if len(index) > leaf.ndim or any(not 0 <= i < n for i, n in zip(index, leaf.shape)):
            raise CalibrationError(
                f"free parameter {self.name!r}: index {index} is outside the array of shape {leaf.shape}"
            )
        return leaf[index]

    def set(self, model, value):
        keys, index = _parse(self.name)

        def getter(m):
            obj = m
            for k in keys:
                obj = obj[k] if isinstance(obj, dict) else getattr(obj, k)
            return obj

        if index is None:
            leaf = jnp.asarray(self.where(model))
            return eqx.tree_at(getter, model, jnp.broadcast_to(jnp.asarray(value, leaf.dtype), leaf.shape))
        leaf = jnp.asarray(self.where(model))
        return eqx.tree_at(getter, model, leaf.at[index].set(jnp.asarray(value, leaf.dtype)))


class FreeParameters(eqx.Module):
    """The free parameters of a fit (final): ``pack(model)`` -> unconstrained vector u (with `inverse` transforms),
    ``unpack(model, u)`` -> the model with those values in (differentiable in u), ``values(u)`` -> {name: value},
    ``prior_penalty(u)``. A name may be given only once."""

    parameters: tuple[FreeParameter, ...]
    sizes: tuple[int, ...] = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(self, parameters, model):
        params = tuple(p if isinstance(p, FreeParameter) else FreeParameter(p) for p in parameters)
        if not params:
            raise CalibrationError("no free parameters: name at least one")
        names = [p.name for p in params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise CalibrationError(f"free parameter {dup[0]!r} is named twice")
        shapes = []
        for p in params:
            x = p.get(model)
            if not np.all(np.isfinite(np.asarray(x))):
                raise CalibrationError(f"free parameter {p.name!r} starts at a non-finite value")
            p.transform.check(p.name, x)
            shapes.append(tuple(np.shape(x)))
        self.parameters = params
        self.shapes = tuple(shapes)
        self.sizes = tuple(int(np.prod(s)) for s in shapes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def _split(self, u):
        out, k = [], 0
        for n, s in zip(self.sizes, self.shapes):
            out.append(jnp.reshape(u[k : k + n], s))
            k += n
        return out

    def pack(self, model) -> Float[Array, " n"]:
        """The unconstrained vector of the model's current values."""
        return jnp.concatenate([jnp.ravel(p.transform.inverse(p.get(model))) for p in self.parameters])

    def values(self, u) -> dict:
        """{name: value in the parameter's own units} for the unconstrained vector u."""
        return {p.name: p.transform.forward(x) for p, x in zip(self.parameters, self._split(u))}

    def unpack(self, model, u):
        """``model`` with every free parameter set from u (everything else as it was)."""
        for p, x in zip(self.parameters, self._split(u)):
            model = p.set(model, p.transform.forward(x))
        return model

    def prior_residuals(self, u) -> Array:
        """The priors' standardised residuals at the values of u, concatenated (empty without priors)."""
        parts = [
            p.prior.residuals(p.transform.forward(x))
            for p, x in zip(self.parameters, self._split(u))
            if p.prior is not None
        ]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.result_type(u))

    def prior_penalty(self, u) -> Array:
        """Σ of the priors' −log densities at the values of u (0 without priors)."""
        total = jnp.zeros((), jnp.result_type(u))
        for p, x in zip(self.parameters, self._split(u)):
            if p.prior is not None:
                total = total + p.prior.penalty(p.transform.forward(x))
        return total
