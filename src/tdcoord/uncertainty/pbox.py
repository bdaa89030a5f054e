"""Forecast errors as a probability box, the net-load flexibility demand and its tail risk (seed 001, section 3).

**Errors** are relative: ``e = (actual - forecast) / forecast`` per source
(load, wind, PV) and period. A history holds one error per day and period.

**P-box** (:class:`PBox`): the error is normal with a mean in
``[mu_lo, mu_hi]`` and a standard deviation in ``[sigma_lo, sigma_hi]``;
the box is the envelope of those normal CDFs. For a given ``x`` the CDF
``Phi((x - mu) / sigma)`` is monotone in ``mu`` and, for fixed ``mu``, in
``sigma``, so the envelope's upper and lower CDFs are the largest and
smallest of the four corner distributions (exact, not sampled).
:func:`fit_pbox` estimates the intervals from a history: the confidence
interval of the mean (Student's t) and of the standard deviation
(chi-square), both at ``level`` (95 %): the parameter uncertainty that a
finite history leaves.

**Confidence truncation** at ``beta`` (:meth:`PBox.interval`): the normal
tails reach to infinity, so the error range is cut where the upper CDF
reaches ``(1 - beta) / 2`` (the lower end: the most pessimistic
distribution's quantile) and where the lower CDF reaches ``(1 + beta) / 2``
(the upper end).

**Flexibility demand** (:func:`flexibility_demand`, the paper's section
3.1): with net load ``N = L - W - PV`` (forecasts), the next period's
net-load error bounds are ``eps_u = dL_u L - dW_d W - dPV_d PV`` and
``eps_d = dL_d L - dW_u W - dPV_u PV`` (the relative bounds times the
forecasts), and

    f_up[t]   = max(N[t+1] + eps_u[t+1] - N[t], 0)
    f_down[t] = min(N[t+1] + eps_d[t+1] - N[t], 0)

The day is taken as repeating: the last period's next period is the first.

**Tail risk** (:func:`tail_risk`): the frequency with which the history's
net-load errors fall outside ``[eps_d, eps_u]`` in each period (the
paper's "direct statistics", ``P^u`` and ``P^d``), the mean excess beyond
the bound among those (the loss ``alpha``), so that ``P * alpha`` is the
expected excess, and the empirical CVaR at ``beta`` of the upward and
downward net-load error itself (:func:`cvar`, per period).

**Synthetic history** (:func:`synthetic_history`), the generator: for each
source, day ``d`` and period ``t``, ``e[d, t] = mu_d + sigma_t * s_d * z``
with ``z`` standard normal, a day's bias ``mu_d ~ N(0, (0.2 sigma_t)^2)``
and spread factor ``s_d = exp(N(0, 0.15^2))``, and the period's deviation
``sigma_t`` (:data:`SIGMA`, larger for wind than PV than load), all from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from tdcoord.errors import InputError

SOURCES = ("load", "wind", "pv")
SIGMA = {"load": 0.03, "wind": 0.15, "pv": 0.10}  # relative forecast error, one standard deviation
BETA = 0.95


# ------------------------------------------------------------------ history
@dataclass
class ErrorHistory:
    """Relative forecast errors by source, each an array [days, periods]."""

    errors: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        shapes = {k: np.shape(v) for k, v in self.errors.items()}
        missing = [s for s in SOURCES if s not in self.errors]
        if missing:
            raise InputError(f"error history: no errors for {', '.join(missing)}")
        if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
            raise InputError(f"error history: every source needs an array [days, periods] of one shape; got {shapes}")
        for k, v in self.errors.items():
            if not np.isfinite(v).all():
                raise InputError(f"error history: {k} has non-finite errors")
        if self.days < 2:
            raise InputError(f"error history: at least 2 days are needed to estimate a deviation, got {self.days}")

    @property
    def days(self) -> int:
        return int(np.shape(self.errors[SOURCES[0]])[0])

    @property
    def periods(self) -> int:
        return int(np.shape(self.errors[SOURCES[0]])[1])


def synthetic_history(days: int = 60, periods: int = 24, seed: int = 0,
                      sigma: dict[str, float] | None = None) -> ErrorHistory:
    """A seeded history of relative forecast errors (the generator is in the module's docstring)."""
    if days < 2 or periods < 1:
        raise InputError(f"synthetic history: need days >= 2 and periods >= 1, got {days} and {periods}")
    sig = dict(SIGMA) | dict(sigma or {})
    rng = np.random.default_rng(seed)
    out = {}
    for s in SOURCES:
        st = np.full(periods, float(sig[s]))
        mu_d = rng.normal(0.0, 0.2, (days, 1)) * st
        spread = np.exp(rng.normal(0.0, 0.15, (days, 1)))
        out[s] = mu_d + st * spread * rng.standard_normal((days, periods))
    return ErrorHistory(out)


# ------------------------------------------------------------------ p-box
@dataclass(frozen=True)
class PBox:
    """Normal errors with the mean in ``mu`` and the standard deviation in ``sigma`` (each (low, high))."""

    mu: tuple[float, float]
    sigma: tuple[float, float]

    def __post_init__(self) -> None:
        (m0, m1), (s0, s1) = self.mu, self.sigma
        if not all(np.isfinite([m0, m1, s0, s1])):
            raise InputError(f"p-box: bounds must be finite, got mu {self.mu}, sigma {self.sigma}")
        if m0 > m1 or s0 > s1:
            raise InputError(f"p-box: inconsistent bounds, low above high: mu {self.mu}, sigma {self.sigma}")
        if s0 <= 0:
            raise InputError(f"p-box: the standard deviation must be positive, got sigma {self.sigma}")

    def _corners(self) -> tuple[np.ndarray, np.ndarray]:
        mu = np.array([self.mu[0], self.mu[0], self.mu[1], self.mu[1]])
        sd = np.array([self.sigma[0], self.sigma[1], self.sigma[0], self.sigma[1]])
        return mu, sd

    def cdf_upper(self, x: np.ndarray | float) -> np.ndarray:
        """The upper CDF bound (the most optimistic distribution at each x)."""
        mu, sd = self._corners()
        return stats.norm.cdf((np.asarray(x, float)[..., None] - mu) / sd).max(axis=-1)

    def cdf_lower(self, x: np.ndarray | float) -> np.ndarray:
        """The lower CDF bound (the most conservative distribution at each x)."""
        mu, sd = self._corners()
        return stats.norm.cdf((np.asarray(x, float)[..., None] - mu) / sd).min(axis=-1)

    def interval(self, beta: float = BETA) -> tuple[float, float]:
        """The error range truncated at confidence ``beta``: (low, high)."""
        check_beta(beta)
        mu, sd = self._corners()
        lo = float((mu + sd * stats.norm.ppf((1 - beta) / 2)).min())  # the upper CDF reaches (1 - beta) / 2
        hi = float((mu + sd * stats.norm.ppf((1 + beta) / 2)).max())  # the lower CDF reaches (1 + beta) / 2
        return lo, hi


def check_beta(beta: float, name: str = "beta") -> None:
    if not 0 < beta < 1:
        raise InputError(f"confidence level {name} = {beta!r}; expected a fraction in (0, 1)")


def fit_pbox(errors: np.ndarray, level: float = 0.95) -> PBox:
    """The p-box of a sample of errors: confidence intervals of its mean and its standard deviation."""
    e = np.asarray(errors, float).ravel()
    if len(e) < 2 or not np.isfinite(e).all():
        raise InputError(f"p-box: need at least 2 finite errors, got {len(e)}")
    check_beta(level, "level")
    n, m, s = len(e), float(e.mean()), float(e.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * s / np.sqrt(n)
    chi_hi, chi_lo = stats.chi2.ppf((1 + level) / 2, n - 1), stats.chi2.ppf((1 - level) / 2, n - 1)
    s_lo, s_hi = s * np.sqrt((n - 1) / chi_hi), s * np.sqrt((n - 1) / chi_lo)
    return PBox((float(m - half), float(m + half)), (max(float(s_lo), 1e-12), max(float(s_hi), 1e-12)))


def fit_pboxes(history: ErrorHistory, level: float = 0.95) -> dict[str, list[PBox]]:
    """One p-box per source and period."""
    return {s: [fit_pbox(history.errors[s][:, t], level) for t in range(history.periods)] for s in SOURCES}


# ------------------------------------------------------------------ flexibility demand
@dataclass
class FlexDemand:
    """Net-load flexibility demand per period, MW (``up`` >= 0, ``down`` <= 0)."""

    net_load: np.ndarray
    eps_up: np.ndarray  # net-load error bounds of each period (as the next period of the one before)
    eps_down: np.ndarray
    up: np.ndarray
    down: np.ndarray
    beta: float


def _profiles(load: np.ndarray, wind: np.ndarray, pv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrs = [np.asarray(a, float) for a in (load, wind, pv)]
    if len({a.shape for a in arrs}) != 1 or arrs[0].ndim != 1 or len(arrs[0]) < 1:
        raise InputError(f"flexibility demand: load, wind and PV forecasts must be 1-D profiles of one length; got "
                         f"shapes {[a.shape for a in arrs]}")
    for name, a in zip(("load", "wind", "PV"), arrs):
        if not np.isfinite(a).all():
            raise InputError(f"flexibility demand: the {name} forecast has non-finite values")
    return arrs[0], arrs[1], arrs[2]


def _boxes_for(boxes: dict[str, PBox | list[PBox]], s: str, periods: int) -> list[PBox]:
    b = boxes[s]
    if isinstance(b, PBox):
        return [b] * periods
    if len(b) != periods:
        raise InputError(f"flexibility demand: {len(b)} p-boxes for {s}, the profiles have {periods} periods")
    return list(b)


def error_bounds(load: np.ndarray, wind: np.ndarray, pv: np.ndarray, boxes: dict[str, PBox | list[PBox]],
                 beta: float = BETA) -> tuple[np.ndarray, np.ndarray]:
    """(eps_up, eps_down): the net-load forecast error range of each period, MW."""
    load, wind, pv = _profiles(load, wind, pv)
    T = len(load)
    iv = {s: np.array([b.interval(beta) for b in _boxes_for(boxes, s, T)]) for s in SOURCES}
    eps_up = iv["load"][:, 1] * load - iv["wind"][:, 0] * wind - iv["pv"][:, 0] * pv
    eps_down = iv["load"][:, 0] * load - iv["wind"][:, 1] * wind - iv["pv"][:, 1] * pv
    return eps_up, eps_down


def flexibility_demand(load: np.ndarray, wind: np.ndarray, pv: np.ndarray, boxes: dict[str, PBox | list[PBox]],
                       beta: float = BETA) -> FlexDemand:
    """Upward and downward flexibility demand of each period (see the module's docstring)."""
    load, wind, pv = _profiles(load, wind, pv)
    net = load - wind - pv
    eps_up, eps_down = error_bounds(load, wind, pv, boxes, beta)
    nxt = np.roll(np.arange(len(net)), -1)
    up = np.maximum(net[nxt] + eps_up[nxt] - net, 0.0)
    down = np.minimum(net[nxt] + eps_down[nxt] - net, 0.0)
    return FlexDemand(net, eps_up, eps_down, up, down, beta)


# ------------------------------------------------------------------ tails
@dataclass
class TailRisk:
    """Per period: how often the history's net-load error leaves [eps_down, eps_up], by how much, and its CVaR."""

    prob_up: np.ndarray
    prob_down: np.ndarray
    excess_up: np.ndarray  # mean excess beyond eps_up among the errors above it, MW (0 where none)
    excess_down: np.ndarray  # mean excess below eps_down among the errors below it, MW (>= 0)
    cvar_up: np.ndarray  # CVaR at beta of the net-load error n, MW
    cvar_down: np.ndarray  # CVaR at beta of -n (the downward error, positive), MW
    beta: float

    @property
    def expected_up(self) -> np.ndarray:
        """E[(n - eps_up)^+] = prob_up * excess_up, MW."""
        return self.prob_up * self.excess_up

    @property
    def expected_down(self) -> np.ndarray:
        return self.prob_down * self.excess_down


def net_errors(history: ErrorHistory, load: np.ndarray, wind: np.ndarray, pv: np.ndarray) -> np.ndarray:
    """The history's net-load errors in MW at these forecasts: [days, periods]."""
    load, wind, pv = _profiles(load, wind, pv)
    if history.periods != len(load):
        raise InputError(f"tail risk: the history has {history.periods} periods, the profiles {len(load)}")
    e = history.errors
    return e["load"] * load - e["wind"] * wind - e["pv"] * pv


def cvar(losses: np.ndarray, beta: float = BETA) -> float:
    """CVaR at ``beta`` of an equally likely sample of losses (Rockafellar-Uryasev, the VaR at the beta quantile)."""
    x = np.sort(np.asarray(losses, float).ravel())
    if len(x) == 0 or not np.isfinite(x).all():
        raise InputError("CVaR: need a non-empty sample of finite losses")
    check_beta(beta)
    var = float(np.quantile(x, beta, method="inverted_cdf"))
    return var + float(np.maximum(x - var, 0.0).mean()) / (1 - beta)


def tail_risk(history: ErrorHistory, load: np.ndarray, wind: np.ndarray, pv: np.ndarray,
              boxes: dict[str, PBox | list[PBox]], beta: float = BETA) -> TailRisk:
    """Tail statistics of the history's net-load errors outside the p-box's truncated range."""
    n = net_errors(history, load, wind, pv)
    eps_up, eps_down = error_bounds(load, wind, pv, boxes, beta)
    over = np.maximum(n - eps_up, 0.0)
    under = np.maximum(eps_down - n, 0.0)
    p_up, p_down = (over > 0).mean(axis=0), (under > 0).mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex_up = np.where(p_up > 0, over.sum(axis=0) / np.maximum((over > 0).sum(axis=0), 1), 0.0)
        ex_down = np.where(p_down > 0, under.sum(axis=0) / np.maximum((under > 0).sum(axis=0), 1), 0.0)
    return TailRisk(p_up, p_down, ex_up, ex_down, np.array([cvar(n[:, t], beta) for t in range(n.shape[1])]),
                    np.array([cvar(-n[:, t], beta) for t in range(n.shape[1])]), beta)


__all__ = ["BETA", "ErrorHistory", "FlexDemand", "PBox", "SIGMA", "SOURCES", "TailRisk", "check_beta", "cvar",
           "error_bounds", "fit_pbox", "fit_pboxes", "flexibility_demand", "net_errors", "synthetic_history",
           "tail_risk"]
