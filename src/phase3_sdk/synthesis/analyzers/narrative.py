"""Layer 1, narrative coherence: topics that return on a weekly rhythm, dominant threads, continuity."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from phase3_sdk.synthesis.analyzers._cluster import embedding_matrix, spherical_kmeans
from phase3_sdk.synthesis.analyzers._features import WEEKDAYS, Features, distinctive_terms, features_for
from phase3_sdk.synthesis.analyzers._stats import adjusted, binom_sf, confidence
from phase3_sdk.synthesis.analyzers.base import cap_ids
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, slug

_WINDOW_DAYS = 28


@dataclass(frozen=True, slots=True)
class _Topic:
    name: str
    mask: npt.NDArray[np.bool_]
    source: str  # "tag" (extracted_topics) or "cluster" (embedding cluster)


class NarrativeCoherenceAnalyzer:
    """Finds the threads of a user's story and how consistently they run.

    Topics come from ``extracted_topics`` and from spherical k-means clusters of the embeddings
    (so memories without tags still group); a cluster is named by its distinctive words, or by the
    tag most of its members share, which gives it the same key as that tag.

    ``periodic_topic``
        A topic concentrated on one weekday (one-sided binomial test against the user's overall
        weekday activity, Bonferroni over topics x 7 days), on that weekday in at least half of its
        occurrences, and present on that weekday in at least half of the weeks it spans: "climbing
        every Thursday". Confidence = ``(1 - adjusted p) * weekly coverage``.
    ``recurring_topic``
        A tag in at least ``dominant_share`` of memories and in at least 75% of 28-day windows.
        Confidence = ``min(1, share / 0.2) * window coverage`` (descriptive, no null model).
    ``narrative_continuity``
        Cosine similarity of the topic mix of consecutive 28-day windows, averaged; confidence is
        that mean similarity (1 = the same themes every month).
    ``narrative_shift``
        A window whose similarity to the previous one drops below the mean by 3 standard deviations
        and below 70% of it; confidence = ``1 - similarity / mean``.
    """

    synthesis_type: Literal["narrative_coherence"] = "narrative_coherence"

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        min_support: int = 6,
        alpha: float = 0.001,
        min_coverage: float = 0.5,
        dominant_share: float = 0.1,
        use_embeddings: bool = True,
    ) -> None:
        self.tz = tz
        self.min_support = min_support
        self.alpha = alpha
        self.min_coverage = min_coverage
        self.dominant_share = dominant_share
        self.use_embeddings = use_embeddings

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the narrative patterns in ``memories``."""
        if len(memories) < 2 * self.min_support:
            return []
        f = features_for(memories, self.tz)
        tags = self._tag_topics(f)
        topics = tags + (self._cluster_topics(f) if self.use_embeddings else [])
        patterns = self._periodic(f, topics)
        patterns.extend(self._dominant(f, tags))
        patterns.extend(self._continuity(f, tags))
        return patterns

    def _tag_topics(self, f: Features) -> list[_Topic]:
        counts = Counter(t for ts in f.topics for t in ts)
        topics = []
        for name in sorted(t for t, c in counts.items() if c >= self.min_support):
            mask = np.array([name in ts for ts in f.topics], dtype=bool)
            topics.append(_Topic(name, mask, "tag"))
        return topics

    def _cluster_topics(self, f: Features) -> list[_Topic]:
        vectors, rows = embedding_matrix(f)
        if rows.size < 4 * self.min_support:
            return []
        k = max(2, min(40, round(math.sqrt(rows.size / 2))))
        labels = spherical_kmeans(vectors, k)
        groups: list[npt.NDArray[np.int64]] = []
        for c in np.unique(labels).tolist():
            members = np.flatnonzero(labels == c)
            groups.append(members)
            # A flat k-means often lumps a small topic in with a bigger one; splitting each cluster
            # once more gives a small topic (one memory a week among thousands) its own group.
            if members.size >= 4 * self.min_support:
                sub = spherical_kmeans(vectors[members], 4, merge_above=0.6)
                groups.extend(
                    members[sub == s] for s in np.unique(sub).tolist() if (sub == s).sum() < members.size
                )
        topics = []
        for members in groups:
            mask = np.zeros(f.n, dtype=bool)
            mask[rows[members]] = True
            size = int(mask.sum())
            if size < self.min_support:
                continue
            tag_counts = Counter(t for i in np.flatnonzero(mask) for t in f.topics[i])
            top_tag = min(tag_counts.items(), key=lambda item: (-item[1], item[0]), default=None)
            if top_tag is not None and top_tag[1] >= 0.6 * size:
                name = top_tag[0]
            else:
                terms = distinctive_terms(f, mask)
                if not terms:
                    continue  # nothing distinctive to call it by: not a topic a user would recognise
                name = " ".join(sorted(t[0] for t in terms))
            topics.append(_Topic(name, mask, "cluster"))
        return topics

    def _periodic(self, f: Features, topics: list[_Topic]) -> list[DetectedPattern]:
        weekday_share = np.bincount(f.weekday, minlength=7) / f.n
        n_tests = max(1, len(topics) * 7)
        candidates: list[tuple[float, _Topic, int, npt.NDArray[np.bool_], float]] = []
        for topic in topics:
            m = int(topic.mask.sum())
            counts = np.bincount(f.weekday[topic.mask], minlength=7)
            day = int(np.argmax(counts))
            k = int(counts[day])
            if k < self.min_support or k < 0.5 * m:
                continue
            p = binom_sf(k, m, float(weekday_share[day]))
            if adjusted(p, n_tests) > self.alpha:
                continue
            on_day = topic.mask & (f.weekday == day)
            weeks = np.unique(f.week[on_day])
            coverage = weeks.size / float(weeks[-1] - weeks[0] + 1)
            if weeks.size < 4 or coverage < self.min_coverage:
                continue
            candidates.append((p, topic, day, on_day, coverage))
        candidates.sort(key=lambda c: (c[0], -c[4], c[1].source != "tag", c[1].name))
        patterns: list[DetectedPattern] = []
        taken: list[tuple[npt.NDArray[np.bool_], dict[str, Any]]] = []
        for p, topic, day, on_day, coverage in candidates:
            duplicate = next(
                (ev for mask, ev in taken if (mask & on_day).sum() >= 0.6 * min(mask.sum(), on_day.sum())),
                None,
            )
            if duplicate is not None:
                if topic.name not in duplicate["related_topics"] and topic.name != duplicate["topic"]:
                    duplicate["related_topics"].append(topic.name)
                continue
            ids = f.index_of(on_day)
            distinct_days = np.unique(f.ordinal_day[on_day])
            gaps = np.diff(distinct_days)
            median_gap = float(np.median(gaps)) if gaps.size else 0.0
            k, m = int(on_day.sum()), int(topic.mask.sum())
            evidence: dict[str, Any] = {
                "memory_ids": cap_ids(ids),
                "memory_count": len(ids),
                "topic": topic.name,
                "source": topic.source,
                "weekday": WEEKDAYS[day],
                "on_weekday": k,
                "topic_total": m,
                "expected_on_weekday": round(m * float(weekday_share[day]), 2),
                "weekly_coverage": round(coverage, 4),
                "median_gap_days": median_gap,
                "p_value": p,
                "p_adjusted": adjusted(p, n_tests),
                "related_topics": [],
            }
            taken.append((on_day, evidence))
            patterns.append(
                DetectedPattern(
                    pattern_type="periodic_topic",
                    layer=1,
                    description=(
                        f"'{topic.name}' returns every week on {WEEKDAYS[day].capitalize()}: {k} of {m} "
                        "mentions, "
                        f"in {coverage:.0%} of the weeks it spans (median gap {median_gap:.0f} days)"
                    ),
                    evidence=evidence,
                    confidence=confidence(p, n_tests, coverage),
                    key=f"periodic_topic:{slug(topic.name)}",
                )
            )
        return patterns

    def _windows(self, f: Features) -> npt.NDArray[np.int64]:
        return (f.days // _WINDOW_DAYS).astype(np.int64)

    def _dominant(self, f: Features, tags: list[_Topic]) -> list[DetectedPattern]:
        window = self._windows(f)
        n_windows = int(window.max()) + 1
        patterns = []
        for topic in tags:
            share = float(topic.mask.mean())
            coverage = np.unique(window[topic.mask]).size / n_windows
            if share < self.dominant_share or coverage < 0.75 or n_windows < 2:
                continue
            ids = f.index_of(topic.mask)
            patterns.append(
                DetectedPattern(
                    pattern_type="recurring_topic",
                    layer=1,
                    description=(
                        f"'{topic.name}' is a running thread of your story: {share:.0%} of memories, "
                        "present in "
                        f"{coverage:.0%} of 4-week periods"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids[::-1]),
                        "memory_count": len(ids),
                        "topic": topic.name,
                        "share": round(share, 4),
                        "window_coverage": round(coverage, 4),
                    },
                    confidence=round(min(1.0, share / 0.2) * coverage, 4),
                    key=f"recurring_topic:{slug(topic.name)}",
                )
            )
        return patterns

    def _continuity(self, f: Features, tags: list[_Topic]) -> list[DetectedPattern]:
        if not tags:
            return []
        raw = self._windows(f)
        sizes = np.bincount(raw)
        # Windows too thin for a stable topic mix (a trailing partial month, a quiet spell) are skipped:
        # their similarity is low from sampling noise alone and would read as a narrative shift.
        valid = np.flatnonzero(sizes >= max(10.0, 0.5 * float(np.median(sizes))))
        if valid.size < 3:
            return []
        renumber = np.full(sizes.size, -1, dtype=np.int64)
        renumber[valid] = np.arange(valid.size)
        window = renumber[raw]
        n_windows = int(valid.size)
        mix = np.stack(
            [np.bincount(window[t.mask & (window >= 0)], minlength=n_windows) for t in tags], axis=1
        ).astype(np.float64)
        norms = np.linalg.norm(mix, axis=1)
        unit = mix / np.where(norms == 0, 1, norms)[:, None]
        similarity = np.sum(unit[1:] * unit[:-1], axis=1)
        mean = float(similarity.mean())
        sd = float(similarity.std())
        present_everywhere = [t for t in tags if np.unique(window[t.mask & (window >= 0)]).size == n_windows]
        threads = sorted(present_everywhere, key=lambda t: -int(t.mask.sum()))[:3]
        thread_ids = [i for t in threads for i in f.index_of(t.mask)]
        patterns: list[DetectedPattern] = []
        if thread_ids:
            names = ", ".join(t.name for t in threads)
            patterns.append(
                DetectedPattern(
                    pattern_type="narrative_continuity",
                    layer=1,
                    description=(
                        f"Your story stays coherent from month to month (topic continuity {mean:.2f} of 1); "
                        f"threads present throughout: {names}"
                    ),
                    evidence={
                        "memory_ids": cap_ids(thread_ids),
                        "memory_count": len(thread_ids),
                        "mean_similarity": round(mean, 4),
                        "sd_similarity": round(sd, 4),
                        "windows": n_windows,
                        "window_days": _WINDOW_DAYS,
                        "threads": [t.name for t in threads],
                    },
                    confidence=round(max(0.0, min(1.0, mean)), 4),
                    key="narrative_continuity:overall",
                )
            )
        first = f.memories[0].created_at
        for i, sim in enumerate(similarity.tolist()):
            if not (sim < mean - 3 * sd and sim < 0.7 * mean):
                continue
            after = i + 1
            gained = unit[after] - unit[i]
            rising = [tags[j] for j in np.argsort(-gained)[:3] if gained[j] > 0]
            mask = (
                (window == after) & np.any(np.stack([t.mask for t in rising]), axis=0)
                if rising
                else window == after
            )
            when = (first + timedelta(days=int(valid[after]) * _WINDOW_DAYS)).date().isoformat()
            ids = f.index_of(mask)
            patterns.append(
                DetectedPattern(
                    pattern_type="narrative_shift",
                    layer=1,
                    description=(
                        f"Your story changed direction around {when}: topic similarity to the previous "
                        "month fell "
                        f"to {sim:.2f} (usual {mean:.2f}); new focus: "
                        f"{', '.join(t.name for t in rising) or 'mixed'}"
                    ),
                    evidence={
                        "memory_ids": cap_ids(ids),
                        "memory_count": len(ids),
                        "window_start": when,
                        "similarity": round(sim, 4),
                        "mean_similarity": round(mean, 4),
                        "rising_topics": [t.name for t in rising],
                    },
                    confidence=round(max(0.0, min(1.0, 1.0 - sim / mean)), 4) if mean > 0 else 0.0,
                    key=f"narrative_shift:{when}",
                )
            )
        return patterns
