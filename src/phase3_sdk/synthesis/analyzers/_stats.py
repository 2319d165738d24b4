"""The few statistics the analyzers share, in plain numpy and ``math`` (no scipy dependency).

Every built-in analyzer scores a pattern the same way, see :func:`confidence`: the significance of its
test after a Bonferroni correction for the number of candidates it tried, times an effect size in 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): exact for small samples, normal approximation for large ones."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    variance = n * p * (1.0 - p)
    if variance >= 25.0:
        # Continuity-corrected normal tail; accurate to well under the thresholds we compare with.
        return normal_sf((k - 0.5 - n * p) / math.sqrt(variance))
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
        total += term
        # Past the mode the terms shrink geometrically, so stop once they no longer matter.
        if i > n * p and term < total * 1e-12:
            break
    return min(1.0, total)


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function, evaluated by the modified Lentz method.

    It converges quickly for ``x < (a + 1) / (a + b + 2)``; :func:`regularized_beta` uses the symmetry
    ``I_x(a, b) = 1 - I_{1-x}(b, a)`` to stay on that side.
    """
    tiny = 1e-300  # stands in for a zero denominator so the recurrence can go on
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        # Even step: the coefficient m (b - m) x / ((a + 2m - 1)(a + 2m)).
        numerator = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        result *= d * c
        # Odd step: the coefficient -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        result *= step
        if abs(step - 1.0) < 1e-15:
            break
    return result


def _log_gamma_ratio(x: float, h: float) -> float:
    """``log(Gamma(x + h) / Gamma(x))`` for large ``x`` and small ``h``, without cancelling two huge lgammas.

    The asymptotic series ``h log x + sum_k (-1)^(k+1) (B_{k+1}(h) - B_{k+1}) / (k (k+1) x^k)`` (Bernoulli
    polynomials), to ``k = 3``: its error is below ``1e-19`` for ``x >= 1e5`` and ``h <= 10``.
    """
    h2 = h * h
    return (
        h * math.log(x)
        + (h2 - h) / (2.0 * x)
        - (h2 * h - 1.5 * h2 + 0.5 * h) / (6.0 * x * x)
        + (h2 * h2 - 2.0 * h2 * h + h2) / (12.0 * x**3)
    )


def _log_beta(a: float, b: float) -> float:
    """``log B(a, b)``; with one huge and one small argument (a t test: ``df/2``, ``1/2``) via the ratio."""
    small, big = (a, b) if a <= b else (b, a)
    if big >= 1e5 and small <= 10.0:
        # lgamma(big) is ~1e6 or more: subtracting two of them would lose the digits that matter.
        return math.lgamma(small) - _log_gamma_ratio(big, small)
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def regularized_beta(x: float, a: float, b: float, *, complement: float | None = None) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``.

    ``complement`` is ``1 - x`` when the caller can compute it without cancellation (a t statistic
    can: ``t^2 / (df + t^2)``); it keeps tails accurate near ``x = 1``.
    """
    y = 1.0 - x if complement is None else complement
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    # The smaller of x and y is exact, so the log of the other is log1p of minus it: with a huge a or b,
    # log(0.999...) rounded to double would be multiplied into a visible error.
    log_x = math.log1p(-y) if y < 0.5 else math.log(x)
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    # log of x^a y^b / B(a, b), the prefactor shared by both sides of the symmetry.
    log_front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(y, b, a) / b


def t_to_p_two_sided(t: float, df: float) -> float:
    """Exact two-sided p-value ``P(|T| >= |t|)`` of a Student t statistic with ``df`` degrees of freedom.

    ``df`` may be any positive real (Welch's test gives fractional ones); the tail is the regularized
    incomplete beta ``I_{df/(df+t^2)}(df/2, 1/2)``. ``df <= 0`` (no information) gives 1. Relative error
    is about 1e-12 for small df and stays below 1e-8 up to df = 1e7 (more than any analyzer's sample);
    beyond that it grows roughly as ``df * 1e-16``, as the continued fraction's first term cancels.
    """
    if df <= 0 or math.isnan(t) or math.isnan(df):
        return 1.0
    if math.isinf(t):
        return 0.0
    t2 = t * t
    if t2 == 0.0:
        return 1.0
    denominator = df + t2
    p = regularized_beta(df / denominator, df / 2.0, 0.5, complement=t2 / denominator)
    return max(0.0, min(1.0, p))


@dataclass(frozen=True, slots=True)
class Trend:
    """A least-squares line ``y = intercept + slope * x`` with its test statistics."""

    slope: float
    intercept: float
    r: float
    t: float
    p_value: float
    n: int

    def change_over(self, span: float) -> float:
        """The fitted change of y over an x-interval of length ``span``."""
        return self.slope * span


def linear_trend(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Trend | None:
    """Fit y against x by least squares; ``None`` when there are fewer than 4 points or no x spread."""
    n = int(x.size)
    if n < 4:
        return None
    xm, ym = float(x.mean()), float(y.mean())
    dx, dy = x - xm, y - ym
    sxx = float(dx @ dx)
    syy = float(dy @ dy)
    if sxx <= 0.0:
        return None
    slope = float(dx @ dy) / sxx
    if syy <= 0.0:
        return Trend(slope, ym - slope * xm, 0.0, 0.0, 1.0, n)
    r = max(-1.0, min(1.0, float(dx @ dy) / math.sqrt(sxx * syy)))
    df = n - 2
    t = r * math.sqrt(df / max(1e-12, 1.0 - r * r))
    return Trend(slope, ym - slope * xm, r, t, t_to_p_two_sided(t, df), n)


def welch_t(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Welch's t statistic of mean(a) - mean(b) and its two-sided p-value."""
    if a.size < 2 or b.size < 2:
        return 0.0, 1.0
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return 0.0, 1.0
    t = (float(a.mean()) - float(b.mean())) / se
    df = (va + vb) ** 2 / ((va**2) / (a.size - 1) + (vb**2) / (b.size - 1)) if va + vb > 0 else 1.0
    return t, t_to_p_two_sided(t, df)


def adjusted(p_value: float, n_tests: int) -> float:
    """Bonferroni-adjusted p-value: the chance any of ``n_tests`` null candidates scores this well."""
    return min(1.0, p_value * max(1, n_tests))


def confidence(p_value: float, n_tests: int, effect: float) -> float:
    """Confidence of a built-in pattern: ``(1 - Bonferroni-adjusted p) * effect``, clamped to 0..1.

    The first factor is how sure we are the pattern is not chance among everything the analyzer tried;
    ``effect`` (0..1, defined per analyzer) is how strong it is. A strong but barely significant
    pattern and a significant but weak one both score low; only significant and strong scores high.
    """
    value = (1.0 - adjusted(p_value, n_tests)) * max(0.0, min(1.0, effect))
    return round(max(0.0, min(1.0, value)), 4)
