"""Predictive customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend
model, fitted by maximum likelihood with scipy. Pure functions of an RFM summary.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science
24(2)): while alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they
drop out with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and
CLV", JMR 42(4), and Fader & Hardie's note "The Gamma-Gamma model of monetary value", 2013):
a customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ), independent of the
purchase process.

The input is one row per customer: ``frequency`` (repeat purchases: purchase periods after the
first), ``recency`` (time from first to last purchase), ``T`` (time from first purchase to the
end of the observation period) and, for Gamma-Gamma, the mean value of the repeat purchases.

Why written here rather than imported: the one Python library implementing both, ``lifetimes``,
is unmaintained (last release 2020), so the product does not depend on it at run time; the
log-likelihoods below are the published closed forms, optimised with scipy, and the tests check
the fits against the published CDNOW estimates (with ``lifetimes``' bundled copy of the data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from clientvault.errors import InvalidInput

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RfmSummary:
    """Per-customer recency, frequency and monetary value over a calibration period."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray

    def __post_init__(self) -> None:
        sizes = {self.frequency.size, self.recency.size, self.T.size, self.monetary.size}
        if len(sizes) != 1:
            raise InvalidInput("frequency, recency, T and monetary need one value per customer")
        if np.any(self.frequency < 0) or np.any(self.recency < 0) or np.any(self.recency > self.T):
            raise InvalidInput("frequency and recency must be non-negative, recency at most T")


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters and the maximised log-likelihood."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma parameters and the maximised log-likelihood."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int


def bgnbd_log_likelihood(
    params: FloatArray, frequency: FloatArray, recency: FloatArray, T: FloatArray
) -> FloatArray:
    """Each customer's BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6):
    ``A1 + A2 + log(exp(A3) + [x > 0] exp(A4))``."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import special

    r, alpha, a, b = params
    x, t_x = frequency, recency
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)  # type: ignore[no-any-return]


def _maximise(
    negative: Callable[[FloatArray], float], start: FloatArray, names: str
) -> tuple[FloatArray, float]:
    """Minimise ``negative`` over log-parameters from ``start``: L-BFGS-B and Nelder–Mead
    each, then each polished by the other, keeping the best. Either alone can stall on a
    ridge (Nelder–Mead drifting to p → ∞, γ → 0 on Gamma-Gamma; L-BFGS-B on flat BG/NBD
    likelihoods), the pair has not in the CDNOW and simulated checks."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import optimize

    simplex = {"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000, "maxfev": 40000}
    candidates = []
    # The optimisers probe extreme parameters whose likelihood overflows to inf or nan; they
    # reject those points, so the floating-point warnings say nothing to the user.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for first, second in (("L-BFGS-B", "Nelder-Mead"), ("Nelder-Mead", "L-BFGS-B")):
            result = optimize.minimize(
                negative,
                np.log(start),
                method=first,
                options=simplex if first == "Nelder-Mead" else None,
            )
            polished = optimize.minimize(
                negative,
                result.x,
                method=second,
                options=simplex if second == "Nelder-Mead" else None,
            )
            candidates += [result, polished]
    best = min(candidates, key=lambda r: float(r.fun))
    if not np.all(np.isfinite(best.x)) or float(best.fun) >= 1e300:
        raise InvalidInput(f"the {names} fit did not converge")
    return np.exp(best.x), -float(best.fun)


def fit_bgnbd(summary: RfmSummary) -> BgNbd:
    """Fit BG/NBD by maximum likelihood (parameters optimised on the log scale so they stay
    positive; Nelder–Mead then L-BFGS polishing)."""
    if summary.frequency.size < 10 or not np.any(summary.frequency > 0):
        raise InvalidInput("BG/NBD needs at least 10 customers, some with repeat purchases")
    scale = float(np.max(summary.T))
    x, t_x, big_t = summary.frequency, summary.recency / scale, summary.T / scale

    def negative(log_params: FloatArray) -> float:
        params = np.exp(log_params)
        value = -float(np.sum(bgnbd_log_likelihood(params, x, t_x, big_t)))
        return value if np.isfinite(value) else 1e300

    params, _ = _maximise(negative, np.array([1.0, 1.0, 1.0, 1.0]), "BG/NBD")
    r, alpha, a, b = params
    alpha *= scale  # α is a time scale: back to the input's unit
    ll = float(
        np.sum(bgnbd_log_likelihood(np.array([r, alpha, a, b]), x, summary.recency, summary.T))
    )
    return BgNbd(float(r), float(alpha), float(a), float(b), ll, int(x.size))


def gamma_gamma_log_likelihood(
    params: FloatArray, frequency: FloatArray, monetary: FloatArray
) -> FloatArray:
    """Each repeat buyer's Gamma-Gamma log-likelihood of their mean transaction value
    ``m`` over ``x`` transactions (Fader & Hardie 2013, eq. 3)."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import special

    p, q, gamma = params
    x, m = frequency, monetary
    return (  # type: ignore[no-any-return]
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + gamma)
    )


def fit_gamma_gamma(summary: RfmSummary) -> GammaGamma:
    """Fit Gamma-Gamma by maximum likelihood on the repeat buyers (frequency > 0) whose mean
    repeat value is positive."""
    keep = (summary.frequency > 0) & (summary.monetary > 0)
    if int(keep.sum()) < 10:
        raise InvalidInput("Gamma-Gamma needs at least 10 repeat buyers with a positive spend")
    x, m = summary.frequency[keep], summary.monetary[keep]

    def negative(log_params: FloatArray) -> float:
        value = -float(np.sum(gamma_gamma_log_likelihood(np.exp(log_params), x, m)))
        return value if np.isfinite(value) else 1e300

    params, ll = _maximise(negative, np.array([1.0, 1.0, float(np.mean(m))]), "Gamma-Gamma")
    return GammaGamma(float(params[0]), float(params[1]), float(params[2]), ll, int(x.size))


def probability_alive(model: BgNbd, summary: RfmSummary) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b + x - 1) ((α + T)/(α + t_x))^(r + x))."""
    x = summary.frequency
    with np.errstate(divide="ignore", over="ignore"):  # an overflow is odds of inf: P = 0
        odds = (
            model.a
            / np.maximum(model.b + x - 1, 1e-300)
            * ((model.alpha + summary.T) / (model.alpha + summary.recency)) ** (model.r + x)
        )
    return np.where(x > 0, 1 / (1 + odds), 1.0)


def expected_purchases(model: BgNbd, summary: RfmSummary, horizon: float) -> FloatArray:
    """Expected purchases in the next ``horizon`` time units given each customer's history
    (Fader, Hardie & Lee 2005, eq. 10)."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import special

    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    x, T = summary.frequency, summary.T
    z = horizon / (alpha + T + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + horizon)) ** (r + x) * hyp)
    )
    return probability_alive(model, summary) * numerator  # type: ignore[no-any-return]


def expected_purchases_new(model: BgNbd, horizon: FloatArray) -> FloatArray:
    """Expected purchases of a new customer in ``(0, t]`` (eq. 9): for the fitted curve."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import special

    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    t = np.asarray(horizon, dtype=float)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)  # type: ignore[no-any-return]


def expected_average_value(model: GammaGamma, summary: RfmSummary) -> FloatArray:
    """Expected value of a customer's future transactions: ``(γ + m x) p / (p x + q - 1)``,
    the population mean ``p γ/(q - 1)`` for customers without repeat purchases."""
    p, q, gamma = model.p, model.q, model.gamma
    x, m = summary.frequency, summary.monetary
    population = p * gamma / (q - 1)
    conditional = (gamma + m * x) * p / (p * x + q - 1)
    return np.where((x > 0) & (m > 0), conditional, population)
