"""Turn a detected pattern into at most one concrete, actionable recommendation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from phase3_sdk.synthesis.types import DetectedPattern, Priority, RecommendationDraft

_NEGATIVE = frozenset(
    [
        "anxious",
        "anxiety",
        "worried",
        "stressed",
        "afraid",
        "fearful",
        "sad",
        "lonely",
        "angry",
        "frustrated",
        "hurt",
        "ashamed",
        "guilty",
        "overwhelmed",
        "uneasy",
        "tense",
        "hopeless",
        "irritated",
    ]
)


def _priority(confidence: float, *, negative: bool) -> Priority:
    # Negative patterns matter more to wellbeing, so they reach "high" at a lower confidence.
    if negative and confidence >= 0.5:
        return "high"
    if confidence >= 0.75 or (negative and confidence >= 0.3):
        return "medium"
    return "low"


def _weekly(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    emotion, window = e["emotion"], e["window"]
    about = f" {e['terms'][0]}" if e.get("terms") else ""
    negative = emotion in _NEGATIVE
    if negative:
        text = (
            f"You tend to feel {emotion} {window}, around{about or ' the same time each week'}. "
            "Block 15 minutes before it to prepare and write down one thing you can control about "
            f"the{about or ' week'}."
        )
    else:
        around = f" around{about}" if about else ""
        text = f"You reliably feel {emotion} {window}{around}: protect that time in your week."
    return RecommendationDraft(
        text, "wellbeing" if negative else "routine", _priority(p.confidence, negative=negative)
    )


def _daily(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    emotion, part = e["emotion"], e["part_of_day"]
    negative = emotion in _NEGATIVE
    action = "plan a short wind-down ritual for then" if negative else "schedule what matters most for then"
    return RecommendationDraft(
        f"Feeling {emotion} clusters in the {part}; {action}.",
        "wellbeing" if negative else "routine",
        _priority(p.confidence, negative=negative),
    )


def _recurring_emotion(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    emotion = e["emotion"]
    negative = emotion in _NEGATIVE
    if negative:
        text = (
            f"'{emotion}' is your most frequent feeling ({e['share']:.0%} of memories). Note what "
            "preceded it the next three times, and consider talking it through with someone you trust."
        )
    else:
        text = (
            f"'{emotion}' runs through {e['share']:.0%} of your memories: note what brings it about "
            "so you can repeat it."
        )
    return RecommendationDraft(
        text, "wellbeing" if negative else "reflection", _priority(p.confidence, negative=negative)
    )


def _trend(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft | None:
    dimension, change = e["dimension"], e["change"]
    falling_mood = dimension == "valence" and change < 0
    if dimension == "valence":
        text = (
            f"Your mood has been falling (valence {change:+.2f} over the period). Check sleep, activity and "
            "contact with friends this week, and reach out for support if it keeps sliding."
            if falling_mood
            else f"Your mood has been rising (valence {change:+.2f}). Write down what changed to keep it up."
        )
    else:
        direction = "rising" if change > 0 else "falling"
        text = f"Your {dimension} has been {direction} ({change:+.2f}); notice what drives it."
    return RecommendationDraft(
        text, "wellbeing" if falling_mood else "reflection", _priority(p.confidence, negative=falling_mood)
    )


def _baseline(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft | None:
    if e["mean_valence"] >= 0:
        return None  # a positive baseline needs no action
    return RecommendationDraft(
        f"Your memories lean negative overall (mean valence {e['mean_valence']:+.2f}). Add one small "
        "thing you "
        "enjoy to each day this week, and consider talking to someone about how you have been feeling.",
        "wellbeing",
        _priority(p.confidence, negative=True),
    )


def _periodic(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    return RecommendationDraft(
        f"'{e['topic']}' is a steady {e['weekday'].capitalize()} ritual ({e['weekly_coverage']:.0%} of "
        "weeks). "
        "Keep that slot protected in your calendar; it anchors your week.",
        "routine",
        "low",
    )


def _dominant(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    return RecommendationDraft(
        f"'{e['topic']}' fills {e['share']:.0%} of your memories. Ask yourself whether that matches how "
        "much it "
        "matters to you.",
        "reflection",
        "low",
    )


def _shift(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    focus = ", ".join(e["rising_topics"]) or "new topics"
    return RecommendationDraft(
        f"Your focus shifted around {e['window_start']} towards {focus}. Take a moment to reflect on "
        "what started it.",
        "reflection",
        "medium" if p.confidence >= 0.5 else "low",
    )


def _warmth(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    person = e["person"]
    if e["change"] > 0:
        return RecommendationDraft(
            f"Things with {person} are getting warmer (valence {e['valence_start']:+.2f} -> "
            f"{e['valence_end']:+.2f}). "
            f"Tell {person} what you appreciate, or plan something together.",
            "relationships",
            "medium" if p.confidence >= 0.75 else "low",
        )
    return RecommendationDraft(
        f"Things with {person} have been cooling (valence {e['valence_start']:+.2f} -> "
        f"{e['valence_end']:+.2f}). "
        f"Consider an honest conversation with {person} about how things have been.",
        "relationships",
        _priority(p.confidence, negative=True),
    )


def _relationship(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft | None:
    if e["mean_valence"] >= -0.2:
        return None  # a steady, neutral-or-positive presence needs no advice
    return RecommendationDraft(
        f"Memories with {e['person']} are often negative (mean valence {e['mean_valence']:+.2f}). "
        "Reflect on what "
        "you need from this relationship.",
        "relationships",
        "medium",
    )


def _goal(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    goal = e["goal"]
    if e["followed_through"]:
        return RecommendationDraft(
            f"You are acting on '{goal}' ({e['actions']} memories of progress). Set the next milestone "
            "and a date for it.",
            "goals",
            "low",
        )
    return RecommendationDraft(
        f"You have said you want to '{goal}' {e['statements']} times without a memory of acting on it. "
        "Pick one "
        "first step you can do this week and put it in your calendar.",
        "goals",
        "medium" if p.confidence >= 0.5 else "low",
    )


def _link(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    emotion, entity = e["emotion"], e["entity"]
    negative = emotion in _NEGATIVE
    if negative:
        text = (
            f"{entity} often comes with feeling {emotion} ({e['share']:.0%} of those memories). Before "
            "the next time, "
            "name what specifically worries you about it and one way to make it easier."
        )
    else:
        text = f"{entity} reliably brings you {emotion}: make room for more of it."
    return RecommendationDraft(
        text, "wellbeing" if negative else "reflection", _priority(p.confidence, negative=negative)
    )


def _aspiration(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    if e["valence_difference"] > 0:
        return RecommendationDraft(
            "Thinking about the future lifts your mood. Spend ten minutes a week writing about what "
            "you are working towards.",
            "goals",
            "low",
        )
    return RecommendationDraft(
        "Thinking about the future weighs on you. Break one goal into a step small enough to do tomorrow.",
        "wellbeing",
        _priority(p.confidence, negative=True),
    )


def _core(p: DetectedPattern, e: dict[str, Any]) -> RecommendationDraft:
    return RecommendationDraft(
        f"'{e['entity']}' carries more emotional weight than anything else in your memories. Give it "
        "deliberate "
        "attention: journal about it or discuss it with someone you trust.",
        "reflection",
        "medium" if p.confidence >= 0.5 else "low",
    )


_RULES: dict[str, Callable[[DetectedPattern, dict[str, Any]], RecommendationDraft | None]] = {
    "weekly_emotion_rhythm": _weekly,
    "daily_emotion_rhythm": _daily,
    "recurring_emotion": _recurring_emotion,
    "affect_trend": _trend,
    "affect_baseline": _baseline,
    "periodic_topic": _periodic,
    "recurring_topic": _dominant,
    "narrative_shift": _shift,
    "relationship_warmth": _warmth,
    "recurring_relationship": _relationship,
    "recurring_goal": _goal,
    "emotion_link": _link,
    "aspiration_affect": _aspiration,
    "core_theme": _core,
}


def recommend(pattern: DetectedPattern) -> RecommendationDraft | None:
    """At most one recommendation for ``pattern``; ``None`` when there is nothing useful to suggest.

    Category and priority follow from the pattern: negative emotional patterns go to ``wellbeing``
    and become ``high`` priority from confidence 0.5; positive ones are ``routine`` or ``reflection``;
    relationship and goal patterns map to ``relationships`` and ``goals``. Patterns of types this
    module does not know (e.g. from an LLM analyzer) and purely descriptive ones (overall narrative
    continuity) get ``None``. A pattern whose evidence lacks the figures a rule needs also gets ``None``
    rather than a vague sentence.
    """
    rule = _RULES.get(pattern.pattern_type)
    if rule is None:
        return None
    try:
        return rule(pattern, pattern.evidence)
    except (KeyError, TypeError, ValueError):
        return None
