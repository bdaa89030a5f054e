"""The numbers of an area after a solve: terms, boundary values, device set-points, voltages.

:class:`AreaEvaluator` evaluates the expressions of one or several areas
at a solution (one casadi Function over only the symbols they use, or the
cvxpy expressions' values); :func:`extract` turns them into an
:class:`AreaSolution` with the device set-points as tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.problems.rpo import Area


@dataclass
class AreaSolution:
    """Numbers of one area after a solve."""

    name: str
    vm: np.ndarray
    va: np.ndarray | None
    devices: dict[str, pd.DataFrame]  # table -> set-points (index = element index)
    terms: dict[str, float]
    boundary: dict[str, np.ndarray]  # feeder -> [vm, p, q] (T base p.u.)
    raw: dict[str, np.ndarray]
    bus_labels: np.ndarray  # labels of vm (T labels, namespaced feeder labels)


def _area_outputs(area: Area) -> list[tuple[str, str, Any]]:
    """(kind, key, expression) of everything read from an area after a solve."""
    outs: list[tuple[str, str, Any]] = []
    for k, e in area.terms.items():
        outs.append(("term", k, e))
    for n, hs in area.boundary.items():
        for i, h in enumerate(hs):
            if h is not None:
                outs.append(("boundary", f"{n}|{i}", h))
    for k, dv in enumerate(area.devices):
        for key in ("q", "p"):
            e = getattr(dv, key)
            if e is not None:
                outs.append((key, str(k), e))
        for key, e in dv.other.items():
            outs.append((key, str(k), e))
    return outs


class AreaEvaluator:
    """The terms, boundary and set-points of some areas at a solution.

    On the NLP backend, one casadi Function for all the areas asked for,
    whose inputs are only the variable blocks and parameters their
    expressions use (found with ``casadi.symvar``): evaluating one area of
    a model with many costs what that area costs, and evaluating every
    area of a model is one call. On the conic backend, the expressions'
    values at the solution's variable values.
    """

    def __init__(self, b: Any, areas: list[Area]) -> None:
        import casadi as ca

        self.backend = b.backend
        self.outputs = [(area.name, kind, key, e) for area in areas for kind, key, e in _area_outputs(area)]
        self.layout: list[tuple[str, str, str, tuple[int, int]]] = []
        if self.backend != "nlp":
            return
        exprs = []
        for name, kind, key, e in self.outputs:
            m = e if isinstance(e, ca.MX) else ca.MX(np.asarray(e, float)) if np.ndim(e) else ca.MX(float(e))
            exprs.append(ca.vec(m))
            self.layout.append((name, kind, key, m.shape))
        out = ca.vertcat(*exprs) if exprs else ca.MX(0, 1)
        syms = ca.symvar(out)
        blocks = {blk.sym.name(): blk for blk in b.blocks.values() if blk.size}  # an empty block is a constant
        offsets, k = {}, 0
        for _, (sym, val) in b.params.items():
            offsets[sym.name()] = (k, val.size)
            k += val.size
        xs, ps, x_idx, p_idx = [], [], [], []
        for s in syms:
            if s.name() in blocks:
                blk = blocks[s.name()]
                xs.append(s)
                x_idx.append(np.arange(blk.start, blk.start + blk.size))
            else:
                off, n = offsets[s.name()]
                ps.append(s)
                p_idx.append(np.arange(off, off + n))
        self.x_idx = np.concatenate(x_idx) if x_idx else np.zeros(0, int)
        self.p_idx = np.concatenate(p_idx) if p_idx else np.zeros(0, int)
        self.fn = ca.Function("area_eval", [ca.vertcat(*[ca.vec(s) for s in xs]) if xs else ca.MX(0, 1),
                                            ca.vertcat(*[ca.vec(s) for s in ps]) if ps else ca.MX(0, 1)], [out])

    def __call__(self, b: Any, sol: Any) -> dict[str, dict[tuple[str, str], np.ndarray]]:
        out: dict[str, dict[tuple[str, str], np.ndarray]] = {}
        if self.backend != "nlp":
            vals = b.evaluate(sol, [e for *_, e in self.outputs])
            for (name, kind, key, _), v in zip(self.outputs, vals):
                out.setdefault(name, {})[(kind, key)] = v
            return out
        p = b.param_values()
        flat = np.asarray(self.fn(sol.x_raw[self.x_idx], p[self.p_idx])).ravel()
        k = 0
        for name, kind, key, shape in self.layout:
            n = shape[0] * shape[1]
            out.setdefault(name, {})[(kind, key)] = flat[k:k + n].reshape(shape, order="F")
            k += n
        return out


def evaluator(b: Any, areas: list[Area]) -> AreaEvaluator:
    """The evaluator of these areas, built once per model structure."""
    cache = b.__dict__.setdefault("_evaluators", {})
    key = tuple(a.name for a in areas)
    if key not in cache or cache[key][0] != b.version:
        cache[key] = (b.version, AreaEvaluator(b, areas))
    return cache[key][1]


def _boundary_of(area: Area, vals: dict) -> dict[str, np.ndarray]:
    out = {}
    for n, hs in area.boundary.items():
        out[n] = np.array([float(vals[("boundary", f"{n}|{i}")].ravel()[0]) if h is not None else np.nan
                           for i, h in enumerate(hs)])
    return out


def boundary_values(b: Any, area: Area, sol: Any) -> dict[str, np.ndarray]:
    return _boundary_of(area, evaluator(b, [area])(b, sol)[area.name])


def extract(b: Any, area: Area, sol: Any, vals: dict | None = None) -> AreaSolution:
    """The area's voltages, device set-points, terms and boundary at a solution (first period).

    ``vals``: the area's values from an evaluator of several areas (else it is evaluated alone).
    """
    vals = evaluator(b, [area])(b, sol)[area.name] if vals is None else vals
    vm_all, va_all = area.form.bus_values(sol)
    vm = vm_all[:, 0]
    va = va_all[:, 0] if area.kind == "transmission" else None
    devices: dict[str, pd.DataFrame] = {}
    for k, dv in enumerate(area.devices):
        ds = dv.ds
        q = vals[("q", str(k))][:, 0] * ds.base_mva if ("q", str(k)) in vals else np.zeros(len(ds))
        df = pd.DataFrame({"q_mvar": q, "bus": area.cn.labels[ds.bus]}, index=ds.index)
        df["q_max_mvar"] = np.asarray(ds.q_max).reshape(len(ds), -1)[:, 0] * ds.base_mva
        df["q_min_mvar"] = np.asarray(ds.q_min).reshape(len(ds), -1)[:, 0] * ds.base_mva
        df["subtype"] = ds.subtype
        df["response_ms"] = ds.response_ms
        if ds.kind in ("generator", "ext_grid", "storage"):
            df["p_mw"] = vals[("p", str(k))][:, 0] * ds.base_mva
            # a formulation without voltage magnitudes (dc) leaves the machines at their set-points
            df["vm_pu"] = vm[ds.bus] if area.form.family == "ac" else ds.extra.get("vm_set", vm[ds.bus])
        if ds.kind == "capacitor":
            if ("step", str(k)) in vals:
                step = vals[("step", str(k))][:, 0]
            else:  # relaxed on the conic backend: step = (step w) / w
                step = vals[("sw", str(k))][:, 0] / np.maximum(vm[ds.bus] ** 2, 1e-12)
            df["step"] = step
            df["max_step"] = ds.extra["max_step"]
            df["bs_mvar"] = ds.extra["bs"] * ds.base_mva
            df["q_max_mvar"] = ds.extra["bs"] * ds.base_mva * ds.extra["max_step"] * vm[ds.bus] ** 2
        devices[ds.table] = df
    terms = {}
    for k in area.terms:
        v = vals[("term", k)]
        terms[k] = float(np.asarray(v).ravel()[0]) if np.size(v) else 0.0
    boundary = _boundary_of(area, vals)
    prefix = area.prefix
    return AreaSolution(area.name, vm, va, devices, terms, boundary, own_blocks(sol, prefix), area.bus_labels)


def own_blocks(sol: Any, prefix: str) -> dict[str, np.ndarray]:
    """The variable blocks of a solution named ``<prefix>.*`` (a sorted list of the names is kept with the
    solution: a thousand areas each scanning ten thousand names took a second)."""
    import bisect

    names = sol.__dict__.get("_sorted_names")
    if names is None or len(names) != len(sol.x):
        names = sol.__dict__["_sorted_names"] = sorted(sol.x)
        sol.__dict__["_name_rank"] = {k: i for i, k in enumerate(sol.x)}
    head, rank = prefix + ".", sol.__dict__["_name_rank"]
    found = []
    for k in names[bisect.bisect_left(names, head):]:
        if not k.startswith(head):
            break
        found.append(k)
    return {k: sol.x[k] for k in sorted(found, key=rank.__getitem__)}  # in the order they were declared


def soc_gap_of(area: Area, sol: Any) -> dict:
    """Exactness gap of an SOC-relaxed feeder area at a solution ({} for other areas)."""
    from tdcoord.formulations.branch_flow import soc_gap

    if area.kind != "feeder" or area.form.name != "soc_bf":
        return {}
    x, p = sol.x, area.prefix
    return soc_gap(area.form.o, x[f"{p}.w"], x[f"{p}.p"], x[f"{p}.q"], x[f"{p}.l"])


__all__ = ["AreaEvaluator", "AreaSolution", "boundary_values", "evaluator", "extract", "soc_gap_of"]
