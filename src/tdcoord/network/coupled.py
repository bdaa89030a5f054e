"""A transmission network with distribution feeders hung on its buses.

Each feeder is a radial :class:`Network` attached at one transmission bus
through a boundary transformer (HV side on the transmission bus, LV side on
the feeder's root bus). The feeder's own slack (``ext_grid``) is replaced by
the boundary. Feeder buses are namespaced by the feeder's name:
``ieee33@6:18`` is bus 18 of the feeder attached at transmission bus 6, so
several copies of one feeder can coexist (``ieee33@6#2:18`` for a second copy
at the same bus).

Boundary transformer defaults (when not given): rating = the smallest
standard rating (IEC R10 series) at least 1.5 times the feeder's apparent
load; short-circuit voltage ``vk`` 6 % and resistive part ``vkr`` 0.5 % on
that rating (X/R about 12, typical of HV/MV substation transformers of 5-40
MVA); nominal ratio (tap 1.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tdcoord.errors import RadialityError, SchemaError, TopologyError, UnknownBusError
from tdcoord.network.network import Network
from tdcoord.network.schema import BUS_REF_FIELDS, TABLES
from tdcoord.network.validate import check_islands, check_radial, check_references, check_values, slack_buses

BOUNDARY_VK_PERCENT = 6.0
BOUNDARY_VKR_PERCENT = 0.5
BOUNDARY_SIZING = 1.5
STANDARD_RATINGS_MVA = (0.1, 0.16, 0.25, 0.4, 0.63, 1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 16.0, 25.0, 40.0, 63.0, 100.0, 160.0, 250.0, 400.0, 630.0, 1000.0)

BOUNDARY_COLUMNS = {
    "bus": "transmission bus label (HV side)",
    "root": "feeder root bus label (LV side)",
    "sn_mva": "boundary transformer rating, MVA (base of r_pu, x_pu)",
    "r_pu": "series resistance, p.u. on sn_mva",
    "x_pu": "series reactance, p.u. on sn_mva",
    "tap_pu": "off-nominal ratio at the HV side, p.u.",
    "in_service": "boundary closed",
}


def standard_rating(s_mva: float) -> float:
    for r in STANDARD_RATINGS_MVA:
        if r >= s_mva - 1e-12:
            return r
    return float(math.ceil(s_mva / 1000.0) * 1000.0)


def feeder_label(feeder: str, bus: str) -> str:
    return f"{feeder}:{bus}"


@dataclass
class MergedSystem:
    """One network holding the transmission grid, every feeder and boundary."""

    network: Network
    element_map: dict[str, dict[str, pd.Series]]  # owner -> table -> merged index by original index
    boundary_trafo: pd.Series  # merged trafo index by feeder name
    tie_line: pd.Series  # merged line index by tie index
    owners: list[str] = field(default_factory=list)

    def owners_of(self, table: str, merged_idx: Any) -> tuple[np.ndarray, np.ndarray]:
        """Who holds merged ``table`` rows ``merged_idx`` ("T" or a feeder) and their index there; "" and the
        merged index for rows no network holds (boundary transformers, tie lines)."""
        merged_idx = np.asarray(merged_idx)
        owner = np.full(len(merged_idx), "", dtype=object)
        original = merged_idx.astype(object)
        pos = pd.Index(merged_idx)
        for name, tabs in self.element_map.items():
            m = tabs.get(table)
            if m is not None and len(m):
                at = pos.get_indexer(m.to_numpy())
                hit = at >= 0
                owner[at[hit]] = name
                original[at[hit]] = m.index.to_numpy(dtype=object)[hit]
        return owner, original


class CoupledSystem:
    """One transmission network and the feeders attached to its buses."""

    def __init__(self, transmission: Network, name: str | None = None) -> None:
        self.transmission = transmission
        self.name = name or transmission.name
        self.feeders: dict[str, Network] = {}
        self._boundary = pd.DataFrame(
            {
                "bus": pd.Series(dtype=object),
                "root": pd.Series(dtype=object),
                "sn_mva": pd.Series(dtype=float),
                "r_pu": pd.Series(dtype=float),
                "x_pu": pd.Series(dtype=float),
                "tap_pu": pd.Series(dtype=float),
                "in_service": pd.Series(dtype=bool),
            }
        )
        self._boundary.index.name = "feeder"
        self._pending: dict[str, dict[str, Any]] = {}  # boundary rows attached since the table was last read
        self.tie = Network(name="ties").line  # same schema as lines; labels are namespaced
        self.notes: list[str] = []

    @property
    def boundary(self) -> pd.DataFrame:
        """The boundary transformers, one row per feeder (index: feeder name): ``bus`` (transmission bus),
        ``root`` (feeder bus), ``sn_mva``, ``r_pu``, ``x_pu`` (on ``sn_mva``), ``tap_pu``, ``in_service``."""
        if self._pending:  # rows attached one by one are added in one go (appending a row copies the table)
            rows = pd.DataFrame.from_dict(self._pending, orient="index").astype(self._boundary.dtypes.to_dict())
            self._pending = {}
            rows.index.name = "feeder"
            self._boundary = pd.concat([self._boundary, rows]) if len(self._boundary) else rows
        return self._boundary

    @boundary.setter
    def boundary(self, value: pd.DataFrame) -> None:
        self._pending = {}
        self._boundary = value

    # -------------------------------------------------------------- building
    def attach(
        self,
        feeder: Network,
        bus: Any,
        *,
        name: str | None = None,
        root: Any = None,
        sn_mva: float | None = None,
        vk_percent: float | None = None,
        vkr_percent: float | None = None,
        tap_pu: float = 1.0,
    ) -> str:
        """Hang ``feeder`` on transmission bus ``bus``; returns the feeder's name.

        The root defaults to the feeder's ext_grid bus. Boundary transformer
        parameters default as described in the module docstring.
        """
        bus = str(bus)
        base = name or f"{feeder.name}@{bus}"
        if ":" in base:
            raise SchemaError(f"feeder name {base!r}: ':' is reserved for namespaced bus labels")
        fname, k = base, 2
        while fname in self.feeders:
            fname, k = f"{base}#{k}", k + 1
        if bus not in self.transmission.bus.index:
            raise UnknownBusError(
                f"feeder {fname!r}: transmission bus {bus!r} does not exist in {self.transmission.name!r}"
            )
        if root is None:
            roots = slack_buses(feeder)
            if len(roots) != 1:
                raise TopologyError(
                    f"feeder {fname!r}: cannot tell its root bus ({len(roots)} slack sources); pass root="
                )
            root = roots[0]
        root = str(root)
        if root not in feeder.bus.index:
            raise UnknownBusError(f"feeder {fname!r}: root bus {root!r} does not exist in {feeder.name!r}")
        if sn_mva is None:
            s_load = math.hypot(feeder.load.p_mw[feeder.load.in_service].sum(), feeder.load.q_mvar[feeder.load.in_service].sum())
            sn_mva = standard_rating(max(BOUNDARY_SIZING * s_load, STANDARD_RATINGS_MVA[0]))
        vk = BOUNDARY_VK_PERCENT if vk_percent is None else vk_percent
        vkr = BOUNDARY_VKR_PERCENT if vkr_percent is None else vkr_percent
        if not (sn_mva > 0 and vk > 0 and 0 <= vkr < vk and tap_pu > 0):
            raise SchemaError(
                f"feeder {fname!r}: boundary transformer needs sn_mva > 0, 0 <= vkr_percent < vk_percent, tap_pu > 0 "
                f"(got sn_mva={sn_mva}, vk_percent={vk}, vkr_percent={vkr}, tap_pu={tap_pu})"
            )
        self.feeders[fname] = feeder
        self._pending[fname] = {
            "bus": bus,
            "root": root,
            "sn_mva": float(sn_mva),
            "r_pu": vkr / 100.0,
            "x_pu": math.sqrt(vk**2 - vkr**2) / 100.0,
            "tap_pu": float(tap_pu),
            "in_service": True,
        }
        return fname

    def add_tie(self, from_bus: str, to_bus: str, r_ohm: float, x_ohm: float, **fields: Any) -> int:
        """A line between buses of two feeders (namespaced labels), open by default."""
        fields.setdefault("in_service", False)
        holder = Network(name="ties")
        holder.line = self.tie
        idx = holder.add_line(from_bus, to_bus, r_ohm, x_ohm, **fields)
        self.tie = holder.line
        return idx

    # ------------------------------------------------------------- questions
    def all_labels(self) -> set[str]:
        labels = set(self.transmission.bus.index)
        for fname, f in self.feeders.items():
            labels.update(feeder_label(fname, b) for b in f.bus.index)
        return labels

    def bus_vn_kv(self, label: str) -> float:
        if ":" in label:
            fname, b = label.split(":", 1)
            return float(self.feeders[fname].bus.at[b, "vn_kv"])
        return float(self.transmission.bus.at[label, "vn_kv"])

    def closed_ties(self) -> pd.DataFrame:
        return self.tie[self.tie.in_service]

    def validate(self) -> MergedSystem:
        """Check everything; returns the merged system (reuse it to avoid merging twice).

        The checks run once over the merged tables; when one fails, it is run
        again on the offending part so that the message names the feeder and
        its own element (``feeder 'ieee33@6': line 12 ...``).
        """
        from tdcoord.errors import TdcoordError
        from tdcoord.network.validate import validate

        validate(self.transmission, radial=False)
        labels = self.all_labels()
        for idx, row in self.tie.iterrows():
            for fld in ("from_bus", "to_bus"):
                if row[fld] not in labels:
                    raise UnknownBusError(f"tie line {idx}: field '{fld}' refers to bus {row[fld]!r}, which does not exist")
        ms = self.merge()
        try:
            check_references(ms.network)
            check_values(ms.network)
        except TdcoordError:
            for fname, f in self.feeders.items():
                try:
                    check_references(f)
                    check_values(f)
                except TdcoordError as exc:
                    raise type(exc)(f"feeder {fname!r}: {exc}") from exc
            raise
        self._check_feeders_radial(ms)
        check_islands(ms.network)
        return ms

    def _check_feeders_radial(self, ms: MergedSystem) -> None:
        net = ms.network
        pos = {b: i for i, b in enumerate(net.bus.index)}
        owner_of_bus = np.array([b.split(":", 1)[0] if ":" in b else "" for b in net.bus.index], dtype=object)
        f_all, t_all, ids = [], [], []
        for tab in ("line", "trafo"):
            df = getattr(net, tab)
            live = df.in_service.to_numpy(bool)
            fb = np.fromiter((pos[b] for b in df.from_bus), dtype=int, count=len(df))
            tb = np.fromiter((pos[b] for b in df.to_bus), dtype=int, count=len(df))
            same = (owner_of_bus[fb] == owner_of_bus[tb]) & (owner_of_bus[fb] != "")
            keep = live & same
            f_all.append(fb[keep])
            t_all.append(tb[keep])
            ids.extend((tab, i) for i in df.index[keep])
        f_all, t_all = np.concatenate(f_all), np.concatenate(t_all)
        from tdcoord.network.topology import first_loop_branch

        k = first_loop_branch(len(net.bus), f_all, t_all)
        if k is None:
            return
        tab, merged_idx = ids[k]
        owner = owner_of_bus[f_all[k]]
        if self.feeders[owner].kind != "distribution":
            return
        own = ms.element_map[owner][tab]
        orig = own.index[own.to_numpy() == merged_idx][0]
        check_radial(self.feeders[owner])  # raises with the feeder's own names
        raise RadialityError(f"feeder {owner!r}: {tab} {orig} closes a loop; a feeder must be a tree")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transmission": self.transmission.summary(),
            "feeders": {k: {"bus": self.boundary.at[k, "bus"], **v.summary()} for k, v in self.feeders.items()},
            "ties": len(self.tie),
        }

    def __repr__(self) -> str:
        return f"CoupledSystem({self.name!r}, {self.transmission!r}, {len(self.feeders)} feeder(s), {len(self.tie)} tie(s))"

    def copy(self) -> "CoupledSystem":
        new = CoupledSystem(self.transmission.copy(), name=self.name)
        new.feeders = {k: v.copy() for k, v in self.feeders.items()}
        new.boundary = self.boundary.copy()
        new.tie = self.tie.copy()
        new.notes = list(self.notes)
        return new

    @property
    def n_periods(self) -> int:
        """Periods of the time series attached to its networks (0: none)."""
        return max([self.transmission.n_periods] + [f.n_periods for f in self.feeders.values()])

    def at_period(self, t: int) -> "CoupledSystem":
        """A copy with period ``t`` of every network's time series written into its tables."""
        new = self.copy()
        new.transmission = self.transmission.at_period(t) if self.transmission.timeseries else new.transmission
        new.feeders = {k: (v.at_period(t) if v.timeseries else new.feeders[k]) for k, v in self.feeders.items()}
        return new

    # ---------------------------------------------------------------- merging
    def merge(self) -> MergedSystem:
        """One Network of everything, on the transmission's base (for Newton)."""
        t = self.transmission
        out = Network(name=self.name, sn_mva=t.sn_mva, f_hz=t.f_hz, kind="transmission", source="merged")
        parts: list[tuple[str, Network]] = [("T", t)] + list(self.feeders.items())
        element_map: dict[str, dict[str, pd.Series]] = {o: {} for o, _ in parts}
        for tab in TABLES:
            # one concat per table, then the feeders' bus labels namespaced in one pass (a thousand feeders:
            # a per-feeder copy and relabel took a second per merge)
            owned = [(o, getattr(net, tab)) for o, net in parts if not (o != "T" and tab == "ext_grid")]
            owned = [(o, df) for o, df in owned if len(df)]
            if not owned:
                continue
            big = pd.concat([df for _, df in owned]) if len(owned) > 1 else owned[0][1].copy()
            owner = np.repeat(np.array([o for o, _ in owned], dtype=object), [len(df) for _, df in owned])
            fed = owner != "T"
            if fed.any():
                for fld in BUS_REF_FIELDS[tab]:
                    col = big[fld].to_numpy(dtype=object).copy()
                    col[fed] = [feeder_label(o, b) for o, b in zip(owner[fed], col[fed])]
                    big[fld] = col
            if tab == "bus":
                labels = big.index.to_numpy(dtype=object).copy()
                labels[fed] = [feeder_label(o, b) for o, b in zip(owner[fed], labels[fed])]
                big.index = pd.Index(labels, dtype=object, name="bus")
            else:
                start = 0
                for o, df in owned:
                    element_map[o][tab] = pd.Series(np.arange(start, start + len(df)), index=df.index)
                    start += len(df)
                big = big.reset_index(drop=True)
                big.index.name = tab
            out.set_table(tab, big)
        b = self.boundary
        bt = pd.Series(dtype=int)
        if len(b):
            new = out.add(
                "trafo",
                {
                    "from_bus": list(b.bus),
                    "to_bus": [feeder_label(f, r) for f, r in zip(b.index, b.root)],
                    "sn_mva": b.sn_mva.to_numpy(float),
                    "r_pu": b.r_pu.to_numpy(float),
                    "x_pu": b.x_pu.to_numpy(float),
                    "tap_pu": b.tap_pu.to_numpy(float),
                    "in_service": b.in_service.to_numpy(bool),
                    "name": [f"boundary {f}" for f in b.index],
                },
            )
            bt = pd.Series(np.asarray(new), index=b.index)
        tl = pd.Series(dtype=int)
        if len(self.tie):
            new = out.add("line", self.tie.reset_index(drop=True))
            tl = pd.Series(np.asarray(new), index=self.tie.index)
        if out.bus.index.has_duplicates:
            dup = out.bus.index[out.bus.index.duplicated()][0]
            raise SchemaError(f"bus label {dup!r} occurs twice in the coupled system")
        return MergedSystem(network=out, element_map=element_map, boundary_trafo=bt, tie_line=tl, owners=[o for o, _ in parts])
