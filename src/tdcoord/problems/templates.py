"""Many identical feeders in one NLP: one casadi Function per distinct feeder structure.

Each feeder is written on a small template builder (SX, canonical symbol
names); feeders whose templates are byte-identical share one Function, and
the model calls it once per feeder
(:meth:`~tdcoord.backends.casadi_nlp.NlpBuilder.instantiate`).
"""

from __future__ import annotations

from typing import Any

from tdcoord.network.coupled import CoupledSystem
from tdcoord.problems.rpo import Area, AreaInputs, RpoConfig, build_feeder, ensure_weight_params, inputs_of


def _slots(area: Area) -> list[tuple[tuple, Any]]:
    """Every casadi expression an area hands on after it is built, with where it goes."""
    import casadi as ca

    slots: list[tuple[tuple, Any]] = [(("term", k), e) for k, e in area.terms.items()]
    for n, hs in area.boundary.items():
        slots += [(("boundary", n, i), h) for i, h in enumerate(hs)]
    for k, dv in enumerate(area.devices):
        slots += [(("device", k, a), getattr(dv, a)) for a in ("p", "q", "p_bus", "q_bus")]
        slots += [(("other", k, key), e) for key, e in dv.other.items()]
    slots.append((("vm",), area.form.vm()))
    return [(where, e) for where, e in slots if isinstance(e, (ca.MX, ca.SX))]


def build_feeders_by_template(b: Any, cs: CoupledSystem, names: list[str], cfg: RpoConfig, starts: dict,
                              inputs: AreaInputs | None = None) -> list[Area]:
    """Feeder areas copied into ``b`` through one casadi Function per distinct feeder structure.

    Each feeder is built on its own small builder with canonical symbol
    names; feeders whose builders give byte-identical Functions (same
    network, devices and settings; loads, bounds and starts may differ: they
    are parameters and bounds) share one, and the model calls it once per
    feeder (:meth:`~tdcoord.backends.casadi_nlp.NlpBuilder.instantiate`).
    The model is the same as building every feeder directly; casadi forms
    each shared Function's derivatives once (``benchmarks/README.md``
    gives the construction times with and without sharing).
    """
    from tdcoord.backends.casadi_nlp import NlpBuilder

    inputs = inputs_of(cs, inputs)
    shared: dict[bytes, Any] = {}
    out = []
    ensure_weight_params(b, cfg)
    for fname in names:
        sub = NlpBuilder(fname, canonical=True)
        area = build_feeder(sub, cs, fname, cfg, start=starts.get(fname), inputs=inputs)
        slots = _slots(area)
        fn = sub.template([e for _, e in slots])
        key = fn.serialize()
        fn = shared.setdefault(key, fn)
        values = b.instantiate(sub, fn)
        for (where, _), e in zip(slots, values):
            if where[0] == "term":
                area.terms[where[1]] = e
            elif where[0] == "boundary":
                hs = list(area.boundary[where[1]])
                hs[where[2]] = e
                area.boundary[where[1]] = tuple(hs)
            elif where[0] == "device":
                setattr(area.devices[where[1]], where[2], e)
            elif where[0] == "other":
                area.devices[where[1]].other[where[2]] = e
            else:
                area.vm_expr = e
        area.form.b = b  # later bound changes (a fixed root voltage) go to the model
        out.append(area)
    b.__dict__["templates"] = len(shared)
    return out


__all__ = ["build_feeders_by_template"]
