"""The A/B statistics engine against independent references: scipy, statsmodels, GrowthBook's
published test vector, Monte Carlo and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from clientvault.analytics import stats
from clientvault.analytics.stats import Summary
from clientvault.errors import InvalidInput


@given(
    n_a=st.integers(20, 5000),
    n_b=st.integers(20, 5000),
    share_a=st.floats(0.02, 0.98),
    share_b=st.floats(0.02, 0.98),
)
def test_two_proportion_ztest_matches_statsmodels(
    n_a: int, n_b: int, share_a: float, share_b: float
) -> None:
    x_a, x_b = max(1, round(n_a * share_a)), max(1, round(n_b * share_b))
    result = stats.two_proportion_ztest(
        Summary.of_conversions(x_a, n_a), Summary.of_conversions(x_b, n_b)
    )
    z, p = proportions_ztest([x_b, x_a], [n_b, n_a])
    low, high = confint_proportions_2indep(x_b, n_b, x_a, n_a, method="wald", compare="diff")
    assert result.statistic == pytest.approx(z, abs=1e-6)
    assert result.p_value == pytest.approx(p, abs=1e-6)
    assert result.ci_low == pytest.approx(low, abs=1e-6)
    assert result.ci_high == pytest.approx(high, abs=1e-6)


@given(
    a=st.lists(st.floats(-100, 100), min_size=3, max_size=60),
    b=st.lists(st.floats(-100, 100), min_size=3, max_size=60),
)
def test_welch_matches_scipy(a: list[float], b: list[float]) -> None:
    if np.std(a) < 1e-3 or np.std(b) < 1e-3:
        return  # a constant sample has no variance to test against
    result = stats.welch_ttest(Summary.of_values(a), Summary.of_values(b))
    reference = scipy_stats.ttest_ind(b, a, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-6, abs=1e-6)
    assert result.p_value == pytest.approx(reference.pvalue, abs=1e-6)
    assert result.ci_low == pytest.approx(interval.low, rel=1e-6, abs=1e-6)
    assert result.ci_high == pytest.approx(interval.high, rel=1e-6, abs=1e-6)


def test_a_control_mean_near_zero_has_no_relative_lift() -> None:
    # Hypothesis found it: a control mean of 6e-99 made mean**4 underflow to 0.0 and the
    # relative interval divide by zero; the absolute comparison is unaffected.
    control = Summary(n=4, total=2.4309791985547893e-98, total_squares=1.8150000000000004)
    variant = Summary(n=3, total=1.0, total_squares=1.0)
    result = stats.welch_ttest(control, variant)
    assert (result.relative_lift, result.relative_ci_low, result.relative_ci_high) == (
        None,
        None,
        None,
    )
    assert result.difference == pytest.approx(1 / 3)


def test_growthbook_published_vector() -> None:
    # GrowthBook's gbstats test vector (tests/frequentist/test_ttest.py, TestTwoSidedTTest):
    # sums, sums of squares and counts of two variants of a revenue metric.
    control = Summary(3407, 1396.87, 52377.9767)
    variant = Summary(3461, 2422.7, 134698.29)
    result = stats.welch_ttest(control, variant)
    assert result.difference == pytest.approx(0.29, abs=1e-5)
    assert result.ci_low == pytest.approx(0.04538, abs=1e-5)
    assert result.ci_high == pytest.approx(0.53462, abs=1e-5)
    assert result.p_value == pytest.approx(0.02016, abs=1e-5)


def test_relative_lift_interval_covers_at_its_level() -> None:
    # The delta-method interval of variant/control - 1 covers the true lift (+10 %) about
    # 95 % of the time over repeated experiments.
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(400):
        a = rng.normal(10.0, 4.0, 800)
        b = rng.normal(11.0, 4.0, 800)
        r = stats.welch_ttest(Summary.of_values(a), Summary.of_values(b))
        assert r.relative_ci_low is not None
        assert r.relative_ci_high is not None
        covered += r.relative_ci_low <= 0.1 <= r.relative_ci_high
    assert 0.92 <= covered / 400 <= 0.98


def test_srm_published_value() -> None:
    result = stats.sample_ratio_mismatch([5000, 5200], [0.5, 0.5])
    assert result.p_value == pytest.approx(0.04767, abs=1e-5)
    assert not result.mismatch  # above the 0.001 alarm
    assert stats.sample_ratio_mismatch([5000, 5600], [1, 1]).mismatch
    chi2 = scipy_stats.chisquare([300, 500, 200], [400, 400, 200])
    uneven = stats.sample_ratio_mismatch([300, 500, 200], [2, 2, 1])
    assert uneven.statistic == pytest.approx(chi2.statistic, abs=1e-9)
    with pytest.raises(InvalidInput):
        stats.sample_ratio_mismatch([10, 10], [1])


def test_bayesian_proportions_match_monte_carlo() -> None:
    control, variant = Summary.of_conversions(100, 1000), Summary.of_conversions(120, 1000)
    result = stats.bayesian_proportions(control, variant)
    rng = np.random.default_rng(1)
    a = rng.beta(101, 901, 400_000)
    b = rng.beta(121, 881, 400_000)
    assert result.chance_to_win == pytest.approx(np.mean(b > a), abs=3e-3)
    assert result.expected_loss_variant == pytest.approx(np.mean(np.maximum(a - b, 0)), abs=2e-4)
    assert result.expected_loss_control == pytest.approx(np.mean(np.maximum(b - a, 0)), abs=2e-4)


def test_bayesian_means_match_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    control = Summary.of_values(rng.normal(5.0, 2.0, 500))
    variant = Summary.of_values(rng.normal(5.2, 2.0, 500))
    result = stats.bayesian_means(control, variant)
    sd = np.sqrt(control.variance / 500 + variant.variance / 500)
    draws = rng.normal(variant.mean - control.mean, sd, 400_000)
    assert result.chance_to_win == pytest.approx(np.mean(draws > 0), abs=3e-3)
    assert result.expected_loss_variant == pytest.approx(np.mean(np.maximum(-draws, 0)), abs=1e-3)
    assert result.expected_loss_control == pytest.approx(np.mean(np.maximum(draws, 0)), abs=1e-3)


@pytest.mark.parametrize(("effect", "ratio"), [(0.2, 1.0), (0.05, 1.0), (0.3, 2.0)])
def test_sample_size_matches_statsmodels(effect: float, ratio: float) -> None:
    reference = NormalIndPower().solve_power(effect, alpha=0.05, power=0.8, ratio=ratio)
    assert stats.sample_size(effect, ratio=ratio) == int(np.ceil(reference))


def test_sample_size_proportions_uses_cohens_h() -> None:
    h = proportion_effectsize(0.11, 0.10)
    reference = NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
    assert stats.sample_size_proportions(0.10, 0.10) == int(np.ceil(reference))
    assert stats.sample_size_proportions(0.10, 0.01, relative=False) == int(np.ceil(reference))
    with pytest.raises(InvalidInput):
        stats.sample_size_proportions(0.9, 0.5)  # a 135 % rate


def _peeking_false_positives(*, always_valid: bool, runs: int = 400, alpha: float = 0.05) -> float:
    """A/A tests (no true difference) looked at after every 100 users per arm up to 3000:
    the share of runs that ever declare a difference."""
    rng = np.random.default_rng(11)
    looks = np.arange(100, 3001, 100)
    a = rng.normal(0.0, 1.0, (runs, looks[-1]))
    b = rng.normal(0.0, 1.0, (runs, looks[-1]))
    cum_a, cum_b = np.cumsum(a, axis=1), np.cumsum(b, axis=1)
    cum_a2, cum_b2 = np.cumsum(a**2, axis=1), np.cumsum(b**2, axis=1)
    rejected = np.zeros(runs, dtype=bool)
    for n in looks:
        mean_a, mean_b = cum_a[:, n - 1] / n, cum_b[:, n - 1] / n
        var_a = (cum_a2[:, n - 1] - n * mean_a**2) / (n - 1)
        var_b = (cum_b2[:, n - 1] - n * mean_b**2) / (n - 1)
        v = var_a / n + var_b / n
        if always_valid:
            radius = stats.confidence_sequence_radius(v, (var_a + var_b) / 1000, alpha)
        else:
            radius = scipy_stats.norm.ppf(1 - alpha / 2) * np.sqrt(v)
        rejected |= np.abs(mean_b - mean_a) > radius
    return float(rejected.mean())


def test_confidence_sequence_keeps_alpha_under_peeking() -> None:
    assert _peeking_false_positives(always_valid=True) <= 0.05
    # ...whereas a fixed-horizon test looked at the same way rejects far more often.
    assert _peeking_false_positives(always_valid=False) > 0.15


def test_confidence_sequence_detects_a_real_effect() -> None:
    rng = np.random.default_rng(3)
    control = Summary.of_values(rng.normal(0.0, 1.0, 3000))
    variant = Summary.of_values(rng.normal(0.3, 1.0, 3000))
    sequence = stats.confidence_sequence(control, variant)
    fixed = stats.welch_ttest(control, variant)
    assert sequence.significant
    assert sequence.ci_low < fixed.ci_low  # wider than the fixed-horizon interval
    assert sequence.ci_low < 0.3 < sequence.ci_high


def test_cuped_reduces_variance_and_keeps_the_effect() -> None:
    rng = np.random.default_rng(5)
    pre_a, pre_b = rng.normal(10, 3, 2000), rng.normal(10, 3, 2000)
    y_a = pre_a + rng.normal(0, 1, 2000)
    y_b = pre_b + 0.2 + rng.normal(0, 1, 2000)
    result = stats.cuped(y_a, pre_a, y_b, pre_b)
    x, y = np.concatenate([pre_a, pre_b]), np.concatenate([y_a, y_b])
    rho = np.corrcoef(x, y)[0, 1]
    assert result.theta == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9)
    assert result.variance_reduction == pytest.approx(rho**2, abs=1e-9)
    plain = stats.welch_ttest(Summary.of_values(y_a), Summary.of_values(y_b))
    adjusted = stats.welch_ttest(result.control, result.variant)
    assert adjusted.ci_high - adjusted.ci_low < (plain.ci_high - plain.ci_low) / 2
    assert adjusted.ci_low < 0.2 < adjusted.ci_high


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_multiple_testing_matches_statsmodels(method: str) -> None:
    rng = np.random.default_rng(9)
    # Few cases: statsmodels' multipletests runs gc.collect() on every call.
    cases = [rng.uniform(0, 1, size) ** 3 for size in rng.integers(1, 30, 8)]
    cases += [np.array([0.01, 0.01, 0.04]), np.array([1.0, 0.0]), np.array([0.5])]  # ties, ends
    for p_values in cases:
        reference = multipletests(p_values, method="holm" if method == "holm" else "fdr_bh")[1]
        np.testing.assert_allclose(
            stats.adjust_p_values(list(p_values), method), reference, atol=1e-12
        )


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Summary.of_conversions(11, 10)
    with pytest.raises(InvalidInput):
        stats.welch_ttest(Summary(1, 1.0, 1.0), Summary(5, 5.0, 5.0))
    with pytest.raises(InvalidInput):
        stats.two_proportion_ztest(Summary(5, 1, 1), Summary(5, 1, 1), alpha=1.5)
    with pytest.raises(InvalidInput):
        stats.adjust_p_values([0.5], "bonferroni-ish")
