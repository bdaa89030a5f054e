"""How an area's physics is written: the interface every formulation implements.

A formulation is built on a model builder (either backend of
:mod:`tdcoord.backends`) for one compiled network, over one period or a
time axis of ``periods`` columns. It declares the voltage (and flow)
variables and offers, in one vocabulary whatever the physics:

- expressions devices ask for: ``vm()`` (voltage magnitude, or ``None``
  where the formulation has none), ``vm_sq()`` (its square, what shunts and
  capacitor banks need);
- ``constraint_power_balance(p_dev, q_dev)``: Kirchhoff at every bus, with
  the device injections (bus x period expressions, p.u.; ``q_dev`` is
  ignored by formulations without reactive power);
- ``constraint_thermal_limits()`` and ``constraint_angle_difference()``;
- objective terms: ``objective_losses()`` (p.u., summed over periods) and
  ``objective_voltage_deviation(vm_ref, buses)`` (sum of (V - vm_ref)^2);
- boundary handles: a radial formulation's ``p_root``/``q_root``, the
  injection its root bus takes from outside;
- values after a solve: ``bus_values(sol)`` (vm, va) and
  ``branch_values(sol)`` (P and Q entering the branch at its from and to
  ends, p.u.), period columns.

``family`` says which quantities exist: ``"ac"`` (P, Q and voltage
magnitudes) or ``"dc"`` (P and angles). ``backends`` lists where it can be
built: nonconvex formulations only on the NLP backend, convex ones on both.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tdcoord.network.compiled import REF, CompiledNetwork


class Formulation:
    """Base class: what every formulation offers (see the module docstring)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = "ac"
    backends: ClassVar[tuple[str, ...]] = ("nlp",)
    radial: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, b: Any, cn: CompiledNetwork, prefix: str, *, periods: int | None = None,
                 vm_min: np.ndarray | None = None, vm_max: np.ndarray | None = None,
                 start: dict | None = None, root: int | None = None, **options: Any) -> None:
        if b.backend not in self.backends:
            raise ValueError(f"formulation {self.name!r} cannot be built on the {b.backend} backend "
                             f"(it needs: {', '.join(self.backends)})")
        self.b = b
        self.ops = b.ops
        self.cn = cn
        self.prefix = prefix
        self.periods = periods
        self.T = 1 if periods is None else int(periods)
        self.vm_min = cn.vm_min.copy() if vm_min is None else np.asarray(vm_min, float)
        self.vm_max = cn.vm_max.copy() if vm_max is None else np.asarray(vm_max, float)
        self.start = start or {}
        self.root = root
        self.options = options
        self.p_root: Any = None
        self.q_root: Any = None

    # --------------------------------------------------------------- helpers
    @property
    def reactive(self) -> bool:
        return self.family == "ac"

    def shape(self, n: int) -> int | tuple[int, int]:
        """A block's shape: ``n`` for one period, ``(n, periods)`` on a time axis."""
        return n if self.periods is None else (n, self.T)

    def columns(self, a: np.ndarray) -> np.ndarray:
        """A per-element array as (n, T): 1-D values repeated in every period."""
        a = np.asarray(a, float)
        return np.repeat(a.reshape(-1, 1), self.T, axis=1) if a.ndim == 1 else a

    def start_of(self, key: str, default: Any) -> Any:
        v = self.start.get(key)
        return default if v is None else v

    def reference_angles(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the reference buses and their angle set-points (rad)."""
        cn = self.cn
        ref = np.flatnonzero(cn.bus_type == REF)
        angle = np.zeros(len(ref))
        for k, r in enumerate(ref):
            at_ext = np.flatnonzero(cn.ext_bus == r)
            at_gen = np.flatnonzero(cn.gen_bus == r)
            angle[k] = cn.ext_va[at_ext[0]] if len(at_ext) else (cn.gen_va[at_gen[0]] if len(at_gen) else 0.0)
        return ref, angle

    # ------------------------------------------------------------ interface
    def vm(self) -> Any:
        raise NotImplementedError

    def vm_sq(self) -> Any:
        raise NotImplementedError

    def constraint_power_balance(self, p_dev: Any, q_dev: Any) -> None:
        raise NotImplementedError

    def constraint_thermal_limits(self, limit: str = "mva") -> None:
        """Branch ratings (``mva``: apparent power at both ends; ``current``: |S| <= rate V)."""

    def constraint_angle_difference(self, ang_min_deg: np.ndarray, ang_max_deg: np.ndarray) -> None:
        """Angle-difference limits of branches where they bind (|limit| < 360 degrees); formulations with angles."""
        va = getattr(self, "va_var", None)
        lim = (ang_min_deg > -360) | (ang_max_deg < 360)
        if va is None or not lim.any():
            return
        idx = np.flatnonzero(lim)
        cf, ct = self.cn.incidence()
        self.b.constraint_ineq(f"{self.prefix}.angle_diff", self.ops.mm((cf - ct)[idx], va),
                               self.columns(np.deg2rad(ang_min_deg[idx])), self.columns(np.deg2rad(ang_max_deg[idx])))

    def objective_losses(self) -> Any:
        raise NotImplementedError

    def objective_voltage_deviation(self, vm_ref: float, buses: np.ndarray | None = None) -> Any:
        raise NotImplementedError

    def bus_values(self, sol: Any) -> tuple[np.ndarray, np.ndarray]:
        """(vm, va in rad) at a solution, bus x period; NaN where the formulation has none."""
        raise NotImplementedError

    def branch_values(self, sol: Any) -> dict[str, np.ndarray]:
        """``pf, qf, pt, qt`` (p.u., into the branch at each end) at a solution, branch x period."""
        raise NotImplementedError

    def voltage_start(self) -> np.ndarray:
        """Start values of the voltage magnitudes (clipped into the limits)."""
        vm0 = self.start_of("vm", None)
        vm0 = np.ones(self.cn.n_bus) if vm0 is None else np.asarray(vm0, float)
        return np.clip(vm0, self.vm_min if vm0.ndim == 1 else self.vm_min[:, None],
                       self.vm_max if vm0.ndim == 1 else self.vm_max[:, None])


def get_formulation(name: str) -> type[Formulation]:
    """The formulation class registered under ``name``."""
    from tdcoord.formulations import FORMULATIONS

    try:
        return FORMULATIONS[name]
    except KeyError:
        raise ValueError(f"unknown formulation {name!r}; expected one of {', '.join(FORMULATIONS)}") from None


__all__ = ["Formulation", "get_formulation"]
