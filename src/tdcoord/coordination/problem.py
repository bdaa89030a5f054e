"""One model holding some areas of a coupled system and their boundary coupling.

The model is built on the backend the configuration asks for
(:meth:`~tdcoord.problems.rpo.RpoConfig.backend_for`): IPOPT through casadi
for any formulation, or cvxpy (Clarabel, HiGHS, SCIP) where every area's
formulation is convex.

``coupling`` says what happens at each boundary of the areas held:

- ``equal``: both sides are in this problem; the boundary quantities both
  sides have (V, P, Q; P alone on a DC transmission model) are equated;
- ``fixed``: the other side is outside; the boundary quantities it would
  decide are frozen (``fixed_boundary``: feeder -> (vm, p, q), T base p.u.):
  a transmission area keeps the feeder's P and Q, a feeder keeps the
  transmission bus voltage;
- ``admm``: the other side is outside; consensus keys are one voltage per
  transmission bus with feeders (shared by the transmission side and all
  feeders there) and P and Q per feeder (``admm_keys``; P only on a DC
  transmission model); the objective gets
  ``lam . (x - z) + sum_i rho_i/2 (x_i - z_i)^2`` with parameters z, lam,
  rho (one penalty per component), on the boundary values in engineering
  units (:data:`ADMM_UNITS`): voltage in percent, P in MW and Q in Mvar, so
  that one penalty parameter weighs comparable deviations and rho has a
  physical meaning (objective units per MW^2, per Mvar^2, per %^2).
"""

from __future__ import annotations

import numpy as np

from tdcoord.backends import new_builder
from tdcoord.backends.base import Solution
from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.rpo import Area, AreaInputs, RpoConfig, build_feeder, build_transmission, inputs_of
from tdcoord.problems.solutions import AreaSolution, boundary_values, evaluator, extract
from tdcoord.problems.templates import build_feeders_by_template

ADMM_UNITS = ("V %", "MW", "Mvar")
#: from this many feeders in one NLP on, identical feeders share one casadi Function (build_feeders_by_template)
TEMPLATE_MIN_FEEDERS = 8


class AreaProblem:
    def __init__(self, cs: CoupledSystem, cfg: RpoConfig, areas: list[str], coupling: str = "equal",
                 starts: dict[str, dict] | None = None, fixed_boundary: dict[str, np.ndarray] | None = None,
                 name: str = "nlp", inputs: AreaInputs | None = None) -> None:
        self.cs = cs
        self.cfg = cfg
        self.coupling = coupling
        starts = starts or {}
        # ADMM's machinery (joint solves of a worker's subproblems, warm starts, the curvature probe) is built on
        # IPOPT, so its subproblems are NLPs whatever the formulation
        self.backend = "nlp" if coupling == "admm" and cfg.backend == "auto" else cfg.backend_for(areas)
        self.b = new_builder(self.backend, name)
        self.areas: list[Area] = []
        inputs = inputs_of(cs, inputs)
        feeders = [a for a in areas if a != "T"]
        if "T" in areas:
            self.areas.append(build_transmission(self.b, cs, cfg, start=starts.get("T")))
        if self.backend == "nlp" and len(feeders) >= TEMPLATE_MIN_FEEDERS:
            self.areas += build_feeders_by_template(self.b, cs, feeders, cfg, starts, inputs)
        else:
            self.areas += [build_feeder(self.b, cs, a, cfg, start=starts.get(a), inputs=inputs) for a in feeders]
        self.boundary_names: list[str] = []
        if coupling == "equal":
            self._couple_equal()
        elif coupling == "fixed":
            self._couple_fixed(fixed_boundary or {})
        elif coupling == "admm":
            self._couple_admm()
        else:
            raise ValueError(f"unknown coupling {coupling!r}")
        self.vsm: dict | None = None
        if cfg.vsm is not None and cfg.vsm_nodes:
            from tdcoord.problems.vsm import constraint_vsm, set_linearization

            constraint_vsm(self, cfg.vsm_nodes, cfg.vsm)
            if cfg.vsm_lin is not None:
                set_linearization(self, cfg.vsm_lin)
        self.last: Solution | None = None

    # ------------------------------------------------------------ coupling
    def _couple_equal(self) -> None:
        """Both sides' V, P, Q (those both have) equal at every boundary: one vector constraint per quantity."""
        o = self.b.ops
        t = next(a for a in self.areas if a.kind == "transmission")
        for i, quantity in enumerate(("v", "p", "q")):
            pairs = [(t.boundary[f.name][i], f.boundary[f.name][i]) for f in self.areas if f.kind == "feeder"]
            pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
            if pairs:
                self.b.constraint_eq(f"couple.{quantity}", o.vcat([a for a, _ in pairs]) - o.vcat([b for _, b in pairs]))

    def _couple_fixed(self, fixed: dict[str, np.ndarray]) -> None:
        for a in self.areas:
            for fname, (vm, p, q) in a.boundary.items():
                val = fixed[fname]
                if a.kind == "transmission":
                    self.b.constraint_eq(f"fix.{fname}.p", p, val[1])
                    if q is not None:
                        self.b.constraint_eq(f"fix.{fname}.q", q, val[2])
                elif not self.cfg.transmission_reactive:
                    continue  # a DC transmission model: the feeder's root is held at 1 p.u. (build_feeder)
                elif vm is not None:
                    self.b.constraint_eq(f"fix.{fname}", vm, val[0])
                else:  # the conic model holds the root's squared voltage
                    a.form.fix_voltage(a.form.o.root, float(val[0]))

    def _couple_admm(self) -> None:
        # consensus keys: one voltage per transmission bus with feeders (shared by the
        # transmission side and every feeder there), P and Q per feeder
        if self.backend != "nlp":
            raise ValueError("ADMM subproblems are built on the NLP backend")
        import casadi as ca

        cs = self.cs
        base = cs.transmission.sn_mva
        reactive = self.cfg.transmission_reactive
        keys, xs, scales = [], [], []
        for a in self.areas:
            if a.kind == "transmission":
                volts: dict = {}
                for fname, (vm, _, _) in a.boundary.items():
                    if vm is not None:
                        volts.setdefault(("V", cs.boundary.at[fname, "bus"]), vm)
                for key, vm in volts.items():
                    keys.append(key)
                    xs.append(vm)
                    scales.append(100.0)
                for fname, (_, p, q) in a.boundary.items():
                    keys.append(("P", fname))
                    xs.append(p)
                    scales.append(base)
                    if q is not None:
                        keys.append(("Q", fname))
                        xs.append(q)
                        scales.append(base)
            else:
                for fname, (vm, p, q) in a.boundary.items():
                    items = [("V", cs.boundary.at[fname, "bus"], vm, 100.0), ("P", fname, p, base),
                             ("Q", fname, q, base)]
                    for kind, key, e, sc in items:
                        if kind != "P" and not reactive:
                            continue
                        keys.append((kind, key))
                        xs.append(e)
                        scales.append(sc)
            self.boundary_names.extend(a.boundary)
        n = len(keys)
        self.admm_keys = keys
        self.x_scale = np.array(scales)
        self.x_expr = ca.vertcat(*xs) * self.x_scale
        z = self.b.parameter("admm.z", np.zeros(n))
        lam = self.b.parameter("admm.lam", np.zeros(n))
        rho = self.b.parameter("admm.rho", np.ones(n))
        self.b.objective_term("admm.penalty", ca.dot(lam, self.x_expr - z) + ca.dot(rho, (self.x_expr - z) ** 2) / 2)

    # ------------------------------------------------------------- periods
    def update_from(self, cs: CoupledSystem) -> None:
        """Load another period's data (loads, renewable outputs, device ranges) into the built model.

        Only parameters and bounds change, so the next solve reuses the
        model and warm-starts from the last solution. Topology and device
        sets must be those the model was built for: anything else raises
        :class:`~tdcoord.errors.InputError` (build a new problem instead).
        """
        from tdcoord.devices import all_device_sets
        from tdcoord.errors import InputError
        from tdcoord.network.compiled import compile_network
        from tdcoord.problems.rpo import device_free_network, feeder_network

        for a in self.areas:
            net = cs.transmission if a.kind == "transmission" else feeder_network(cs, a.name)
            cn = compile_network(device_free_network(net))
            if cn.n_bus != a.cn.n_bus or cn.n_branch != a.cn.n_branch or not np.allclose(cn.r, a.cn.r) \
                    or not np.allclose(cn.x, a.cn.x):
                raise InputError(f"area {a.name!r}: its network changed structure; build a new problem")
            prefix = a.prefix
            self.b.set_parameter(f"{prefix}.p_load", cn.p_load)
            self.b.set_parameter(f"{prefix}.q_load", cn.q_load)
            new_sets = [ds for ds in all_device_sets(net, cn) if not (a.kind == "feeder" and ds.kind == "ext_grid")]
            if [(d.kind, len(d)) for d in new_sets] != [(d.ds.kind, len(d.ds)) for d in a.devices]:
                raise InputError(f"area {a.name!r}: its devices changed; build a new problem")
            for dv, ds in zip(a.devices, new_sets):
                tag = f"{prefix}.{ds.table}"
                if ds.kind in ("generator", "ext_grid"):
                    free = ds.p_free
                    self.b.set_bounds(f"{tag}_p", np.where(free, ds.p_min, ds.p), np.where(free, ds.p_max, ds.p))
                    if f"{tag}_q" in self.b.blocks:
                        self.b.set_bounds(f"{tag}_q", ds.q_min, ds.q_max)
                elif ds.kind == "inverter":
                    self.b.set_bounds(f"{tag}_p", ds.p, ds.p)
                    if f"{tag}_q" in self.b.blocks:
                        self.b.set_bounds(f"{tag}_q", ds.q_min, ds.q_max)
                elif ds.kind == "svc" and f"{prefix}.svc_q" in self.b.blocks:
                    self.b.set_bounds(f"{prefix}.svc_q", ds.q_min, ds.q_max)
                dv.ds = ds
        self.cs = cs

    # ------------------------------------------------------------- solving
    def shunt_blocks(self) -> list[str]:
        return [k for k in self.b.blocks if k.endswith(".shunt_step")]

    def solve(self, warm: Solution | None = None, solver: str | None = None) -> Solution:
        if self.backend == "nlp":
            return self.keep_warm_start(self.b.solve(warm=warm if warm is not None else self.last,
                                                     solver=solver or "ipopt"))
        return self.keep_warm_start(self.b.solve(solver=solver))

    def diagnose_infeasible(self) -> list[dict]:
        """Which voltage and reactive limits cannot all be met (the model re-solved with penalized slack on them).

        Changes this model (see :mod:`tdcoord.problems.diagnose`); returns the
        broken limits, largest first, or an empty list when even the softened
        model fails (the cause is then elsewhere: loads the network cannot
        carry, active-power limits).
        """
        from tdcoord.problems.diagnose import SoftLimit, largest_slacks, soften_limits

        limits = []
        for a in self.areas:
            names = [f"bus {lab}" for lab in a.bus_labels]
            if f"{a.prefix}.vm" in self.b.blocks:
                limits.append(SoftLimit(f"{a.prefix}.vm", names, "V", 1.0))
            elif f"{a.prefix}.w" in self.b.blocks:
                limits.append(SoftLimit(f"{a.prefix}.w", names, "V", 1.0, squared=True))
            for dv in a.devices:
                ds = dv.ds
                block = f"{a.prefix}.svc_q" if ds.table == "svc" else f"{a.prefix}.{ds.table}_q"
                if block in self.b.blocks and ds.kind in ("generator", "inverter", "svc"):
                    where = "" if a.kind == "transmission" else f"{a.name}:"
                    limits.append(SoftLimit(block, [f"{where}{ds.table} {i}" for i in ds.index], "Q", ds.base_mva))
        softened = soften_limits(self.b, limits)
        sol = self.b.solve() if self.backend == "nlp" else self.b.solve()
        return largest_slacks(sol, softened) if sol.ok else []

    def keep_warm_start(self, sol: Solution) -> Solution:
        """Keep a solution as the next warm start when it is usable (or nothing better is known)."""
        if sol.ok or self.last is None:
            self.last = sol
        return sol

    @staticmethod
    def unit_scale(cs: CoupledSystem) -> np.ndarray:
        """Factors from (V p.u., P p.u., Q p.u.) on the T base to (V %, MW, Mvar)."""
        base = cs.transmission.sn_mva
        return np.array([100.0, base, base])

    def boundary_vector(self, sol: Solution, engineering: bool = False) -> np.ndarray:
        out = []
        for a in self.areas:
            vals = boundary_values(self.b, a, sol)
            for fname in a.boundary:
                out.extend(vals[fname])
        x = np.asarray(out)
        return x * np.tile(self.unit_scale(self.cs), len(x) // 3) if engineering else x

    def admm_vector(self, sol: Solution) -> np.ndarray:
        """This problem's consensus quantities at a solution, in engineering units (see ADMM_UNITS)."""
        import casadi as ca

        fn = self.__dict__.get("_admm_fn")
        if fn is None or fn[0] != self.b.version:
            fn = self._admm_fn = (self.b.version, ca.Function("admm_x", [self.b._x(), self.b._p()], [self.x_expr]))
        return np.asarray(fn[1](sol.x_raw, self.b.param_values())).ravel()

    def solutions(self, sol: Solution) -> list[AreaSolution]:
        vals = evaluator(self.b, self.areas)(self.b, sol)
        return [extract(self.b, a, sol, vals.get(a.name, {})) for a in self.areas]

    def weighted_terms(self, sol: Solution) -> float:
        """The optimized objective without ADMM's augmentation."""
        return self.b.weighted_objective(sol, skip=("admm.",))

    def n_floats(self) -> int:
        """Numbers describing the model's data (what a central operator must receive)."""
        n_par = sum(v[1].size if isinstance(v, tuple) else v.size for v in self.b.params.values())
        return int(sum(b.size for b in self.b.blocks.values()) * 3 + n_par)


def fix_steps(problem: AreaProblem, steps: dict[str, np.ndarray] | None) -> None:
    """Fix capacitor steps (``None`` frees them to their continuous ranges)."""
    store = problem.b.__dict__.setdefault("_step_ub", {})
    for blk in problem.shunt_blocks():
        b = problem.b.blocks[blk]
        store.setdefault(blk, b.ub.copy())
        if steps is None or blk not in steps:
            b.lb[:] = 0.0
            b.ub[:] = store[blk]
        else:
            b.lb[:] = np.asarray(steps[blk], float).reshape(b.lb.shape, order="F")
            b.ub[:] = b.lb


def current_steps(problem: AreaProblem, sol: Solution) -> dict[str, np.ndarray]:
    return {blk: np.asarray(sol.x[blk]).copy() for blk in problem.shunt_blocks()}


__all__ = ["ADMM_UNITS", "AreaProblem", "current_steps", "fix_steps"]
