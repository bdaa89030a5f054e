"""Devices: one module per kind (generator, inverter, svc, capacitor, storage).

Every module has ``device_sets(net, cn, periods)`` and one ``build_<kind>``
that says what the kind contributes to a model on a given formulation
(variables, constraints, objective terms; see :mod:`tdcoord.devices.base`).
:func:`build_devices` builds every device of a network in a fixed order.
"""

from __future__ import annotations

from typing import Any

from tdcoord.devices import capacitor, generator, inverter, storage, svc
from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars

#: module of each device kind, in build order
MODULES = {"generator": generator, "inverter": inverter, "svc": svc, "capacitor": capacitor, "storage": storage}
BUILDERS = {"generator": generator.build_generator, "ext_grid": generator.build_generator,
            "inverter": inverter.build_inverter, "svc": svc.build_svc, "capacitor": capacitor.build_capacitor,
            "storage": storage.build_storage}


def all_device_sets(net: Any, cn: Any, periods: int | None = None) -> list[DeviceSet]:
    """Every device set of a network, in a fixed order."""
    out: list[DeviceSet] = []
    for mod in MODULES.values():
        out.extend(mod.device_sets(net, cn, periods))
    return out


def build_devices(b: Any, form: Any, net: Any, cn: Any, prefix: str, opts: DeviceOptions | None = None, *,
                  skip_ext_grid: bool = False, sets: list[DeviceSet] | None = None) -> list[DeviceVars]:
    """Variables, constraints and cost terms of every device of ``net`` on formulation ``form``."""
    opts = opts or DeviceOptions()
    sets = all_device_sets(net, cn, form.periods) if sets is None else sets
    return [BUILDERS[ds.kind](b, form, ds, prefix, opts) for ds in sets
            if not (skip_ext_grid and ds.kind == "ext_grid")]


__all__ = ["BUILDERS", "DeviceOptions", "DeviceSet", "DeviceVars", "MODULES", "all_device_sets", "build_devices",
           "capacitor", "generator", "inverter", "storage", "svc"]
