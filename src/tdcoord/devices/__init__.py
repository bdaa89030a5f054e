"""Devices: one module per kind (generator, inverter, svc, capacitor)."""

from tdcoord.devices import capacitor, generator, inverter, svc

MODULES = {"generator": generator, "ext_grid": generator, "inverter": inverter, "svc": svc, "capacitor": capacitor}


def collect_all(net, cn):
    """Every device set of a network, in a fixed order."""
    out = []
    for mod in (generator, inverter, svc, capacitor):
        out.extend(mod.collect(net, cn))
    return out


__all__ = ["MODULES", "collect_all", "capacitor", "generator", "inverter", "svc"]
