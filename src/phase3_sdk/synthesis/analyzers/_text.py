"""Text cues more than one analyzer reads (a shared home, so no analyzer imports another)."""

from __future__ import annotations

import re

#: A statement about the speaker's future ("I want to ...", "next year", "someday"): the prospective
#: analyzer reads goals out of it; the integration analyzer links future talk with emotion.
FUTURE = re.compile(
    r"\b(?:i will|i'll|i want to|i wanna|i'm going to|i am going to|i plan to|i'm planning to|i hope to|"
    r"i'd like to|i would like to|i intend to|my goal is to|my goal is|my goal|my dream is to|"
    r"next (?:year|month|week|summer|spring|autumn|winter)|someday|one day)\b",
    re.IGNORECASE,
)
