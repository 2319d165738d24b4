"""The Student t p-value the analyzers use, checked against closed forms and an independent integral."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phase3_sdk.synthesis.analyzers._stats import (
    _log_gamma_ratio,
    normal_sf,
    regularized_beta,
    t_to_p_two_sided,
    welch_t,
)


def closed_form_p(t: float, df: int) -> float:
    """Two-sided p from the textbook closed forms of the t CDF for 1..4 degrees of freedom."""
    a = abs(t)
    if df == 1:  # Cauchy
        return 1.0 - 2.0 / math.pi * math.atan(a)
    if df == 2:
        return 1.0 - a / math.sqrt(2.0 + a * a)
    if df == 3:
        u = a / math.sqrt(3.0)
        return 1.0 - 2.0 / math.pi * (u / (1.0 + u * u) + math.atan(u))
    if df == 4:
        s = a * a / (4.0 + a * a)
        return 1.0 - math.sqrt(s) * (1.0 + (1.0 - s) / 2.0)
    raise ValueError(df)


def integrated_p(t: float, df: float) -> float:
    """Two-sided p as 1 - 2 * (integral of the t density from 0 to |t|), by composite Simpson's rule."""
    n = 20_000  # even; the density is smooth on [0, |t|], so this is accurate to ~1e-12
    x = np.linspace(0.0, abs(t), n + 1)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
    weights = np.ones(n + 1)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return 1.0 - 2.0 * float(weights @ density) * (abs(t) / n) / 3.0


def test_known_values() -> None:
    assert t_to_p_two_sided(2.0, 1) == pytest.approx(0.29517, abs=5e-6)
    assert t_to_p_two_sided(2.0, 3) == pytest.approx(0.13933, abs=5e-6)
    assert t_to_p_two_sided(-2.0, 3) == t_to_p_two_sided(2.0, 3)
    # The usual 5% critical values of t tables.
    assert t_to_p_two_sided(12.706, 1) == pytest.approx(0.05, abs=1e-4)
    assert t_to_p_two_sided(2.228, 10) == pytest.approx(0.05, abs=1e-4)
    assert t_to_p_two_sided(2.042, 30) == pytest.approx(0.05, abs=1e-4)


@pytest.mark.parametrize("df", [1, 2, 3, 4])
@pytest.mark.parametrize("t", [0.01, 0.3, 1.0, 2.0, 4.5, 30.0])
def test_matches_the_closed_forms_for_small_df(t: float, df: int) -> None:
    assert t_to_p_two_sided(t, df) == pytest.approx(closed_form_p(t, df), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("df", [0.7, 1.3, 2.5, 5.75, 17.2])
@pytest.mark.parametrize("t", [0.4, 1.7, 3.2])
def test_fractional_df_matches_the_integrated_density(t: float, df: float) -> None:
    assert t_to_p_two_sided(t, df) == pytest.approx(integrated_p(t, df), abs=1e-9)


def test_large_df_tends_to_the_normal() -> None:
    for z in (0.5, 1.96, 3.0):
        assert t_to_p_two_sided(z, 1e7) == pytest.approx(2.0 * normal_sf(z), rel=1e-5)
    # And it gets there from above: heavier tails at finite df.
    assert t_to_p_two_sided(1.96, 100) > t_to_p_two_sided(1.96, 1000) > 2.0 * normal_sf(1.96)


def test_tails_stay_accurate_far_out() -> None:
    # df = 1: p = (2 / pi) * atan(1 / t), computed without the cancellation of 1 - atan(t).
    assert t_to_p_two_sided(1e6, 1) == pytest.approx(2.0 / math.pi * math.atan(1e-6), rel=1e-9)
    assert 0.0 < t_to_p_two_sided(60.0, 30) < 1e-30


def test_edges() -> None:
    assert t_to_p_two_sided(0.0, 5) == 1.0
    assert t_to_p_two_sided(2.0, 0) == 1.0
    assert t_to_p_two_sided(math.inf, 5) == 0.0
    assert t_to_p_two_sided(math.nan, 5) == 1.0
    assert regularized_beta(0.0, 2.0, 3.0) == 0.0
    assert regularized_beta(1.0, 2.0, 3.0) == 1.0
    # I_x(1, 1) = x, I_x(a, 1) = x^a
    assert regularized_beta(0.3, 1.0, 1.0) == pytest.approx(0.3, rel=1e-12)
    assert regularized_beta(0.6, 2.5, 1.0) == pytest.approx(0.6**2.5, rel=1e-12)


def test_welch_uses_the_fractional_df_exactly() -> None:
    a = np.array([1.0, 2.0, 3.0, 9.0])
    b = np.array([5.0, 5.1, 4.9, 5.2, 5.0, 4.8])
    t, p = welch_t(a, b)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    assert 2.0 < df < 4.0
    assert df != round(df)
    assert t == pytest.approx((a.mean() - b.mean()) / math.sqrt(va + vb))
    assert p == pytest.approx(integrated_p(t, df), abs=1e-9)


@pytest.mark.parametrize("x", [1e5, 3.3e6, 1e9])
def test_the_log_gamma_ratio_for_huge_arguments_meets_the_identities(x: float) -> None:
    # Gamma(x + 1) / Gamma(x) = x and Gamma(x + 2) / Gamma(x) = x (x + 1), exactly.
    assert _log_gamma_ratio(x, 1.0) == pytest.approx(math.log(x), rel=1e-15)
    assert _log_gamma_ratio(x, 2.0) == pytest.approx(math.log(x) + math.log1p(x), rel=1e-15)
    # And it agrees with the plain lgamma difference to that difference's own rounding (which is the
    # reason the ratio exists: at x = 1e9 that rounding is already 4e-6).
    rounding = 4 * 2.0**-52 * math.lgamma(x)
    assert _log_gamma_ratio(x, 0.5) == pytest.approx(math.lgamma(x + 0.5) - math.lgamma(x), abs=rounding)


def test_large_df_stays_accurate() -> None:
    # For huge df the t tail is the normal one plus 2 * phi(t) * (t^3 + t) / (4 df) to first order (the
    # second-order term is below 1e-9 of p here).
    for df in (1e6, 3e6, 1e7):
        for t in (1.0, 1.96, 4.0):
            phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
            first_order = 2.0 * (normal_sf(t) + phi * (t**3 + t) / (4 * df))
            assert t_to_p_two_sided(t, df) == pytest.approx(first_order, rel=1e-8)
