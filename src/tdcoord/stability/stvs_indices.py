"""Short-term voltage stability indices of a simulated fault (seed 001, section 2.1).

Both are computed from saved bus-voltage trajectories ``v[time, node]``
(p.u.) of the critical (key) nodes, with the fault cleared at ``t_clear``.

**VDSI**, the voltage deviation severity index, exactly as the paper writes
it::

    VDSI = sum_i sum_t D_it / (N_C (T - T_C)),
    D_it = |U_it - U_0| / U_0  if |U_it - U_0| / U_0 >= eps, else 0,

with U_0 = 1 p.u. and eps = 20 %. The sum over t runs over the time after
clearing, t in (T_C, T]. A simulator's steps are not uniform, so the
trajectories are first sampled on a uniform grid of step ``dt`` (linear
interpolation) and ``T - T_C`` is counted in steps of that grid: VDSI is the
time average over (T_C, T] of the mean deviation beyond the threshold, which
is what the formula means for a uniform step (its discrete sum divided by
the number of steps). 0 means no key node left the +-20 % band after
clearing.

**TVCI**, the transient voltage collapse index, is the paper's flag
``k_TVCI = 1`` (short-term voltage stable) or ``0`` (unstable). The paper
defines it by reference only, so the criterion is written down here. A
simulation is unstable when, after clearing:

- the simulation did not run to the end (the solver failed: a collapse), or
- some key node is still below ``1 - eps`` (0.8 p.u.) at
  ``t_clear + recovery_s`` or later (no recovery: a sustained low voltage
  or a delayed recovery; ``recovery_s`` = 1 s, as grid codes ask of a
  voltage after a cleared fault), or
- where rotor angles are given, two machines drift more than
  ``angle_limit_deg`` (180 degrees) apart (the angle instability the paper
  sees come with a collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdcoord.errors import InputError

EPS = 0.2  # voltage deviation threshold (20 %)
U0 = 1.0  # rated voltage, p.u.
RECOVERY_S = 1.0  # a key node must be back above 1 - EPS this long after clearing
ANGLE_LIMIT_DEG = 180.0
DT = 0.01  # uniform grid step of the indices, s


@dataclass
class StvsIndices:
    """Both indices of one simulation and what decided the flag."""

    tvci: int  # 1 stable, 0 unstable
    vdsi: float
    reason: str  # why it is unstable ("" when stable)


def uniform(t: np.ndarray, v: np.ndarray, t0: float, t1: float, dt: float = DT) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories ``v[time, node]`` sampled on the grid ``t0 + dt, t0 + 2 dt, ..., <= t1`` (linear interpolation;
    a time the simulation did not reach gets NaN)."""
    t = np.asarray(t, float)
    v = np.asarray(v, float)
    if v.ndim == 1:
        v = v[:, None]
    n = int(np.floor((t1 - t0) / dt + 1e-9))
    grid = t0 + dt * np.arange(1, n + 1)
    out = np.full((n, v.shape[1]), np.nan)
    reach = grid <= t[-1] + 1e-12
    for k in range(v.shape[1]):
        out[reach, k] = np.interp(grid[reach], t, v[:, k])
    return grid, out


def check_trajectories(t: np.ndarray, v: np.ndarray, t_clear: float) -> None:
    t = np.asarray(t, float)
    v = np.asarray(v, float)
    if t.ndim != 1 or len(t) < 2:
        raise InputError(f"trajectory times: expected a 1-D array of at least 2 times, got shape {t.shape}")
    if np.any(np.diff(t) < 0):
        raise InputError("trajectory times: expected non-decreasing times")
    if v.ndim not in (1, 2):
        raise InputError(f"trajectory voltages: expected [time, node] (2-D), got {v.ndim} dimensions")
    if v.shape[0] != len(t):
        raise InputError(f"trajectory voltages: expected {len(t)} rows (one per time), got shape {v.shape}")
    if not (t[0] <= t_clear):
        raise InputError(f"clearing time {t_clear} s: before the first saved time {t[0]} s")


def vdsi(t: np.ndarray, v: np.ndarray, t_clear: float, t_end: float, *, eps: float = EPS, u0: float = U0,
         dt: float = DT) -> float:
    """The paper's VDSI over (t_clear, t_end] (see the module docstring); a time not simulated counts as 0 V
    (the deviation of a collapsed voltage)."""
    check_trajectories(t, v, t_clear)
    _, u = uniform(t, v, t_clear, t_end, dt)
    if not u.size:
        raise InputError(f"VDSI: no time after clearing ({t_clear} s) up to {t_end} s")
    u = np.where(np.isnan(u), 0.0, u)
    dev = np.abs(u - u0) / u0
    d = np.where(dev >= eps - 1e-12, dev, 0.0)  # 1.2 - 1.0 is 0.19999999999999996 in floating point
    return float(d.sum() / (u.shape[1] * u.shape[0]))


def tvci(t: np.ndarray, v: np.ndarray, t_clear: float, t_end: float, *, completed: bool = True,
         delta_deg: np.ndarray | None = None, eps: float = EPS, recovery_s: float = RECOVERY_S,
         angle_limit_deg: float = ANGLE_LIMIT_DEG) -> tuple[int, str]:
    """The TVCI flag (1 stable, 0 unstable) and the reason for a 0 (see the module docstring).

    ``completed``: whether the simulation reached ``t_end``; ``delta_deg``:
    rotor angles ``[time, machine]`` in degrees at the times ``t`` (optional).
    """
    check_trajectories(t, v, t_clear)
    t = np.asarray(t, float)
    v = np.asarray(v, float).reshape(len(t), -1)
    if not completed:
        return 0, f"the simulation stopped at {t[-1]:.3f} s, before {t_end:.3f} s"
    late = t >= t_clear + recovery_s - 1e-12
    if late.any():
        low = v[late] < 1.0 - eps
        if low.any():
            k = int(np.flatnonzero(low.any(axis=0))[0])
            first = float(t[late][np.flatnonzero(low[:, k])[0]])
            return 0, (f"key node {k}: {v[late][:, k].min():.3f} p.u. at {first:.3f} s, below {1 - eps:.2f} p.u. "
                       f"{recovery_s:g} s after clearing")
    if delta_deg is not None:
        d = np.asarray(delta_deg, float).reshape(len(t), -1)
        after = t > t_clear
        if d.shape[1] > 1 and after.any():
            spread = d[after].max(axis=1) - d[after].min(axis=1)
            if np.nanmax(spread) > angle_limit_deg:
                return 0, f"rotor angles {np.nanmax(spread):.0f} degrees apart (limit {angle_limit_deg:g})"
    return 1, ""


def stvs_indices(t: np.ndarray, v: np.ndarray, t_clear: float, t_end: float, *, completed: bool = True,
                 delta_deg: np.ndarray | None = None, eps: float = EPS, dt: float = DT) -> StvsIndices:
    """TVCI and VDSI of one simulation's key-node trajectories."""
    flag, why = tvci(t, v, t_clear, t_end, completed=completed, delta_deg=delta_deg, eps=eps)
    return StvsIndices(flag, vdsi(t, v, t_clear, t_end, eps=eps, dt=dt), why)


__all__ = ["ANGLE_LIMIT_DEG", "DT", "EPS", "RECOVERY_S", "StvsIndices", "U0", "check_trajectories", "stvs_indices",
           "tvci", "uniform", "vdsi"]
