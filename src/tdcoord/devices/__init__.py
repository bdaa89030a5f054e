"""Devices: one module per kind (generator, inverter, svc, capacitor, storage, oltc, upfc, hvdc).

Every module has ``device_sets(net, cn, periods)`` and one ``build_<kind>``
that says what the kind contributes to a model on a given formulation
(variables, constraints, objective terms; see :mod:`tdcoord.devices.base`).
:func:`build_devices` builds every device of a network in a fixed order.
"""

from __future__ import annotations

from typing import Any, Callable

from tdcoord.devices import capacitor, generator, hvdc, inverter, oltc, storage, svc, upfc
from tdcoord.devices.base import DeviceOptions, DeviceSet, DeviceVars

#: how each device kind's rows are read, in build order (name -> device_sets(net, cn, periods))
MODULES: dict[str, Callable[..., list[DeviceSet]]] = {
    "generator": generator.device_sets, "inverter": inverter.device_sets, "svc": svc.device_sets,
    "capacitor": capacitor.device_sets, "storage": storage.device_sets, "oltc": oltc.device_sets,
    "upfc": upfc.device_sets, "hvdc": hvdc.device_sets}
#: what each DeviceSet kind contributes to a model (kind -> build(b, form, ds, prefix, opts))
BUILDERS: dict[str, Callable[..., DeviceVars]] = {
    "generator": generator.build_generator, "ext_grid": generator.build_generator,
    "inverter": inverter.build_inverter, "svc": svc.build_svc, "capacitor": capacitor.build_capacitor,
    "storage": storage.build_storage, "oltc": oltc.build_oltc, "upfc": upfc.build_upfc, "hvdc": hvdc.build_hvdc}


def register_device(kind: str, device_sets: Callable[..., list[DeviceSet]], build: Callable[..., DeviceVars]) -> None:
    """Add a device kind: ``device_sets(net, cn, periods)`` returns its DeviceSets (``kind`` = this name), and
    ``build(b, form, ds, prefix, opts)`` what it contributes to a model (see docs/model-layer.md)."""
    MODULES[kind] = device_sets
    BUILDERS[kind] = build


def unregister_device(kind: str) -> None:
    """Remove a device kind added by :func:`register_device` (the built-in kinds stay)."""
    if kind in ("generator", "ext_grid", "inverter", "svc", "capacitor", "storage", "oltc", "upfc", "hvdc"):
        raise ValueError(f"{kind!r} is a built-in device kind")
    MODULES.pop(kind, None)
    BUILDERS.pop(kind, None)


def all_device_sets(net: Any, cn: Any, periods: int | None = None) -> list[DeviceSet]:
    """Every device set of a network, in a fixed order."""
    out: list[DeviceSet] = []
    for read in MODULES.values():
        out.extend(read(net, cn, periods))
    return out


def build_devices(b: Any, form: Any, net: Any, cn: Any, prefix: str, opts: DeviceOptions | None = None, *,
                  skip_ext_grid: bool = False, sets: list[DeviceSet] | None = None) -> list[DeviceVars]:
    """Variables, constraints and cost terms of every device of ``net`` on formulation ``form``."""
    opts = opts or DeviceOptions()
    sets = all_device_sets(net, cn, form.periods) if sets is None else sets
    return [BUILDERS[ds.kind](b, form, ds, prefix, opts) for ds in sets
            if not (skip_ext_grid and ds.kind == "ext_grid")]


__all__ = ["BUILDERS", "DeviceOptions", "DeviceSet", "DeviceVars", "MODULES", "all_device_sets", "build_devices",
           "register_device", "unregister_device",
           "capacitor", "generator", "hvdc", "inverter", "oltc", "storage", "svc", "upfc"]
