"""Seeded, deterministic memory histories with known ("planted") patterns, for tests, demos and benchmarks.

Background memories are everyday noise: random topics, emotions independent of topic and time, valence
around zero, people mentioned without any trend. On top, ``planted=True`` adds:

``monday_anxiety``
    Sunday-evening / Monday-morning memories dreading the Monday meeting: anxious, valence ≈ -0.7,
    arousal ≈ 0.8, most weeks.
``weekly_topic``
    A climbing session every Thursday evening (topic ``climbing``), most weeks.
``rising_warmth``
    ``Maya`` in ``attachment_context`` about once a week, valence rising from ≈ -0.2 to ≈ +0.7.
``recurring_goal``
    "I want to run a marathon" stated every few weeks, later followed by training mentions.

:func:`generate_history_with_truth` also returns the ids of the planted rows per pattern, so tests can
check an analyzer's evidence points at them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from phase3_sdk._extras import missing_extra

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise missing_extra(exc, "seeded histories (phase3_sdk.testing.seed)", "synthesis") from None

from phase3_sdk.embeddings import Embedder, HashingEmbedder
from phase3_sdk.errors import InvalidInputError

PLANTED_KINDS = ("monday_anxiety", "weekly_topic", "rising_warmth", "recurring_goal")

# (primary emotion, mean valence, mean arousal); means are symmetric around 0 so noise averages neutral.
_EMOTIONS: list[tuple[str, float, float]] = [
    ("joyful", 0.6, 0.7),
    ("content", 0.4, 0.3),
    ("calm", 0.3, 0.2),
    ("grateful", 0.5, 0.4),
    ("curious", 0.2, 0.6),
    ("proud", 0.5, 0.6),
    ("neutral", 0.0, 0.4),
    ("bored", -0.2, 0.2),
    ("tired", -0.2, 0.2),
    ("frustrated", -0.5, 0.7),
    ("sad", -0.6, 0.3),
    ("anxious", -0.5, 0.7),
    ("lonely", -0.5, 0.3),
]

_TOPICS: dict[str, list[str]] = {
    "cooking": ["Tried a new {adj} curry recipe tonight", "Burnt the rice again, {adj} dinner anyway"],
    "groceries": ["Ran out of {adj} coffee so went to the store", "Weekly grocery run took forever"],
    "work": ["Long meeting about the roadmap, {adj} discussion", "Finished the quarterly report at work"],
    "reading": ["Started a {adj} novel about a lighthouse keeper", "Read a few chapters before bed"],
    "weather": ["The weather turned {adj} and rainy", "Sunny afternoon, walked by the river"],
    "commute": ["The train was {adj} and late again", "Cycled to the office, traffic was wild"],
    "gardening": ["Planted tomatoes on the balcony, {adj} soil", "The basil is finally growing"],
    "movies": ["Watched a {adj} documentary about octopuses", "Saw an old western at the cinema"],
    "finances": ["Sorted out the {adj} budget spreadsheet", "Paid the rent and the electricity bill"],
    "cleaning": ["Deep cleaned the kitchen, {adj} job", "Laundry mountain finally conquered"],
    "music": ["Found a {adj} jazz playlist", "Practised guitar chords for an hour"],
    "health": ["Dentist appointment, {adj} but fine", "Slept badly, woke up with a headache"],
    "travel": ["Looking at {adj} train tickets for the summer", "Booked a cheap flight to Lisbon"],
    "technology": ["My laptop is {adj} slow, need to reinstall", "Set up the new phone"],
    "pets": ["The neighbour's cat visited, {adj} creature", "Walked the dog around the park"],
    "family": ["Phone call with my parents, {adj} as ever", "My sister sent photos of the kids"],
    "learning": ["Did a {adj} Spanish lesson online", "Watched a lecture on statistics"],
    "shopping": ["Bought {adj} shoes on sale", "Returned the jacket that did not fit"],
}
_ADJECTIVES = [
    "quiet",
    "busy",
    "strange",
    "lovely",
    "dull",
    "noisy",
    "cosy",
    "odd",
    "fresh",
    "grey",
    "bright",
]
_NOISE_PEOPLE = [("Sam", "coworker"), ("Alex", "neighbour"), ("Jordan", "cousin"), ("Priya", "old friend")]
_REPLIES = [
    "That sounds like quite a day. What stood out most?",
    "Thanks for sharing that. How are you feeling about it now?",
    "Noted. Anything you would like to do differently next time?",
]

_MONDAY_TEXTS = [
    "Sunday evening and I already dread the Monday meeting with the leadership team, my chest is tight",
    "Can't sleep thinking about tomorrow's Monday meeting, what if they ask about the delays",
    "Monday morning, meeting in an hour and my stomach is in knots",
    "Before the Monday meeting again, rehearsing answers in my head and feeling sick",
]
_CLIMBING_TEXTS = [
    "Thursday climbing at the bouldering gym, finally sent the overhang problem",
    "Climbing session tonight with the Thursday crew, forearms are destroyed",
    "Bouldering gym Thursday, worked on crimps and heel hooks at the climbing wall",
]
_MAYA_TEXTS = [
    (-1.0, "Maya and I argued again about the move, it felt cold between us"),
    (-1.0, "Maya didn't answer my message, I worry we are drifting apart"),
    (0.0, "Coffee with Maya, a bit awkward but we talked about the argument"),
    (0.0, "Maya called to check in, things feel easier between us"),
    (1.0, "Maya surprised me with dinner, I feel so close to her again"),
    (1.0, "Long walk with Maya, laughing about everything, so grateful for her"),
]
_GOAL_TEXTS = [
    "I want to run a marathon next year, I keep thinking about it",
    "My goal is to run a marathon, I will start a training plan soon",
    "Next year I want to run a marathon, maybe the one in the spring",
]
_GOAL_ACTION_TEXTS = [
    "Ran 15 km this morning as marathon training, legs are tired",
    "Signed up for the marathon today and did a long training run",
]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _tier(salience: float) -> str:
    if salience >= 0.85:
        return "critical"
    if salience >= 0.65:
        return "high"
    if salience >= 0.4:
        return "medium"
    return "low"


def _at(start: datetime, day: int, hour: float) -> datetime:
    # Hours count from midnight of ``start``'s date, so time-of-day does not depend on start's clock
    # time; the first morning before ``start`` moves to the next day to stay inside the history.
    when = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=day, hours=hour)
    return when if when >= start else when + timedelta(days=1)


def _waking_time(rng: random.Random, start: datetime, first_day: int, days: int) -> datetime:
    # Same waking-hours skew as the background, so planted rows add no time-of-day rhythm of their own.
    hour = min(23.9, max(6.0, rng.gauss(15.0, 4.0)))
    return _at(start, first_day + rng.randrange(max(1, days)), hour)


def _emotion_for(valence: float) -> str:
    if valence < -0.3:
        return "hurt"
    if valence < 0.05:
        return "uneasy"
    if valence < 0.4:
        return "hopeful"
    return "grateful"


class _Builder:
    """Accumulates rows (without embeddings) and the planted ids per pattern."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.start = start
        self.rows: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.truth: dict[str, list[str]] = {}

    def add(
        self,
        *,
        when: datetime,
        text: str,
        emotion: str,
        valence: float,
        arousal: float,
        topics: list[str],
        attachment: str | None = None,
        prospective: str | None = None,
        kind: str | None = None,
    ) -> None:
        rng = self.rng
        valence = max(-1.0, min(1.0, valence))
        arousal = max(0.0, min(1.0, arousal))
        salience = max(0.0, min(1.0, 0.25 + 0.6 * abs(valence) * arousal + rng.uniform(-0.1, 0.1)))
        row_id = _uuid(rng)
        stamp = when.isoformat()
        self.rows.append(
            {
                "id": row_id,
                "instance_key": "default",
                "messages": [
                    {"role": "user", "content": text, "timestamp": stamp},
                    {"role": "assistant", "content": rng.choice(_REPLIES), "timestamp": stamp},
                ],
                "primary_emotion": emotion,
                "secondary_emotions": [],
                "valence": round(valence, 4),
                "arousal": round(arousal, 4),
                "dominance": round(rng.uniform(0.2, 0.8), 4),
                "novelty": round(rng.uniform(0.1, 0.9), 4),
                "self_relevance": round(rng.uniform(0.3, 0.8), 4),
                "emotional_salience": round(salience, 4),
                "salience_tier": _tier(salience),
                "extracted_topics": topics,
                "embedding": None,
                "decay_multiplier": 1.0,
                "user_marked_important": False,
                "is_deleted": False,
                "attachment_context": attachment,
                "prospective_self_context": prospective,
                "created_at": when,
                "updated_at": when,
            }
        )
        self.texts.append(text + " " + " ".join(topics))
        if kind is not None:
            self.truth.setdefault(kind, []).append(row_id)


def _plant(b: _Builder, weeks: int, days: int) -> None:
    rng = b.rng
    # Week 0 starts on the Monday on or before ``start``, so "Thursday" means a real Thursday.
    monday0 = (b.start - timedelta(days=b.start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    end = b.start + timedelta(days=days)

    def inside(when: datetime) -> bool:
        return b.start <= when < end

    for week in range(weeks + 1):
        monday = monday0 + timedelta(weeks=week)
        if rng.random() < 0.85:
            slots = [(-1, 18.5, 23.5), (0, 6.0, 9.5)]
            chosen = slots if rng.random() < 0.3 else [rng.choice(slots)]
            for day, lo, hi in chosen:
                when = monday + timedelta(days=day, hours=rng.uniform(lo, hi))
                if inside(when):
                    b.add(
                        when=when,
                        text=rng.choice(_MONDAY_TEXTS),
                        emotion="anxious",
                        valence=rng.gauss(-0.7, 0.1),
                        arousal=rng.gauss(0.82, 0.06),
                        topics=["work", "meeting"],
                        kind="monday_anxiety",
                    )
        thursday = monday + timedelta(days=3, hours=rng.uniform(18.0, 21.0))
        if rng.random() < 0.9 and inside(thursday):
            b.add(
                when=thursday,
                text=rng.choice(_CLIMBING_TEXTS),
                emotion=rng.choice(["joyful", "proud", "content", "tired", "frustrated"]),
                valence=rng.gauss(0.3, 0.3),
                arousal=rng.gauss(0.6, 0.15),
                topics=["climbing", "fitness"],
                kind="weekly_topic",
            )
    for _ in range(max(8, weeks)):
        when = _waking_time(rng, b.start, 0, days)
        frac = (when - b.start).total_seconds() / 86400 / days
        valence = -0.2 + 0.9 * frac + rng.gauss(0.0, 0.08)
        phase = -1.0 if frac < 1 / 3 else (0.0 if frac < 2 / 3 else 1.0)
        text = rng.choice([t for p, t in _MAYA_TEXTS if p == phase])
        b.add(
            when=when,
            text=text,
            emotion=_emotion_for(valence),
            valence=valence,
            arousal=rng.gauss(0.5, 0.1),
            topics=["friendship"],
            attachment="Maya - close friend",
            kind="rising_warmth",
        )
    goal_mentions = max(4, weeks // 6)
    for i in range(goal_mentions + goal_mentions // 2):
        is_goal = i < goal_mentions
        # Statements of the goal come in the first 60% of the history, training mentions after.
        cut = int(days * 0.6)
        when = (
            _waking_time(rng, b.start, 0, cut) if is_goal else _waking_time(rng, b.start, cut, days - cut - 1)
        )
        b.add(
            when=when,
            text=rng.choice(_GOAL_TEXTS if is_goal else _GOAL_ACTION_TEXTS),
            emotion=rng.choice(["hopeful", "excited", "curious"] if is_goal else ["proud", "tired"]),
            valence=rng.gauss(0.4, 0.15),
            arousal=rng.gauss(0.6, 0.1),
            topics=["running", "goals"],
            prospective="run a marathon" if is_goal else None,
            kind="recurring_goal",
        )


def _noise(b: _Builder, count: int, days: int, np_rng: np.random.Generator) -> None:
    rng = b.rng
    topic_names = list(_TOPICS)
    offsets = np_rng.uniform(0, days, size=count)
    # Waking-hours skew, identical for every weekday, so no weekly rhythm is introduced.
    hours = np.clip(np_rng.normal(15.0, 4.0, size=count), 6.0, 23.9)
    emotion_idx = np_rng.integers(0, len(_EMOTIONS), size=count)
    valence_noise = np_rng.normal(0.0, 0.2, size=count)
    arousal_noise = np_rng.normal(0.0, 0.12, size=count)
    for i in range(count):
        when = _at(b.start, min(days - 2, math.floor(offsets[i])), float(hours[i]))
        topic = rng.choice(topic_names)
        text = rng.choice(_TOPICS[topic]).format(adj=rng.choice(_ADJECTIVES))
        attachment = None
        topics = [topic]
        if rng.random() < 0.12:
            name, role = rng.choice(_NOISE_PEOPLE)
            text += f", talked it over with {name}"
            attachment = f"{name} - {role}"
            topics.append("social")
        emotion, mean_valence, mean_arousal = _EMOTIONS[int(emotion_idx[i])]
        b.add(
            when=when,
            text=text,
            emotion=emotion,
            valence=mean_valence + float(valence_noise[i]),
            arousal=mean_arousal + float(arousal_noise[i]),
            topics=topics,
            attachment=attachment,
        )


def _embed(texts: list[str], embedder: Embedder) -> npt.NDArray[np.float32]:
    fast: Callable[[list[str]], npt.NDArray[np.float32]] | None = getattr(embedder, "embed_array", None)
    if fast is not None:
        return fast(texts)
    return np.asarray(embedder.embed(texts), dtype=np.float32)


def generate_history_with_truth(
    *,
    n: int,
    seed: int,
    start: datetime,
    planted: bool = True,
    embedder: Embedder | None = None,
    days: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Generate ``n`` conversation rows and the ids of the planted rows per pattern kind.

    Rows are dicts of ``conversations`` columns (``id`` included, ``user_id`` omitted), sorted by
    ``created_at``; ``embedding`` is a float32 numpy array of the embedder's width (a view into one
    matrix, which keeps 100,000 rows cheap; pgvector's psycopg adapter stores numpy arrays as-is).
    ``days`` is the span of the history; by default about 4 memories a day, between 8 weeks and 2
    years. The same arguments always give the same rows, ids included. The truth dict has one key
    per entry of :data:`PLANTED_KINDS` when ``planted`` is true, and is empty otherwise.
    """
    if n <= 0:
        raise InvalidInputError(f"n must be positive, got {n}", field="n")
    span = days if days is not None else max(56, min(730, math.ceil(n / 4)))
    if span <= 0:
        raise InvalidInputError(f"days must be positive, got {span}", field="days")
    rng = random.Random(seed)
    builder = _Builder(rng, start)
    if planted:
        _plant(builder, weeks=span // 7, days=span)
        if len(builder.rows) * 2 > n:
            raise InvalidInputError(
                f"n={n} is too small to plant patterns over {span} days ({len(builder.rows)} planted rows); "
                f"use n >= {len(builder.rows) * 2} or fewer days",
                field="n",
            )
    _noise(builder, n - len(builder.rows), span, np.random.default_rng(seed))
    vectors = _embed(builder.texts, embedder if embedder is not None else HashingEmbedder())
    for row, vector in zip(builder.rows, vectors, strict=True):
        row["embedding"] = vector
    builder.rows.sort(key=lambda r: r["created_at"])
    return builder.rows, builder.truth


def generate_history(
    *,
    n: int,
    seed: int,
    start: datetime,
    planted: bool = True,
    embedder: Embedder | None = None,
    days: int | None = None,
) -> list[dict[str, Any]]:
    """Generate ``n`` deterministic conversation rows; see :func:`generate_history_with_truth`."""
    rows, _ = generate_history_with_truth(
        n=n, seed=seed, start=start, planted=planted, embedder=embedder, days=days
    )
    return rows
