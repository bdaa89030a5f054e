"""One NLP holding some areas of a coupled system and their boundary coupling.

``coupling`` says what happens at each boundary of the areas held:

- ``equal``: both sides are in this problem; V, P and Q are equated;
- ``fixed``: the other side is outside; the boundary quantities it would
  decide are frozen (``fixed_boundary``: feeder -> (vm, p, q), T base p.u.):
  a transmission area keeps the feeder's P and Q, a feeder keeps the
  transmission bus voltage;
- ``admm``: the other side is outside; consensus keys are one voltage per
  transmission bus with feeders (shared by the transmission side and all
  feeders there) and P and Q per feeder (``admm_keys``); the objective gets
  ``lam . (x - z) + sum_i rho_i/2 (x_i - z_i)^2`` with parameters z, lam,
  rho (one penalty per component), on the
  boundary values in engineering units (:data:`ADMM_UNITS`): voltage in
  percent, P in MW and Q in Mvar, so that one penalty parameter weighs
  comparable deviations and rho has a physical meaning (objective units per
  MW^2, per Mvar^2, per %^2).
"""

from __future__ import annotations

from typing import Any

import casadi as ca
import numpy as np

from tdcoord.backends.casadi_nlp import NlpBuilder, NlpSolution
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.rpo import Area, AreaSolution, RpoConfig, boundary_values, build_feeder, build_transmission, extract


ADMM_UNITS = ("V %", "MW", "Mvar")


class AreaProblem:
    def __init__(self, cs: CoupledSystem, cfg: RpoConfig, areas: list[str], coupling: str = "equal",
                 starts: dict[str, dict] | None = None, fixed_boundary: dict[str, np.ndarray] | None = None,
                 name: str = "nlp") -> None:
        self.cs = cs
        self.cfg = cfg
        self.coupling = coupling
        starts = starts or {}
        self.b = NlpBuilder(name)
        self.areas: list[Area] = []
        for a in areas:
            if a == "T":
                self.areas.append(build_transmission(self.b, cs, cfg, start=starts.get("T")))
            else:
                self.areas.append(build_feeder(self.b, cs, a, cfg, start=starts.get(a)))
        self.boundary_names: list[str] = []
        if coupling == "equal":
            t = next(a for a in self.areas if a.kind == "transmission")
            for f in self.areas:
                if f.kind != "feeder":
                    continue
                tv, fv = t.boundary[f.name], f.boundary[f.name]
                self.b.eq(f"couple.{f.name}", ca.vertcat(*[tv[i] - fv[i] for i in range(3)]))
        elif coupling == "fixed":
            for a in self.areas:
                for fname, (vm, p, q) in a.boundary.items():
                    val = fixed_boundary[fname]
                    if a.kind == "transmission":
                        self.b.eq(f"fix.{fname}", ca.vertcat(p, q), val[1:3])
                    else:
                        self.b.eq(f"fix.{fname}", vm, val[0])
        elif coupling == "admm":
            # consensus keys: one voltage per transmission bus with feeders (shared by the
            # transmission side and every feeder there), P and Q per feeder
            base = cs.transmission.sn_mva
            keys, xs, scales = [], [], []
            for a in self.areas:
                if a.kind == "transmission":
                    volts: dict = {}
                    for fname, (vm, _, _) in a.boundary.items():
                        volts.setdefault(("V", cs.boundary.at[fname, "bus"]), vm)
                    for key, vm in volts.items():
                        keys.append(key)
                        xs.append(vm)
                        scales.append(100.0)
                    for fname, (_, p, q) in a.boundary.items():
                        keys += [("P", fname), ("Q", fname)]
                        xs += [p, q]
                        scales += [base, base]
                else:
                    for fname, (vm, p, q) in a.boundary.items():
                        keys += [("V", cs.boundary.at[fname, "bus"]), ("P", fname), ("Q", fname)]
                        xs += [vm, p, q]
                        scales += [100.0, base, base]
                self.boundary_names.extend(a.boundary)
            n = len(keys)
            self.admm_keys = keys
            self.x_scale = np.array(scales)
            self.x_expr = ca.vertcat(*xs) * self.x_scale
            z = self.b.param("admm.z", np.zeros(n))
            lam = self.b.param("admm.lam", np.zeros(n))
            rho = self.b.param("admm.rho", np.ones(n))
            self.b.cost("admm.penalty", ca.dot(lam, self.x_expr - z) + ca.dot(rho, (self.x_expr - z) ** 2) / 2)
        else:
            raise ValueError(f"unknown coupling {coupling!r}")
        self.vsm: dict | None = None
        if cfg.vsm is not None and cfg.vsm_nodes:
            from tdcoord.problems.vsm import add_vsm_block, set_linearization

            add_vsm_block(self, cfg.vsm_nodes, cfg.vsm)
            if cfg.vsm_lin is not None:
                set_linearization(self, cfg.vsm_lin)
        self.last: NlpSolution | None = None

    # ------------------------------------------------------------- periods
    def update_from(self, cs: CoupledSystem) -> None:
        """Load another period's data (loads, renewable outputs, device ranges) into the built model.

        Only parameters and bounds change, so the next solve reuses the
        model and warm-starts from the last solution. Topology and device
        sets must be those the model was built for: anything else raises
        :class:`~tdcoord.errors.InputError` (build a new problem instead).
        """
        from tdcoord.devices import collect_all
        from tdcoord.errors import InputError
        from tdcoord.network.compiled import compile_network
        from tdcoord.pf.integrated import feeder_with_boundary
        from tdcoord.problems.rpo import device_free_network

        for a in self.areas:
            net = cs.transmission if a.kind == "transmission" else feeder_with_boundary(cs, a.name)
            cn = compile_network(device_free_network(net))
            if cn.n_bus != a.cn.n_bus or cn.n_branch != a.cn.n_branch or not np.allclose(cn.r, a.cn.r) \
                    or not np.allclose(cn.x, a.cn.x):
                raise InputError(f"area {a.name!r}: its network changed structure; build a new problem")
            prefix = "T" if a.kind == "transmission" else a.name
            self.b.set_param(f"{prefix}.p_load", cn.p_load)
            self.b.set_param(f"{prefix}.q_load", cn.q_load)
            new_sets = [ds for ds in collect_all(net, cn) if not (a.kind == "feeder" and ds.kind == "ext_grid")]
            if [(d.kind, len(d)) for d in new_sets] != [(d.ds.kind, len(d.ds)) for d in a.devices]:
                raise InputError(f"area {a.name!r}: its devices changed; build a new problem")
            for dv, ds in zip(a.devices, new_sets):
                tag = f"{prefix}.{ds.table}"
                if ds.kind in ("generator", "ext_grid"):
                    free = ds.p_free
                    self.b.set_bounds(f"{tag}_p", np.where(free, ds.p_min, ds.p), np.where(free, ds.p_max, ds.p))
                    self.b.set_bounds(f"{tag}_q", ds.q_min, ds.q_max)
                elif ds.kind == "inverter":
                    self.b.set_bounds(f"{tag}_p", ds.p, ds.p)
                    self.b.set_bounds(f"{tag}_q", ds.q_min, ds.q_max)
                elif ds.kind == "svc":
                    self.b.set_bounds(f"{prefix}.svc_q", ds.q_min, ds.q_max)
                dv.ds = ds
        self.cs = cs

    # ------------------------------------------------------------- solving
    def shunt_blocks(self) -> list[str]:
        return [k for k in self.b.blocks if k.endswith(".shunt_step")]

    def solve(self, warm: NlpSolution | None = None, solver: str = "ipopt") -> NlpSolution:
        return self.accept(self.b.solve(warm=warm if warm is not None else self.last, solver=solver))

    def accept(self, sol: NlpSolution) -> NlpSolution:
        """Keep a solution as the next warm start when it is usable (or nothing better is known)."""
        if sol.ok or self.last is None:
            self.last = sol
        return sol

    @staticmethod
    def unit_scale(cs: CoupledSystem) -> np.ndarray:
        """Factors from (V p.u., P p.u., Q p.u.) on the T base to (V %, MW, Mvar)."""
        base = cs.transmission.sn_mva
        return np.array([100.0, base, base])

    def boundary_vector(self, sol: NlpSolution, engineering: bool = False) -> np.ndarray:
        out = []
        for a in self.areas:
            vals = boundary_values(self.b, a, sol)
            for fname in a.boundary:
                out.extend(vals[fname])
        x = np.asarray(out)
        return x * np.tile(self.unit_scale(self.cs), len(x) // 3) if engineering else x

    def admm_vector(self, sol: NlpSolution) -> np.ndarray:
        """This problem's consensus quantities at a solution, in engineering units (see ADMM_UNITS)."""
        fn = self.__dict__.get("_admm_fn")
        if fn is None or fn[0] != self.b.version:
            fn = self._admm_fn = (self.b.version, ca.Function("admm_x", [self.b._x(), self.b._p()], [self.x_expr]))
        return np.asarray(fn[1](sol.x_raw, self.b.param_values())).ravel()

    def solutions(self, sol: NlpSolution) -> list[AreaSolution]:
        return [extract(self.b, a, sol) for a in self.areas]

    def weighted_terms(self, sol: NlpSolution) -> float:
        """The optimized objective without ADMM's augmentation."""
        return self.b.weighted_objective(sol, skip=("admm.",))

    def n_floats(self) -> int:
        """Numbers describing the model's data (what a central operator must receive)."""
        return int(sum(len(b.lb) for b in self.b.blocks.values()) * 3 + sum(len(v) for _, v in self.b.params.values()))


def fix_steps(problem: AreaProblem, steps: dict[str, np.ndarray] | None) -> None:
    """Fix capacitor steps (``None`` frees them to their continuous ranges)."""
    for blk in problem.shunt_blocks():
        b = problem.b.blocks[blk]
        if steps is None or blk not in steps:
            b.lb[:] = 0.0
            b.ub[:] = problem.b.__dict__.setdefault("_step_ub", {}).setdefault(blk, b.ub.copy())
        else:
            problem.b.__dict__.setdefault("_step_ub", {}).setdefault(blk, b.ub.copy())
            b.lb[:] = steps[blk]
            b.ub[:] = steps[blk]


def current_steps(problem: AreaProblem, sol: NlpSolution) -> dict[str, np.ndarray]:
    return {blk: sol.x[blk].copy() for blk in problem.shunt_blocks()}


__all__ = ["AreaProblem", "fix_steps", "current_steps", "Any"]
