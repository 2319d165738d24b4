"""Layer 3, relational memory: who recurs in a user's memories, and how the warmth around them moves."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import tzinfo
from typing import Literal

import numpy as np

from phase3_sdk.synthesis.analyzers._features import Features, features_for
from phase3_sdk.synthesis.analyzers._stats import adjusted, confidence, linear_trend
from phase3_sdk.synthesis.analyzers.base import cap_ids
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, slug


class RelationalMemoryAnalyzer:
    """Finds the people a user keeps coming back to, and how the warmth around them moves.

    Names come from ``attachment_context`` and from words capitalised mid-sentence that never appear
    lowercase (see ``Features.people``); a text-only name counts as a person when it follows "with",
    "called", "met" and the like at least twice, which keeps places and languages out.

    ``relationship_warmth``
        Least-squares trend of the valence of the memories mentioning a person, over time, reported
        when the Bonferroni-adjusted p (over all people tested) is below ``alpha`` and the fitted
        change over the period of mentions is at least ``min_change``: "a relationship mentioned with
        rising warmth". Confidence = ``(1 - adjusted p) * min(1, |change| / 0.6)``.
    ``recurring_relationship``
        The ``top`` most-mentioned people without a warmth trend, each in at least ``min_support``
        memories over at least 3 distinct weeks; confidence = ``min(1, weeks mentioned / 12)``, the
        regularity of the mentions (no null model: a name that recurs simply recurs).
    """

    synthesis_type: Literal["relational_memory"] = "relational_memory"

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        min_support: int = 6,
        alpha: float = 0.001,
        min_change: float = 0.3,
        top: int = 5,
    ) -> None:
        self.tz = tz
        self.min_support = min_support
        self.alpha = alpha
        self.min_change = min_change
        self.top = top

    @staticmethod
    def _is_person(f: Features, name: str) -> bool:
        # Capitalised words include places and languages ("Lisbon", "Spanish"); a name counts as a
        # person when the app put it in attachment_context or the user spends time "with" it.
        if any(m.attachment_context and name in m.attachment_context for m in f.memories):
            return True
        together = re.compile(
            rf"\b(?:with|and|told|called|asked|texted|met) {re.escape(name)}\b|\b{re.escape(name)} and I\b"
        )
        return sum(1 for text in f.user_texts if name in text and together.search(text)) >= 2

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the relational patterns in ``memories``."""
        if len(memories) < self.min_support:
            return []
        f = features_for(memories, self.tz)
        counts = Counter(p for people in f.people for p in people)
        candidates = sorted(
            (p for p, c in counts.items() if c >= self.min_support), key=lambda p: (-counts[p], p)
        )
        masks = {p: np.array([p in people for people in f.people], dtype=bool) for p in candidates}
        candidates = [
            p for p in candidates if np.unique(f.week[masks[p]]).size >= 3 and self._is_person(f, p)
        ]
        n_tests = max(1, len(candidates))
        patterns: list[DetectedPattern] = []
        trending: set[str] = set()
        for person in candidates:
            mask = masks[person]
            x, y = f.days[mask], f.valence[mask]
            trend = linear_trend(x, y)
            if trend is None or adjusted(trend.p_value, n_tests) > self.alpha:
                continue
            span = float(x[-1] - x[0])
            change = trend.change_over(span)
            if abs(change) < self.min_change:
                continue
            trending.add(person)
            direction = "rising" if change > 0 else "cooling"
            start = trend.intercept + trend.slope * float(x[0])
            ids = f.index_of(mask)
            patterns.append(
                DetectedPattern(
                    pattern_type="relationship_warmth",
                    layer=3,
                    description=(
                        f"{person} comes up with {direction} warmth: the valence of memories mentioning "
                        f"{person} "
                        f"moved from {start:+.2f} to {start + change:+.2f} over {span / 7:.0f} weeks "
                        f"({int(mask.sum())} memories)"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids),
                        "memory_count": len(ids),
                        "person": person,
                        "valence_start": round(start, 4),
                        "valence_end": round(start + change, 4),
                        "change": round(change, 4),
                        "slope_per_week": round(trend.slope * 7, 5),
                        "r": round(trend.r, 4),
                        "p_value": trend.p_value,
                        "p_adjusted": adjusted(trend.p_value, n_tests),
                        "span_days": round(span, 1),
                    },
                    confidence=confidence(trend.p_value, n_tests, abs(change) / 0.6),
                    key=f"relationship_warmth:{slug(person)}:{direction}",
                )
            )
        for person in [p for p in candidates if p not in trending][: self.top]:
            mask = masks[person]
            ids = f.index_of(mask)
            weeks = int(np.unique(f.week[mask]).size)
            valence = float(f.valence[mask].mean())
            patterns.append(
                DetectedPattern(
                    pattern_type="recurring_relationship",
                    layer=3,
                    description=(
                        f"{person} is a recurring presence: mentioned in {len(ids)} memories across "
                        f"{weeks} weeks "
                        f"(mean valence {valence:+.2f})"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids[::-1]),
                        "memory_count": len(ids),
                        "person": person,
                        "weeks_mentioned": weeks,
                        "mean_valence": round(valence, 4),
                    },
                    confidence=round(min(1.0, weeks / 12), 4),
                    key=f"recurring_relationship:{slug(person)}",
                )
            )
        return patterns
