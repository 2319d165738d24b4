from __future__ import annotations

import subprocess
import sys

from phase3_sdk.synthesis import DetectedPattern, recommend, run_analyzers

from .conftest import History


def test_one_concrete_recommendation_per_actionable_pattern(planted: History) -> None:
    patterns = run_analyzers("full_synthesis", planted.memories)
    drafts = {p.key: recommend(p) for p in patterns}
    actionable = {k: d for k, d in drafts.items() if d is not None}
    assert len(actionable) >= 6
    for draft in actionable.values():
        assert draft.priority in {"low", "medium", "high"}
        assert draft.category in {"wellbeing", "routine", "reflection", "relationships", "goals"}
        assert len(draft.recommendation) > 40


def test_monday_anxiety_is_a_high_priority_wellbeing_recommendation(planted: History) -> None:
    patterns = {p.key: p for p in run_analyzers("emotional_patterns", planted.memories)}
    draft = recommend(patterns["weekly_emotion_rhythm:anxious:meeting"])
    assert draft is not None
    assert (draft.category, draft.priority) == ("wellbeing", "high")
    assert "anxious" in draft.recommendation
    assert "meeting" in draft.recommendation


def test_warmth_and_goal_recommendations_quote_the_subject(planted: History) -> None:
    patterns = {p.key: p for p in run_analyzers("full_synthesis", planted.memories)}
    warmth = recommend(patterns["relationship_warmth:maya:rising"])
    goal = recommend(patterns["recurring_goal:marathon"])
    assert warmth is not None
    assert goal is not None
    assert "Maya" in warmth.recommendation
    assert warmth.category == "relationships"
    assert "run a marathon" in goal.recommendation
    assert goal.category == "goals"


def test_unknown_or_incomplete_patterns_get_none() -> None:
    unknown = DetectedPattern("from_llm", 2, "something", {"memory_ids": ["a"]}, 0.9, "from_llm:x")
    incomplete = DetectedPattern(
        "weekly_emotion_rhythm", 2, "x", {"memory_ids": ["a"]}, 0.9, "weekly_emotion_rhythm:x"
    )
    assert recommend(unknown) is None
    assert recommend(incomplete) is None


def test_recommend_stays_the_function_after_its_submodule_is_imported() -> None:
    # The job runner imports the function's module directly; the package's lazy export must stay the
    # function (a submodule named like it would be bound on the package by the import system).
    code = (
        "import phase3_sdk._sync.synthesis.runner\n"
        "from phase3_sdk.synthesis import recommend\n"
        "assert callable(recommend) and recommend.__module__ == 'phase3_sdk.synthesis.recommendations'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
