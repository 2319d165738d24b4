"""Layer 4, prospective self: aspirations the user keeps stating, and whether action follows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Literal

from phase3_sdk.embeddings import tokenize
from phase3_sdk.synthesis.analyzers._features import STOPWORDS, Features, features_for
from phase3_sdk.synthesis.analyzers._text import FUTURE
from phase3_sdk.synthesis.analyzers.base import cap_ids
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, slug

_CLAUSE_END = re.compile(r"[.,;:!?\n]| but | and i | because ")
# Words that frame a goal rather than name it ("I want to *start* ... *next year*").
_FILLER = frozenset(
    [
        "want",
        "wanna",
        "will",
        "going",
        "hope",
        "like",
        "would",
        "goal",
        "goals",
        "dream",
        "next",
        "year",
        "month",
        "week",
        "summer",
        "spring",
        "autumn",
        "winter",
        "someday",
        "soon",
        "maybe",
        "start",
        "keep",
        "thinking",
        "finally",
        "really",
        "try",
        "actually",
        "able",
        "plan",
        "planning",
        "intend",
    ]
)


@dataclass
class _Goal:
    anchor: str
    statements: list[int] = field(default_factory=list)
    phrases: Counter[str] = field(default_factory=Counter)


def goal_phrases(text: str) -> list[str]:
    """The phrases following each future-oriented trigger in ``text`` ("I want to *run a marathon*")."""
    phrases = []
    for match in FUTURE.finditer(text):
        rest = text[match.end() :]
        end = _CLAUSE_END.search(rest)
        phrase = (rest[: end.start()] if end else rest).strip().lower()
        if phrase:
            phrases.append(" ".join(phrase.split()[:8]))
    return phrases


def _display(phrase: str) -> str:
    # "run a marathon next year" -> "run a marathon": drop the trailing time frame, keep the verb.
    words = phrase.split()
    while words and (words[-1].strip("'\"") in _FILLER or words[-1].strip("'\"") in STOPWORDS):
        words.pop()
    return " ".join(words) or phrase


def _content(phrase: str) -> list[str]:
    return [w for w in tokenize(phrase) if w not in STOPWORDS and w not in _FILLER and len(w) > 2]


class ProspectiveSelfAnalyzer:
    """Finds recurring goals and aspirations and checks whether they are followed by action.

    A memory states a goal when the user's own words contain a future-oriented phrase ("I want to",
    "I will", "my goal is", "next year", ...) or the memory has a ``prospective_self_context``. The
    words after the phrase are reduced to content words, and statements are grouped by their anchor:
    the content word most shared among goal statements (ties: the rarer word in the whole history,
    so "marathon" beats "run"). A group is a ``recurring_goal`` when it has at least ``min_mentions``
    statements over at least 2 distinct weeks. Later memories mentioning the anchor without any
    future phrasing count as action ("Ran 15 km as marathon training").

    Confidence = ``min(1, statements / 6) * min(1, distinct weeks / 4)``: how firmly the aspiration
    recurs (stating a goal is not a chance event, so there is no null model to test against).
    """

    synthesis_type: Literal["prospective_self"] = "prospective_self"

    def __init__(self, *, tz: tzinfo | None = None, min_mentions: int = 3) -> None:
        self.tz = tz
        self.min_mentions = min_mentions

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the prospective-self patterns in ``memories``."""
        if len(memories) < self.min_mentions:
            return []
        f = features_for(memories, self.tz)
        per_memory: dict[int, list[tuple[str, list[str]]]] = {}
        for i, (memory, text) in enumerate(zip(f.memories, f.user_texts, strict=True)):
            phrases = goal_phrases(text)
            if memory.prospective_self_context:
                phrases.append(memory.prospective_self_context.strip().lower())
            found = [(p, words) for p in phrases if (words := _content(p))]
            if found:
                per_memory[i] = found
        if not per_memory:
            return []
        goal_df: Counter[str] = Counter()
        for found in per_memory.values():
            goal_df.update({w for _, words in found for w in words})
        goals: dict[str, _Goal] = {}
        for i, found in per_memory.items():
            seen: set[str] = set()
            for phrase, words in found:
                anchor = min(words, key=lambda w: (-goal_df[w], f.document_frequency[w], w))
                goal = goals.setdefault(anchor, _Goal(anchor))
                if anchor not in seen:
                    goal.statements.append(i)
                    seen.add(anchor)
                goal.phrases[_display(phrase)] += 1
        return [
            p
            for g in sorted(goals.values(), key=lambda g: g.anchor)
            if (p := self._pattern(f, g, per_memory))
        ]

    def _pattern(
        self, f: Features, goal: _Goal, per_memory: dict[int, list[tuple[str, list[str]]]]
    ) -> DetectedPattern | None:
        weeks = len({int(f.week[i]) for i in goal.statements})
        if len(goal.statements) < self.min_mentions or weeks < 2:
            return None
        first = min(goal.statements)
        stated = set(goal.statements)
        actions = [
            i
            for i in range(first + 1, f.n)
            if i not in stated
            and goal.anchor in f.tokens[i]
            and i not in per_memory
            and not FUTURE.search(f.user_texts[i])
        ]
        phrase = min(goal.phrases.items(), key=lambda item: (-item[1], len(item[0]), item[0]))[0]
        span_weeks = (f.days[max(goal.statements)] - f.days[first]) / 7
        if actions:
            follow = f"since then {len(actions)} memories mention acting on it"
        else:
            follow = "no memory yet mentions acting on it"
        ids = [f.ids[i] for i in goal.statements] + [f.ids[i] for i in actions]
        return DetectedPattern(
            pattern_type="recurring_goal",
            layer=4,
            description=(
                f"You keep returning to the aspiration to '{phrase}' ({len(goal.statements)} times over "
                f"{span_weeks:.0f} weeks); {follow}"
            ),
            evidence={
                "memory_ids": cap_ids(ids),
                "memory_count": len(ids),
                "goal": phrase,
                "anchor": goal.anchor,
                "statement_ids": cap_ids([f.ids[i] for i in goal.statements]),
                "action_ids": cap_ids([f.ids[i] for i in actions]),
                "statements": len(goal.statements),
                "actions": len(actions),
                "distinct_weeks": weeks,
                "followed_through": bool(actions),
            },
            confidence=round(min(1.0, len(goal.statements) / 6) * min(1.0, weeks / 4), 4),
            key=f"recurring_goal:{slug(goal.anchor)}",
        )
