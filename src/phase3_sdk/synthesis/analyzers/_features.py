"""Per-history features (time, affect, tokens, topics, people) computed once and shared by all analyzers."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import tzinfo
from functools import cached_property

import numpy as np
import numpy.typing as npt

from phase3_sdk.embeddings import tokenize
from phase3_sdk.synthesis.types import MemoryRecord

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july",
    "august", "september", "october", "november", "december",
)  # fmt: skip
#: Four six-hour parts of the day; slot = weekday * 4 + hour // 6.
DAY_PARTS = ("night", "morning", "afternoon", "evening")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "i'm",
        "im",
        "ive",
        "i've",
        "it's",
        "its",
        "dont",
        "don't",
        "didn't",
        "can't",
        "cant",
        "got",
        "get",
        "go",
        "going",
        "went",
        "really",
        "still",
        "again",
        "also",
        "even",
        "much",
        "one",
        "today",
        "tonight",
        "tomorrow",
        "yesterday",
        "day",
        "week",
        "time",
        "bit",
        "lot",
        "thing",
        "things",
        "feel",
        "feeling",
        "felt",
        "so",
        "like",
    ]
) | frozenset(WEEKDAYS)

_CAPITALISED = re.compile(r"\b[A-Z][a-z]{1,20}\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?\n]\s*)([A-Z][a-z]{1,20})\b")


class Features:
    """Columns of one memory history, aligned with the (time-sorted) ``memories`` list."""

    def __init__(self, memories: Sequence[MemoryRecord], tz: tzinfo | None = None) -> None:
        ordered = sorted(memories, key=lambda m: m.created_at)
        self.memories = ordered
        self.n = len(ordered)
        self.ids = [str(m.id) for m in ordered]
        local = [m.created_at.astimezone(tz) if tz is not None else m.created_at for m in ordered]
        self.local_times = local
        first = ordered[0].created_at if ordered else None
        self.days = np.array(
            [(m.created_at - first).total_seconds() / 86400.0 for m in ordered] if first else [],
            dtype=np.float64,
        )
        self.weekday = np.array([t.weekday() for t in local], dtype=np.int64)
        self.hour = np.array([t.hour + t.minute / 60.0 for t in local], dtype=np.float64)
        self.slot = self.weekday * 4 + (self.hour // 6).astype(np.int64)
        self.ordinal_day = np.array([t.toordinal() for t in local], dtype=np.int64)
        # Week number counted from Mondays, so a weekly event lands in one bucket per week.
        self.week = (self.ordinal_day - 1) // 7
        self.valence = np.array([m.valence for m in ordered], dtype=np.float64)
        self.arousal = np.array([m.arousal for m in ordered], dtype=np.float64)
        self.dominance = np.array([m.dominance for m in ordered], dtype=np.float64)
        self.salience = np.array([m.emotional_salience for m in ordered], dtype=np.float64)
        self.emotions = [(m.primary_emotion or "").strip().lower() or None for m in ordered]
        self.topics = [
            tuple(dict.fromkeys(t.strip().lower() for t in m.extracted_topics if t.strip())) for m in ordered
        ]
        self.user_texts = [m.user_text or m.text for m in ordered]

    @property
    def span_days(self) -> float:
        """Days between the first and the last memory."""
        return float(self.days[-1]) if self.n else 0.0

    @cached_property
    def tokens(self) -> list[frozenset[str]]:
        """Distinct lowercase word tokens of each memory's user text."""
        return [frozenset(tokenize(text)) for text in self.user_texts]

    @cached_property
    def document_frequency(self) -> Counter[str]:
        """In how many memories each token occurs."""
        counts: Counter[str] = Counter()
        for toks in self.tokens:
            counts.update(toks)
        return counts

    @cached_property
    def people(self) -> list[tuple[str, ...]]:
        """Names per memory: capitalised words in ``attachment_context`` or mid-sentence in the text.

        A capitalised word counts as a name only if it never appears lowercase in the history and is
        not a weekday or month, which drops sentence-initial words ("Coffee with ...") without a
        name list. Words capitalised only at sentence starts need an ``attachment_context`` mention.
        """
        mid_sentence: set[str] = set()
        candidates: list[set[str]] = []
        for memory, text in zip(self.memories, self.user_texts, strict=True):
            starts = {m.group(1) for m in _SENTENCE_START.finditer(text)}
            words = set(_CAPITALISED.findall(text))
            mid_sentence.update(words - starts)
            found = set(words)
            if memory.attachment_context:
                found.update(_CAPITALISED.findall(memory.attachment_context))
                mid_sentence.update(_CAPITALISED.findall(memory.attachment_context))
            candidates.append(found)
        lowercase_text = " ".join(self.user_texts)
        lower_words = set(re.findall(r"\b[a-z][a-z]+\b", lowercase_text))
        names = {
            w
            for w in mid_sentence
            if w.lower() not in lower_words
            and w.lower() not in WEEKDAYS
            and w.lower() not in MONTHS
            and w not in {"I", "Im", "Ive"}
        }
        return [tuple(sorted(c & names)) for c in candidates]

    def index_of(self, mask: npt.NDArray[np.bool_]) -> list[str]:
        """Ids of the memories selected by a boolean mask."""
        return [self.ids[i] for i in np.flatnonzero(mask)]


class _LastFeatures:
    """Single-entry cache: full_synthesis runs five analyzers over the same list, so build features once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int, tzinfo | None] | None = None
        self._memories: Sequence[MemoryRecord] | None = None
        self._features: Features | None = None

    def get(self, memories: Sequence[MemoryRecord], tz: tzinfo | None) -> Features:
        key = (id(memories), len(memories), tz)
        with self._lock:
            if self._key == key and self._memories is memories and self._features is not None:
                return self._features
        features = Features(memories, tz)
        with self._lock:
            self._key, self._memories, self._features = key, memories, features
        return features


_CACHE = _LastFeatures()


def features_for(memories: Sequence[MemoryRecord], tz: tzinfo | None = None) -> Features:
    """Features of ``memories``, reused when the same list object is analysed again right away."""
    return _CACHE.get(memories, tz)


def distinctive_terms(
    features: Features,
    members: npt.NDArray[np.bool_],
    background: npt.NDArray[np.bool_] | None = None,
    limit: int = 2,
) -> list[tuple[str, float, float]]:
    """Words over-represented in ``members`` vs ``background``: (word, coverage in members, lift).

    ``background`` defaults to every other memory. Only words in at least half of the members and at
    least twice as common there qualify, so the words say what the group is about rather than what
    every memory says.
    """
    member_idx = np.flatnonzero(members)
    if member_idx.size == 0:
        return []
    in_members: Counter[str] = Counter()
    for i in member_idx:
        in_members.update(
            w for w in features.tokens[i] if w not in STOPWORDS and not w.isdigit() and len(w) > 2
        )
    threshold = 0.5 * member_idx.size
    common = {w: c for w, c in in_members.items() if c >= threshold}
    if background is None:
        background_size = features.n - member_idx.size
        in_background = {w: features.document_frequency[w] - c for w, c in common.items()}
    else:
        background_idx = np.flatnonzero(background)
        background_size = int(background_idx.size)
        in_background = dict.fromkeys(common, 0)
        for i in background_idx:
            for w in common.keys() & features.tokens[i]:
                in_background[w] += 1
    result: list[tuple[str, float, float]] = []
    for word, count in common.items():
        coverage = count / member_idx.size
        lift = coverage / ((in_background[word] + 1) / (background_size + 1))
        if lift >= 2.0:
            result.append((word, coverage, lift))
    result.sort(key=lambda item: (-item[1], -item[2], item[0]))
    return result[:limit]
