"""Voltage sensitivities estimated from noisy measurements by recursive least squares (limited observability).

A DSO that cannot compute sensitivities from a network model estimates
them from what it measures: the voltages at the observed buses (by default
the inverters' own) and the exchange at the PCC, as the inverters' P and Q
move. :func:`estimate_sensitivities` excites the inverters around the
operating point with seeded random steps (a fraction ``step`` of each
rating, P only downwards from the available power), measures each point by
the exact AC power flow plus seeded Gaussian noise, and fits

    V_k - V_{k-1} = S [P_k - P_{k-1}; Q_k - Q_{k-1}]

by RLS with forgetting (:class:`tdcoord.uncertainty.rls.Rls`). The error
against the model-based sensitivities (:func:`tdcoord.pf.sensitivity`) is
recorded after every step. :func:`estimated_linearization` swaps the
estimate into a linearization: only the observed buses are constrained,
as a DSO with those measurements would do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tdcoord.errors import InputError
from tdcoord.devices.local_control import InverterInjections
from tdcoord.network.compiled import REF
from tdcoord.pf.ac import solve_compiled
from tdcoord.problems.inverter_dispatch import Linearization
from tdcoord.uncertainty.rls import Rls


@dataclass
class RlsEstimate:
    observed: np.ndarray  # bus positions
    theta: np.ndarray  # (n_obs + 1, 2 n): rows observed buses then PCC Q; columns dP then dQ (p.u./MW, Mvar/MW)
    truth: np.ndarray
    error: np.ndarray  # relative Frobenius error after every step
    steps: int
    noise_pu: float
    noise_mvar: float
    forgetting: float
    seed: int

    @property
    def final_error(self) -> float:
        return float(self.error[-1])


def _truth(lin: Linearization, obs: np.ndarray) -> np.ndarray:
    v = np.hstack([lin.dv_dp[0][obs], lin.dv_dq[0][obs]])
    q = np.hstack([lin.dqpcc_dp[0], lin.dqpcc_dq[0]])[None, :]
    return np.vstack([v, q])


def observed_buses(lin: Linearization, labels: list[str] | None = None) -> np.ndarray:
    """Positions of the inverters' buses (always measured: the method needs them) and of ``labels``."""
    if labels is None:
        return np.unique(lin.inv_bus)
    pos = {b: k for k, b in enumerate(lin.labels)}
    bad = [b for b in labels if b not in pos]
    if bad:
        raise InputError(f"observed buses {bad} are not buses of {lin.net.name!r}")
    return np.unique(np.r_[lin.inv_bus, [pos[b] for b in labels]]).astype(int)


def estimate_sensitivities(lin: Linearization, *, observed: list[str] | None = None, steps: int = 300,
                           step: float = 0.05, noise_pu: float = 2e-4, noise_mvar: float = 2e-3,
                           forgetting: float = 0.99, seed: int = 0) -> RlsEstimate:
    """Estimate the observed buses' and the PCC's sensitivities of ``lin`` (period 0) by RLS from ``steps``
    seeded random moves of the inverters, measured with seeded noise (``noise_pu`` on voltages, ``noise_mvar``
    on the PCC's reactive power)."""
    if steps < 2:
        raise InputError(f"RLS steps {steps}: expected 2 or more")
    if not 0 < step <= 0.5:
        raise InputError(f"RLS excitation {step}: expected a fraction of the rating in (0, 0.5]")
    net = lin.net.at_period(0) if lin.net.n_periods else lin.net
    obs = observed_buses(lin, observed)
    inv = net.sgen.loc[lin.index]
    sn = inv.sn_mva.to_numpy(float)
    n = len(sn)
    inj = InverterInjections(net, lin.index)
    cn, base = inj.cn, inj.cn.base_mva
    p0, q0 = lin.p0[:, 0], lin.q0[:, 0]
    rng = np.random.default_rng(seed)
    truth = _truth(lin, obs)
    rls = Rls(len(obs) + 1, 2 * n, forgetting=forgetting)
    ref = np.flatnonzero(cn.bus_type == REF)
    v_prev = None
    u_prev = None
    err = []
    v = None
    for _ in range(steps + 1):
        p = p0 - rng.uniform(0.0, step, n) * sn
        p = np.maximum(p, 0.0)
        q = q0 + rng.uniform(-step, step, n) * sn
        inj.set(p, q)
        out, _ = solve_compiled(cn, v)
        v = out.v
        s_slack = (v * np.conj(cn.ybus()[0] @ v))
        meas = np.r_[np.abs(v[obs]) + rng.normal(0.0, noise_pu, len(obs)),
                     s_slack[ref].imag.sum() * base + rng.normal(0.0, noise_mvar)]
        u = np.r_[p, q]
        if v_prev is not None:
            rls.update(u - u_prev, meas - v_prev)
            err.append(float(np.linalg.norm(rls.theta - truth) / np.linalg.norm(truth)))
        v_prev, u_prev = meas, u
    return RlsEstimate(observed=obs, theta=rls.theta.copy(), truth=truth, error=np.array(err), steps=steps,
                       noise_pu=noise_pu, noise_mvar=noise_mvar, forgetting=forgetting, seed=seed)


def estimated_linearization(lin: Linearization, est: RlsEstimate | None, observed: np.ndarray) -> Linearization:
    """``lin`` as a DSO that measures only ``observed`` sees it: only those buses are constrained, and with
    ``est`` their sensitivities (and the PCC's) are the estimate's instead of the model's."""
    out = replace(lin, monitored=np.asarray(observed, int))
    if est is None:
        return out
    n = len(lin.index)
    dv_dp, dv_dq = lin.dv_dp.copy(), lin.dv_dq.copy()
    dv_dp[:, est.observed, :] = est.theta[:-1, :n][None]
    dv_dq[:, est.observed, :] = est.theta[:-1, n:][None]
    return replace(out, dv_dp=dv_dp, dv_dq=dv_dq, dqpcc_dp=np.repeat(est.theta[-1:, :n], lin.periods, 0),
                   dqpcc_dq=np.repeat(est.theta[-1:, n:], lin.periods, 0))


__all__ = ["RlsEstimate", "estimate_sensitivities", "estimated_linearization", "observed_buses"]
