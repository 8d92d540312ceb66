"""BG/NBD and Gamma-Gamma fits against the published CDNOW estimates.

Source: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2), 275-284 (r = 0.243, α = 4.414, a = 0.793,
b = 2.426, LL = -9582.4 on the 2,357-customer CDNOW sample, 39 weeks of calibration); and
Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" (p = 6.25, q = 3.74,
γ = 15.44 on its 946 repeat buyers). The data is the copy shipped by ``lifetimes`` (a test-only
dependency; the product does not import it), which also serves as a reference for predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from clientvault.analytics import clv
from clientvault.errors import InvalidInput

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> clv.RfmSummary:
    data = load_cdnow_summary_data_with_monetary_value()
    return clv.RfmSummary(
        data["frequency"].to_numpy(float),
        data["recency"].to_numpy(float),
        data["T"].to_numpy(float),
        data["monetary_value"].to_numpy(float),
    )


@pytest.fixture(scope="module")
def bgnbd(cdnow: clv.RfmSummary) -> clv.BgNbd:
    return clv.fit_bgnbd(cdnow)


def test_bgnbd_matches_published_cdnow_estimates(bgnbd: clv.BgNbd) -> None:
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(bgnbd, name) == pytest.approx(published, rel=0.01), name
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert bgnbd.customers == 2357


def test_gamma_gamma_matches_published_cdnow_estimates(cdnow: clv.RfmSummary) -> None:
    fitted = clv.fit_gamma_gamma(cdnow)
    for name, published in PUBLISHED_GG.items():
        assert getattr(fitted, name) == pytest.approx(published, rel=0.01), name
    assert fitted.customers == 946


def test_predictions_match_lifetimes(cdnow: clv.RfmSummary, bgnbd: clv.BgNbd) -> None:
    data = load_cdnow_summary_data_with_monetary_value()
    reference = BetaGeoFitter()
    reference.params_ = {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b}
    expected = reference.conditional_expected_number_of_purchases_up_to_time(
        39, data["frequency"], data["recency"], data["T"]
    )
    alive = reference.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
    np.testing.assert_allclose(clv.expected_purchases(bgnbd, cdnow, 39), expected, rtol=1e-6)
    np.testing.assert_allclose(clv.probability_alive(bgnbd, cdnow), alive, rtol=1e-6)
    curve = reference.expected_number_of_purchases_up_to_time(np.array([10.0, 39.0, 78.0]))
    np.testing.assert_allclose(
        clv.expected_purchases_new(bgnbd, np.array([10.0, 39.0, 78.0])), curve, rtol=1e-6
    )
    spend = clv.fit_gamma_gamma(cdnow)
    gg = GammaGammaFitter()
    gg.params_ = {"p": spend.p, "q": spend.q, "v": spend.gamma}
    value = gg.conditional_expected_average_profit(data["frequency"], data["monetary_value"])
    np.testing.assert_allclose(clv.expected_average_value(spend, cdnow), value, rtol=1e-6)


def test_too_little_data_is_refused() -> None:
    tiny = clv.RfmSummary(np.zeros(3), np.zeros(3), np.ones(3), np.zeros(3))
    with pytest.raises(InvalidInput):
        clv.fit_bgnbd(tiny)
    with pytest.raises(InvalidInput):
        clv.RfmSummary(np.ones(2), np.array([3.0, 1.0]), np.array([2.0, 2.0]), np.zeros(2))


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    # Mean spends of 8,000 repeat buyers drawn from the model itself (p=6, q=3.7, γ=15):
    # a start far from the answer once sent Nelder–Mead alone to p → ∞, γ → 0.
    rng = np.random.default_rng(4)
    x = rng.integers(1, 12, 8000).astype(float)
    nu = rng.gamma(3.7, 1 / 15.0, x.size)
    m = rng.gamma(6.0 * x, 1 / (nu * x))
    summary = clv.RfmSummary(x, np.zeros_like(x), np.ones_like(x), m)
    fitted = clv.fit_gamma_gamma(summary)
    assert fitted.p == pytest.approx(6.0, rel=0.15)
    assert fitted.q == pytest.approx(3.7, rel=0.15)
    assert fitted.gamma == pytest.approx(15.0, rel=0.25)
