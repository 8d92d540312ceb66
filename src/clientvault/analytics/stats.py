"""The statistics engine of A/B tests: pure functions of summary statistics, no database.

Every test reads the per-variant summaries SQL can compute in one pass (``n``, the sum and the
sum of squares of the metric; for a conversion metric the sum is the number of converters and
equals the sum of squares), so results come from an aggregate query, never from rows.

What is here and where it comes from:

* two-proportion z-test (pooled standard error for the test, unpooled Wald interval), the
  textbook test statsmodels' ``proportions_ztest`` / ``confint_proportions_2indep`` compute;
* Welch's t-test on means with the Welch–Satterthwaite degrees of freedom (scipy's
  ``ttest_ind_from_stats(equal_var=False)``), absolute and relative lift with intervals (the
  relative one by the delta method, as GrowthBook and Optimizely report it);
* the sample-ratio-mismatch check: Pearson's chi-square of the observed counts against the
  configured weights (``scipy.stats.chisquare``);
* Bayesian chance to beat control and expected loss (Beta posteriors for conversions, a normal
  posterior for means);
* a sample-size calculator (normal power of a two-sided test; Cohen's h for proportions);
* always-valid confidence sequences (the normal-mixture boundary of Robbins, in the form of
  Lindon & Malek / Howard et al. 2021): an interval that may be looked at after every user;
* CUPED variance reduction (Deng, Xu, Kohavi & Walker 2013);
* Holm and Benjamini–Hochberg corrections when an experiment has several variants or metrics.

scipy supplies the distributions and the integration; the formulas above are a few lines each
on summary statistics, which no maintained library offers in this form (statsmodels works on
rows or counts, not on the sum of squares SQL returns), hence written here and checked
against scipy and statsmodels in ``tests/unit/analytics``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clientvault.errors import InvalidInput


@dataclass(frozen=True)
class Summary:
    """One variant's metric as SQL returns it: users, sum and sum of squares of the metric."""

    n: int
    total: float
    total_squares: float

    @property
    def mean(self) -> float:
        """The metric's mean per user."""
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (denominator ``n - 1``) from the sums, clipped at 0 against
        rounding."""
        if self.n < 2:
            return 0.0
        return max((self.total_squares - self.total**2 / self.n) / (self.n - 1), 0.0)

    @classmethod
    def of_values(cls, values: Sequence[float] | np.ndarray) -> Summary:
        """The summary of raw values (tests, CSV uploads)."""
        array = np.asarray(values, dtype=float)
        return cls(int(array.size), float(array.sum()), float((array**2).sum()))

    @classmethod
    def of_conversions(cls, converted: int, n: int) -> Summary:
        """The summary of a 0/1 metric: ``converted`` users of ``n``."""
        if not 0 <= converted <= n:
            raise InvalidInput(f"converted users ({converted}) must be between 0 and n ({n})")
        return cls(n, float(converted), float(converted))


@dataclass(frozen=True)
class Comparison:
    """A variant against control: difference of means, relative lift, intervals, p-value."""

    control_mean: float
    variant_mean: float
    difference: float
    ci_low: float
    ci_high: float
    relative_lift: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    statistic: float
    p_value: float
    test: str


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be between 0 and 1, not {alpha}")
    return alpha


def _check_n(*summaries: Summary, minimum: int = 2) -> None:
    for summary in summaries:
        if summary.n < minimum:
            raise InvalidInput(f"each variant needs at least {minimum} users, one has {summary.n}")


def _relative(
    control: Summary, variant: Summary, v_control: float, v_variant: float, critical: float
) -> tuple[float | None, float | None, float | None]:
    """Relative lift ``variant/control - 1`` with its delta-method interval: the variance of
    a ratio of independent means is ``v_b/m_a^2 + m_b^2 v_a/m_a^4``."""
    mean = control.mean
    if mean == 0:
        return None, None, None
    ratio = variant.mean / mean
    # The same variance with one division by the mean at a time: ``mean**4`` underflowed to
    # 0.0 for a mean of 1e-98 (a hypothesis example), and divided by zero.
    variance = (v_variant / mean + ratio * ratio * v_control / mean) / mean
    if not (math.isfinite(ratio) and math.isfinite(variance)):
        return None, None, None  # a control mean too near zero for a ratio to mean anything
    half = critical * math.sqrt(variance)
    return ratio - 1, ratio - 1 - half, ratio - 1 + half


def two_proportion_ztest(control: Summary, variant: Summary, *, alpha: float = 0.05) -> Comparison:
    """Two-sided z-test of two conversion rates: pooled standard error for the statistic (the
    null says both rates are equal), unpooled for the Wald interval of the difference
    ``variant - control`` (as statsmodels computes them)."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    _check_alpha(alpha)
    _check_n(control, variant, minimum=1)
    p_a, p_b = control.mean, variant.mean
    pooled = (control.total + variant.total) / (control.n + variant.n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / variant.n))
    difference = p_b - p_a
    if se_pooled == 0:
        statistic, p_value = 0.0, 1.0
    else:
        statistic = difference / se_pooled
        p_value = float(2 * stats.norm.sf(abs(statistic)))
    v_a = p_a * (1 - p_a) / control.n
    v_b = p_b * (1 - p_b) / variant.n
    critical = float(stats.norm.ppf(1 - alpha / 2))
    half = critical * math.sqrt(v_a + v_b)
    rel, rel_low, rel_high = _relative(control, variant, v_a, v_b, critical)
    return Comparison(
        p_a,
        p_b,
        difference,
        difference - half,
        difference + half,
        rel,
        rel_low,
        rel_high,
        statistic,
        p_value,
        "two-proportion z-test",
    )


def welch_ttest(control: Summary, variant: Summary, *, alpha: float = 0.05) -> Comparison:
    """Welch's two-sided t-test of two means with unequal variances, the interval of the
    difference ``variant - control`` on the Welch–Satterthwaite degrees of freedom, and the
    relative lift's delta-method interval on the same critical value."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    _check_alpha(alpha)
    _check_n(control, variant)
    v_a = control.variance / control.n
    v_b = variant.variance / variant.n
    difference = variant.mean - control.mean
    se = math.sqrt(v_a + v_b)
    if se == 0:
        return Comparison(
            control.mean,
            variant.mean,
            difference,
            difference,
            difference,
            None,
            None,
            None,
            0.0,
            1.0 if difference == 0 else 0.0,
            "Welch t-test",
        )
    df = (v_a + v_b) ** 2 / (v_a**2 / (control.n - 1) + v_b**2 / (variant.n - 1))
    statistic = difference / se
    p_value = float(2 * stats.t.sf(abs(statistic), df))
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    rel, rel_low, rel_high = _relative(control, variant, v_a, v_b, critical)
    return Comparison(
        control.mean,
        variant.mean,
        difference,
        difference - critical * se,
        difference + critical * se,
        rel,
        rel_low,
        rel_high,
        statistic,
        p_value,
        "Welch t-test",
    )


@dataclass(frozen=True)
class SampleRatio:
    """The sample-ratio-mismatch check: are the users split as the weights say?"""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float], *, threshold: float = 0.001
) -> SampleRatio:
    """Pearson's chi-square of the users seen per variant against the configured weights. A
    p-value under ``threshold`` (0.001, the usual SRM alarm) means assignment or exposure
    logging is broken and the experiment's results should not be trusted."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    if len(observed) != len(weights) or len(observed) < 2:
        raise InvalidInput("give one count and one weight per variant, at least two variants")
    if any(w <= 0 for w in weights) or any(n < 0 for n in observed):
        raise InvalidInput("weights must be positive and counts non-negative")
    total = sum(observed)
    shares = [w / sum(weights) for w in weights]
    expected = tuple(total * share for share in shares)
    if total == 0:
        return SampleRatio(tuple(observed), expected, 0.0, 1.0, False)
    statistic, p_value = stats.chisquare(list(observed), list(expected))
    return SampleRatio(
        tuple(int(n) for n in observed),
        expected,
        float(statistic),
        float(p_value),
        bool(p_value < threshold),
    )


@dataclass(frozen=True)
class BayesianResult:
    """Chance that the variant beats control, and the expected loss of choosing either."""

    chance_to_win: float
    expected_loss_variant: float
    expected_loss_control: float


def _beta_excess(a: float, b: float, y: float) -> float:
    """``E[max(X - y, 0)]`` for ``X ~ Beta(a, b)``: ``a/(a+b) (1 - I_y(a+1, b)) - y (1 -
    I_y(a, b))`` with ``I`` the regularised incomplete beta function."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import special

    mean = a / (a + b)
    return float(mean * special.betaincc(a + 1, b, y) - y * special.betaincc(a, b, y))


def bayesian_proportions(
    control: Summary, variant: Summary, *, prior: tuple[float, float] = (1.0, 1.0)
) -> BayesianResult:
    """Beta-binomial comparison of two conversion rates (uniform prior by default): the
    probability that the variant's rate is higher, ``∫ f_B(x) F_A(x) dx``, and the expected
    loss of shipping each arm, ``E[max(other - chosen, 0)]``, by numerical integration over
    the posterior densities (exact up to quadrature error, checked against Monte Carlo)."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import integrate, stats

    _check_n(control, variant, minimum=1)
    a_a, b_a = prior[0] + control.total, prior[1] + control.n - control.total
    a_b, b_b = prior[0] + variant.total, prior[1] + variant.n - variant.total
    dist_a, dist_b = stats.beta(a_a, b_a), stats.beta(a_b, b_b)
    # Integrate where the posteriors have mass: quad misses a narrow peak on [0, 1].
    low = min(dist_a.ppf(1e-12), dist_b.ppf(1e-12))
    high = max(dist_a.isf(1e-12), dist_b.isf(1e-12))
    points = [dist_a.mean(), dist_b.mean()]
    chance, _ = integrate.quad(
        lambda x: dist_b.pdf(x) * dist_a.cdf(x), low, high, points=points, limit=200
    )
    loss_variant, _ = integrate.quad(
        lambda y: dist_b.pdf(y) * _beta_excess(a_a, b_a, y), low, high, points=points, limit=200
    )
    loss_control, _ = integrate.quad(
        lambda y: dist_a.pdf(y) * _beta_excess(a_b, b_b, y), low, high, points=points, limit=200
    )
    return BayesianResult(float(chance), float(loss_variant), float(loss_control))


def _normal_loss(mu: float, sigma: float) -> float:
    """``E[max(-D, 0)]`` for ``D ~ N(mu, sigma²)``: ``sigma φ(mu/sigma) - mu Φ(-mu/sigma)``."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    z = mu / sigma
    return float(sigma * stats.norm.pdf(z) - mu * stats.norm.cdf(-z))


def bayesian_means(control: Summary, variant: Summary) -> BayesianResult:
    """Normal-posterior comparison of two means (flat prior, large samples): the difference
    ``variant - control`` is ``N(diff, v_a/n_a + v_b/n_b)``; chance to win ``Φ(diff/sd)``,
    expected losses in closed form."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    _check_n(control, variant)
    difference = variant.mean - control.mean
    sd = math.sqrt(control.variance / control.n + variant.variance / variant.n)
    if sd == 0:
        win = 1.0 if difference > 0 else 0.0 if difference < 0 else 0.5
        return BayesianResult(win, max(-difference, 0.0), max(difference, 0.0))
    return BayesianResult(
        float(stats.norm.cdf(difference / sd)),
        _normal_loss(difference, sd),
        _normal_loss(-difference, sd),
    )


def _normal_power(effect: float, n: float, ratio: float, alpha: float) -> float:
    """Power of a two-sided z-test of standardised ``effect`` with ``n`` users in control and
    ``n * ratio`` in the variant (both rejection tails counted, as statsmodels does)."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import stats

    critical = stats.norm.ppf(1 - alpha / 2)
    shift = abs(effect) * math.sqrt(n / (1 + 1 / ratio))
    return float(stats.norm.cdf(shift - critical) + stats.norm.cdf(-shift - critical))


def sample_size(
    effect_size: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> int:
    """Users needed in the control arm (``ratio`` times as many in the variant) for a
    two-sided test at ``alpha`` to detect a standardised effect (Cohen's d: difference over
    standard deviation) with the given power; rounded up."""
    # Imported here, not at module level: the CLI and the API start without scipy.
    from scipy import optimize

    _check_alpha(alpha)
    if not 0 < power < 1 or effect_size == 0 or ratio <= 0:
        raise InvalidInput("power must be in (0, 1), the effect non-zero, the ratio positive")

    def target(n: float) -> float:
        return _normal_power(effect_size, n, ratio, alpha) - power

    high = 2.0
    while target(high) < 0:
        high *= 2
    root: float = optimize.brentq(target, 1e-9, high, xtol=1e-10)
    return math.ceil(root)


def sample_size_proportions(
    baseline: float,
    minimum_detectable: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> int:
    """Users per arm to detect a change of a conversion rate from ``baseline``: by
    ``minimum_detectable`` relative (0.1 = +10 %) or absolute (0.01 = +1 point); the effect is
    Cohen's h, ``2 asin √p2 - 2 asin √p1``, the variance-stabilised difference."""
    target = baseline * (1 + minimum_detectable) if relative else baseline + minimum_detectable
    if not 0 < baseline < 1 or not 0 < target < 1:
        raise InvalidInput("the baseline and the target rate must both be between 0 and 1")
    effect = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
    return sample_size(effect, alpha=alpha, power=power, ratio=ratio)


@dataclass(frozen=True)
class ConfidenceSequence:
    """An always-valid interval for the difference: it covers the true difference at every
    look at once with probability ``1 - alpha``, so it may be checked after every user."""

    difference: float
    ci_low: float
    ci_high: float
    significant: bool


def confidence_sequence_radius(variance: float | np.ndarray, tau2: float, alpha: float) -> float:
    """Half-width of the normal-mixture confidence sequence for an estimate whose variance is
    now ``variance``: ``sqrt(v (v + τ²)/τ² · log((v + τ²)/(v α²)))``.

    It is Robbins' mixture martingale ``sqrt(ρ/(V+ρ)) exp(S²/2(V+ρ))`` with a normal mixing
    distribution of variance ``τ²`` over the effect, bounded by ``1/α`` through Ville's
    inequality (Howard, Ramdas, McAuliffe & Sekhon 2021; Lindon & Malek 2022). ``τ²`` tunes
    where the sequence is tightest: the estimate's variance at the planned sample size."""
    v = np.asarray(variance, dtype=float)
    radius = np.sqrt(v * (v + tau2) / tau2 * np.log((v + tau2) / (v * alpha**2)))
    return radius  # type: ignore[return-value]


def confidence_sequence(
    control: Summary, variant: Summary, *, alpha: float = 0.05, planned_n: int = 1000
) -> ConfidenceSequence:
    """The always-valid interval of ``variant - control`` means after the users seen so far,
    tuned to be tightest at ``planned_n`` users per arm."""
    _check_alpha(alpha)
    _check_n(control, variant)
    if planned_n < 2:
        raise InvalidInput("the planned number of users per arm must be at least 2")
    variance = control.variance / control.n + variant.variance / variant.n
    difference = variant.mean - control.mean
    if variance == 0:
        return ConfidenceSequence(difference, difference, difference, difference != 0)
    tau2 = (control.variance + variant.variance) / planned_n
    radius = float(confidence_sequence_radius(variance, tau2, alpha))
    low, high = difference - radius, difference + radius
    return ConfidenceSequence(difference, low, high, low > 0 or high < 0)


@dataclass(frozen=True)
class Cuped:
    """A metric adjusted by its pre-period value: ``Y - θ (X - mean X)``."""

    theta: float
    control: Summary
    variant: Summary
    variance_reduction: float


def cuped(
    control_y: Sequence[float],
    control_x: Sequence[float],
    variant_y: Sequence[float],
    variant_x: Sequence[float],
) -> Cuped:
    """CUPED: subtract from each user's metric ``θ (X - mean X)``, where ``X`` is the same
    user's metric before the experiment and ``θ = cov(X, Y)/var(X)`` over both arms. The
    difference of adjusted means estimates the same effect with variance shrunk by the share
    ``ρ²`` of the metric the pre-period explains; the returned summaries go to the usual
    tests."""
    ya, xa = np.asarray(control_y, float), np.asarray(control_x, float)
    yb, xb = np.asarray(variant_y, float), np.asarray(variant_x, float)
    if ya.size != xa.size or yb.size != xb.size:
        raise InvalidInput("each user needs one metric value and one pre-period value")
    _check_n(Summary.of_values(ya), Summary.of_values(yb))
    y, x = np.concatenate([ya, yb]), np.concatenate([xa, xb])
    var_x = float(np.var(x, ddof=1))
    theta = float(np.cov(x, y, ddof=1)[0, 1] / var_x) if var_x > 0 else 0.0
    mean_x = float(x.mean())
    adjusted_a = ya - theta * (xa - mean_x)
    adjusted_b = yb - theta * (xb - mean_x)
    var_y = float(np.var(y, ddof=1))
    adjusted = float(np.var(np.concatenate([adjusted_a, adjusted_b]), ddof=1))
    reduction = 1 - adjusted / var_y if var_y > 0 else 0.0
    return Cuped(theta, Summary.of_values(adjusted_a), Summary.of_values(adjusted_b), reduction)


def adjust_p_values(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """P-values adjusted for testing several variants or metrics at once: ``holm``
    (Holm–Bonferroni, controls the family-wise error rate) or ``bh`` (Benjamini–Hochberg,
    controls the false discovery rate). Compare the adjusted values with alpha as usual."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.any((p < 0) | (p > 1)):
        raise InvalidInput("p-values must be between 0 and 1")
    m = p.size
    order = np.argsort(p)
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adjusted = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
    else:
        raise InvalidInput(f"unknown correction {method!r}: use holm or bh")
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    return [float(v) for v in result]
