"""Layer 2, emotional patterns: weekly and daily emotion rhythms, recurring emotions, affect trends."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from phase3_sdk.synthesis.analyzers._features import (
    DAY_PARTS,
    WEEKDAYS,
    Features,
    distinctive_terms,
    features_for,
)
from phase3_sdk.synthesis.analyzers._stats import (
    adjusted,
    binom_sf,
    confidence,
    linear_trend,
    t_to_p_two_sided,
)
from phase3_sdk.synthesis.analyzers.base import cap_ids
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, slug

_SLOTS = 28
_MAX_WINDOW = 3  # up to 18 hours: long enough for "Sunday evening to Monday morning"


def _slot_name(slot: int) -> str:
    return f"{WEEKDAYS[slot // 4].capitalize()} {DAY_PARTS[slot % 4]}"


class EmotionalPatternsAnalyzer:
    """Finds when emotions recur and how affect moves over time.

    Patterns and how they are decided:

    ``weekly_emotion_rhythm``
        For each primary emotion, every window of 1-3 consecutive six-hour slots of the week is
        tested: is the emotion more frequent there than the user's overall activity in that window
        predicts (one-sided binomial test)? The best window is reported when its Bonferroni-adjusted
        p is below ``alpha``, it holds at least ``min_support`` memories and at least twice the
        expected count. Words distinctive of those memories ("meeting") name the subject, and the
        evidence is narrowed to memories that mention it.
    ``daily_emotion_rhythm``
        The same test over the four parts of the day, for emotions without a weekly rhythm.
    ``recurring_emotion``
        An emotion that is the primary emotion of at least ``recurring_share`` of all memories
        and shows up in at least half of the 30-day periods.
    ``affect_trend``
        Least-squares trend of valence, arousal and dominance over time, reported when significant
        and the fitted change over the history is at least ``min_change``.
    ``affect_baseline``
        A mean valence clearly away from neutral (|mean| >= 0.25 and significant).

    Confidence is ``(1 - Bonferroni-adjusted p) * effect`` (see ``_stats.confidence``), with effect
    = the share of the window's memories beyond chance (``1 - expected/observed``) for rhythms,
    ``min(1, |change| / 0.5)`` for trends, ``min(1, |mean valence| / 0.5)`` for the baseline. For
    ``recurring_emotion``, which has no null model, it is ``min(1, share / 0.4) * period coverage``.
    """

    synthesis_type: Literal["emotional_patterns"] = "emotional_patterns"

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        min_support: int = 6,
        alpha: float = 0.001,
        min_lift: float = 2.0,
        recurring_share: float = 0.2,
        min_change: float = 0.2,
    ) -> None:
        self.tz = tz
        self.min_support = min_support
        self.alpha = alpha
        self.min_lift = min_lift
        self.recurring_share = recurring_share
        self.min_change = min_change

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the emotional patterns in ``memories``."""
        if len(memories) < 2 * self.min_support:
            return []
        f = features_for(memories, self.tz)
        patterns: list[DetectedPattern] = []
        emotions = Counter(e for e in f.emotions if e)
        frequent = sorted(e for e, c in emotions.items() if c >= self.min_support)
        emotion_arr = np.array([e or "" for e in f.emotions], dtype=object)
        masks = {e: emotion_arr == e for e in frequent}
        weekly_found: set[str] = set()
        n_weekly_tests = max(1, len(frequent) * _SLOTS * _MAX_WINDOW)
        for emotion in frequent:
            pattern = self._weekly(f, emotion, masks[emotion], n_weekly_tests)
            if pattern is not None:
                weekly_found.add(emotion)
                patterns.append(pattern)
        n_daily_tests = max(1, len(frequent) * len(DAY_PARTS))
        for emotion in frequent:
            if emotion not in weekly_found:
                pattern = self._daily(f, emotion, masks[emotion], n_daily_tests)
                if pattern is not None:
                    patterns.append(pattern)
        patterns.extend(self._recurring(f, emotions, masks))
        patterns.extend(self._trends(f))
        baseline = self._baseline(f)
        if baseline is not None:
            patterns.append(baseline)
        return patterns

    def _weekly(
        self, f: Features, emotion: str, mask: npt.NDArray[np.bool_], n_tests: int
    ) -> DetectedPattern | None:
        total = int(mask.sum())
        counts = np.bincount(f.slot[mask], minlength=_SLOTS)
        share = np.bincount(f.slot, minlength=_SLOTS) / f.n
        best: tuple[float, list[int], int, float] | None = None
        for length in range(1, _MAX_WINDOW + 1):
            for start in range(_SLOTS):
                slots = [(start + i) % _SLOTS for i in range(length)]
                k = int(counts[slots].sum())
                p0 = float(share[slots].sum())
                if k < self.min_support or p0 <= 0.0 or k < self.min_lift * total * p0:
                    continue
                p = binom_sf(k, total, p0)
                if best is None or p < best[0]:
                    best = (p, slots, k, p0)
        if best is None or adjusted(best[0], n_tests) > self.alpha:
            return None
        p, slots, k, p0 = best
        in_window = mask & np.isin(f.slot, slots)
        expected = total * p0
        terms = distinctive_terms(f, in_window, mask & ~in_window)
        evidence_mask = in_window
        if terms:
            word = terms[0][0]
            evidence_mask = in_window & np.array([word in t for t in f.tokens], dtype=bool)
        label = (
            _slot_name(slots[0]) if len(slots) == 1 else f"{_slot_name(slots[0])} to {_slot_name(slots[-1])}"
        )
        about = f", usually about {' and '.join(repr(t[0]) for t in terms)}" if terms else ""
        ids = f.index_of(evidence_mask)
        valence = float(f.valence[in_window].mean())
        arousal = float(f.arousal[in_window].mean())
        description = (
            f"Feeling {emotion} recurs {label}{about}: {k} of {total} {emotion} memories fall in that "
            "window, "
            f"{k / expected:.1f}x what your overall activity predicts (mean valence {valence:+.2f}, "
            f"arousal {arousal:.2f})"
        )
        subject = terms[0][0] if terms else _slot_name(slots[0])
        evidence: dict[str, Any] = {
            "memory_ids": cap_ids(ids),
            "memory_count": len(ids),
            "emotion": emotion,
            "window": label,
            "window_slots": slots,
            "window_count": k,
            "expected_count": round(expected, 2),
            "emotion_total": total,
            "lift": round(k / expected, 3),
            "p_value": p,
            "p_adjusted": adjusted(p, n_tests),
            "mean_valence": round(valence, 3),
            "mean_arousal": round(arousal, 3),
            "terms": [t[0] for t in terms],
        }
        return DetectedPattern(
            pattern_type="weekly_emotion_rhythm",
            layer=2,
            description=description,
            evidence=evidence,
            confidence=confidence(p, n_tests, 1.0 - expected / k),
            key=f"weekly_emotion_rhythm:{slug(emotion)}:{slug(subject)}",
        )

    def _daily(
        self, f: Features, emotion: str, mask: npt.NDArray[np.bool_], n_tests: int
    ) -> DetectedPattern | None:
        total = int(mask.sum())
        part = f.slot % 4
        counts = np.bincount(part[mask], minlength=4)
        share = np.bincount(part, minlength=4) / f.n
        best: tuple[float, int] | None = None
        for i in range(4):
            k = int(counts[i])
            if k < self.min_support or share[i] <= 0 or k < self.min_lift * total * share[i]:
                continue
            p = binom_sf(k, total, float(share[i]))
            if best is None or p < best[0]:
                best = (p, i)
        if best is None or adjusted(best[0], n_tests) > self.alpha:
            return None
        p, i = best
        k, expected = int(counts[i]), total * float(share[i])
        in_part = mask & (part == i)
        ids = f.index_of(in_part)
        return DetectedPattern(
            pattern_type="daily_emotion_rhythm",
            layer=2,
            description=(
                f"Feeling {emotion} concentrates in the {DAY_PARTS[i]}: {k} of {total} {emotion} memories, "
                f"{k / expected:.1f}x the expected share"
            ),
            evidence={
                "memory_ids": cap_ids(ids),
                "memory_count": len(ids),
                "emotion": emotion,
                "part_of_day": DAY_PARTS[i],
                "count": k,
                "expected_count": round(expected, 2),
                "p_value": p,
                "p_adjusted": adjusted(p, n_tests),
            },
            confidence=confidence(p, n_tests, 1.0 - expected / k),
            key=f"daily_emotion_rhythm:{slug(emotion)}:{DAY_PARTS[i]}",
        )

    def _recurring(
        self, f: Features, emotions: Counter[str], masks: dict[str, npt.NDArray[np.bool_]]
    ) -> list[DetectedPattern]:
        patterns: list[DetectedPattern] = []
        period = (f.days // 30).astype(np.int64)
        n_periods = int(period.max()) + 1 if f.n else 0
        for emotion, mask in masks.items():
            share = emotions[emotion] / f.n
            if share < self.recurring_share:
                continue
            coverage = len(set(period[mask].tolist())) / max(1, n_periods)
            if coverage < 0.5:
                continue
            ids = f.index_of(mask)
            valence = float(f.valence[mask].mean())
            patterns.append(
                DetectedPattern(
                    pattern_type="recurring_emotion",
                    layer=2,
                    description=(
                        f"{emotion.capitalize()} is your most recurring feeling: {share:.0%} of "
                        "memories, present "
                        f"in {coverage:.0%} of months (mean valence {valence:+.2f})"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids[::-1]),
                        "memory_count": len(ids),
                        "emotion": emotion,
                        "share": round(share, 4),
                        "month_coverage": round(coverage, 4),
                        "mean_valence": round(valence, 3),
                    },
                    confidence=round(min(1.0, share / 0.4) * coverage, 4),
                    key=f"recurring_emotion:{slug(emotion)}",
                )
            )
        return patterns

    def _trends(self, f: Features) -> list[DetectedPattern]:
        patterns: list[DetectedPattern] = []
        span = f.span_days
        if span < 14:
            return patterns
        dimensions = {"valence": f.valence, "arousal": f.arousal, "dominance": f.dominance}
        for name, values in dimensions.items():
            trend = linear_trend(f.days, values)
            if trend is None or adjusted(trend.p_value, len(dimensions)) > self.alpha:
                continue
            change = trend.change_over(span)
            if abs(change) < self.min_change:
                continue
            direction = "rising" if change > 0 else "falling"
            ends = f.ids[:100] + f.ids[-100:] if f.n > 200 else f.ids
            patterns.append(
                DetectedPattern(
                    pattern_type="affect_trend",
                    layer=2,
                    description=(
                        f"Your {name} has been {direction} over {span / 7:.0f} weeks: fitted change "
                        f"{change:+.2f} (from {trend.intercept:+.2f} to {trend.intercept + change:+.2f})"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ends),
                        "memory_count": f.n,
                        "dimension": name,
                        "slope_per_week": round(trend.slope * 7, 5),
                        "change": round(change, 4),
                        "r": round(trend.r, 4),
                        "p_value": trend.p_value,
                        "span_days": round(span, 1),
                    },
                    confidence=confidence(trend.p_value, len(dimensions), abs(change) / 0.5),
                    key=f"affect_trend:{name}:{direction}",
                )
            )
        return patterns

    def _baseline(self, f: Features) -> DetectedPattern | None:
        mean = float(f.valence.mean())
        sd = float(f.valence.std(ddof=1)) if f.n > 1 else 0.0
        if abs(mean) < 0.25 or sd == 0.0:
            return None
        p = t_to_p_two_sided(mean / (sd / math.sqrt(f.n)), f.n - 1)
        if p > self.alpha:
            return None
        tone = "negative" if mean < 0 else "positive"
        order = np.argsort(f.valence if mean < 0 else -f.valence)
        return DetectedPattern(
            pattern_type="affect_baseline",
            layer=2,
            description=f"Your memories lean {tone}: mean valence {mean:+.2f} over {f.n} memories",
            evidence={
                "memory_ids": cap_ids([f.ids[i] for i in order[:50]]),
                "memory_count": f.n,
                "mean_valence": round(mean, 4),
                "sd_valence": round(sd, 4),
                "mean_arousal": round(float(f.arousal.mean()), 4),
                "mean_dominance": round(float(f.dominance.mean()), 4),
                "p_value": p,
            },
            confidence=confidence(p, 1, abs(mean) / 0.5),
            key=f"affect_baseline:valence:{tone}",
        )
