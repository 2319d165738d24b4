"""Layers 5-7, integration (full_synthesis only): links across layers and the themes that matter most."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import tzinfo
from typing import Literal

import numpy as np
import numpy.typing as npt

from phase3_sdk.synthesis.analyzers._features import Features, features_for
from phase3_sdk.synthesis.analyzers._stats import adjusted, binom_sf, confidence, welch_t
from phase3_sdk.synthesis.analyzers._text import FUTURE
from phase3_sdk.synthesis.analyzers.base import cap_ids
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, slug


class IntegrationAnalyzer:
    """Connects the single-layer views; run by ``full_synthesis`` only.

    Entities are ``extracted_topics`` and people's names; entities with identical memory sets (a
    person always tagged ``friendship``) are tested once, under the person's name.

    ``emotion_link`` (layer 5)
        An emotion that reliably comes with a person or topic: among the entity's memories the
        emotion is at least ``min_lift`` times its base rate and is the primary emotion of at least
        30% of them (one-sided binomial test, Bonferroni over all emotion x entity pairs tried).
        Confidence = ``(1 - adjusted p) * (share - base rate) / (1 - base rate)``: how much of the
        entity's memories the link explains beyond chance.
    ``aspiration_affect`` (layer 6)
        Whether future-oriented memories (goal statements) carry a different valence from the rest
        (Welch t-test), when the difference is at least ``min_difference``. Confidence =
        ``(1 - p) * min(1, |difference| / 0.5)``.
    ``core_theme`` (layer 7)
        An entity whose memories carry clearly higher emotional salience than the rest (Welch
        t-test, Bonferroni over entities, difference at least ``min_difference``): what weighs most
        for the user. Confidence = ``(1 - adjusted p) * min(1, difference / 0.3)``.
    """

    synthesis_type: Literal["full_synthesis"] = "full_synthesis"

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        min_support: int = 6,
        alpha: float = 0.001,
        min_lift: float = 2.0,
        min_difference: float = 0.15,
    ) -> None:
        self.tz = tz
        self.min_support = min_support
        self.alpha = alpha
        self.min_lift = min_lift
        self.min_difference = min_difference

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the integration patterns in ``memories``."""
        if len(memories) < 2 * self.min_support:
            return []
        f = features_for(memories, self.tz)
        entities = self._entities(f)
        patterns = self._emotion_links(f, entities)
        aspiration = self._aspiration_affect(f)
        if aspiration is not None:
            patterns.append(aspiration)
        patterns.extend(self._core_themes(f, entities))
        return patterns

    def _entities(self, f: Features) -> dict[str, npt.NDArray[np.bool_]]:
        counts = Counter(e for ts in f.topics for e in ts) + Counter(p for ps in f.people for p in ps)
        entities: dict[str, npt.NDArray[np.bool_]] = {}
        seen: dict[bytes, str] = {}
        # People first, so a person and a tag that always travel together keep the person's name.
        people = {p for ps in f.people for p in ps}
        for name in sorted(counts, key=lambda e: (e not in people, -counts[e], e)):
            if counts[name] < self.min_support:
                continue
            mask = np.array(
                [name in ts or name in ps for ts, ps in zip(f.topics, f.people, strict=True)], dtype=bool
            )
            signature = np.packbits(mask).tobytes()
            if signature in seen:
                continue
            seen[signature] = name
            entities[name] = mask
        return entities

    def _emotion_links(
        self, f: Features, entities: dict[str, npt.NDArray[np.bool_]]
    ) -> list[DetectedPattern]:
        emotion_arr = np.array([e or "" for e in f.emotions], dtype=object)
        emotions = {
            e: emotion_arr == e for e, c in Counter(f.emotions).items() if e and c >= self.min_support
        }
        n_tests = max(1, len(emotions) * len(entities))
        patterns = []
        for entity, entity_mask in entities.items():
            m = int(entity_mask.sum())
            for emotion in sorted(emotions):
                both = entity_mask & emotions[emotion]
                k = int(both.sum())
                base = float(emotions[emotion].mean())
                share = k / m
                if k < self.min_support or share < 0.3 or share < self.min_lift * base:
                    continue
                p = binom_sf(k, m, base)
                if adjusted(p, n_tests) > self.alpha:
                    continue
                ids = f.index_of(both)
                valence = float(f.valence[both].mean())
                patterns.append(
                    DetectedPattern(
                        pattern_type="emotion_link",
                        layer=5,
                        description=(
                            f"{entity} and feeling {emotion} go together: {emotion} in {share:.0%} of "
                            "memories about "
                            f"{entity} vs {base:.0%} overall (mean valence there {valence:+.2f})"
                        ),
                        evidence={
                            "memory_ids": cap_ids(ids),
                            "memory_count": len(ids),
                            "entity": entity,
                            "emotion": emotion,
                            "share": round(share, 4),
                            "base_rate": round(base, 4),
                            "lift": round(share / base, 3),
                            "entity_total": m,
                            "p_value": p,
                            "p_adjusted": adjusted(p, n_tests),
                        },
                        confidence=confidence(p, n_tests, (share - base) / (1.0 - base)),
                        key=f"emotion_link:{slug(emotion)}:{slug(entity)}",
                    )
                )
        return patterns

    def _aspiration_affect(self, f: Features) -> DetectedPattern | None:
        future = np.array([bool(FUTURE.search(t)) or bool(m.prospective_self_context) for m, t in
                           zip(f.memories, f.user_texts, strict=True)], dtype=bool)  # fmt: skip
        if int(future.sum()) < self.min_support:
            return None
        t, p = welch_t(f.valence[future], f.valence[~future])
        difference = float(f.valence[future].mean() - f.valence[~future].mean())
        if p > self.alpha or abs(difference) < self.min_difference:
            return None
        tone = "hopeful" if difference > 0 else "heavy"
        ids = f.index_of(future)
        return DetectedPattern(
            pattern_type="aspiration_affect",
            layer=6,
            description=(
                f"Talking about the future feels {tone} for you: valence {difference:+.2f} compared "
                "with other "
                f"memories ({len(ids)} future-oriented memories)"
            ),
            evidence={
                "memory_ids": cap_ids(ids),
                "memory_count": len(ids),
                "valence_difference": round(difference, 4),
                "t": round(t, 3),
                "p_value": p,
            },
            confidence=confidence(p, 1, abs(difference) / 0.5),
            key=f"aspiration_affect:{tone}",
        )

    def _core_themes(self, f: Features, entities: dict[str, npt.NDArray[np.bool_]]) -> list[DetectedPattern]:
        n_tests = max(1, len(entities))
        patterns = []
        for entity, mask in entities.items():
            if int((~mask).sum()) < 2:
                continue
            t, p = welch_t(f.salience[mask], f.salience[~mask])
            difference = float(f.salience[mask].mean() - f.salience[~mask].mean())
            if difference < self.min_difference or adjusted(p, n_tests) > self.alpha:
                continue
            ids = f.index_of(mask)
            patterns.append(
                DetectedPattern(
                    pattern_type="core_theme",
                    layer=7,
                    description=(
                        f"{entity} carries unusual emotional weight: salience "
                        f"{float(f.salience[mask].mean()):.2f} "
                        f"vs {float(f.salience[~mask].mean()):.2f} for everything else ({len(ids)} memories)"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids),
                        "memory_count": len(ids),
                        "entity": entity,
                        "salience_difference": round(difference, 4),
                        "t": round(t, 3),
                        "p_value": p,
                        "p_adjusted": adjusted(p, n_tests),
                    },
                    confidence=confidence(p, n_tests, difference / 0.3),
                    key=f"core_theme:{slug(entity)}",
                )
            )
        return patterns
