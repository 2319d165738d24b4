"""Pydantic models of every Phase 3 table: the row as read, the create payload, the update payload."""

from ._base import EMBEDDING_DIMENSION, Embedding, PayloadModel, RowModel
from ._update import UpdateModel
from .memory import Conversation, ConversationCreate, ConversationUpdate, Message, SalienceTier, SearchHit
from .skills import ExecutionStatus, Skill, SkillCreate, SkillExecution, SkillUpdate, StepRecord
from .synthesis import (
    JobStatus,
    Pattern,
    PatternCreate,
    PatternUpdate,
    Priority,
    Recommendation,
    RecommendationCreate,
    RecommendationStatus,
    RecommendationUpdate,
    SynthesisJob,
    SynthesisJobCreate,
    SynthesisType,
)
from .tools import SandboxProfile, Tool, ToolCreate, ToolStatus, ToolUpdate, ToolUsage, ToolUsageCreate, Visibility

__all__ = [
    "EMBEDDING_DIMENSION",
    "Conversation",
    "ConversationCreate",
    "ConversationUpdate",
    "Embedding",
    "ExecutionStatus",
    "JobStatus",
    "Message",
    "Pattern",
    "PatternCreate",
    "PatternUpdate",
    "PayloadModel",
    "Priority",
    "Recommendation",
    "RecommendationCreate",
    "RecommendationStatus",
    "RecommendationUpdate",
    "RowModel",
    "SalienceTier",
    "SandboxProfile",
    "SearchHit",
    "Skill",
    "SkillCreate",
    "SkillExecution",
    "SkillUpdate",
    "StepRecord",
    "SynthesisJob",
    "SynthesisJobCreate",
    "SynthesisType",
    "Tool",
    "ToolCreate",
    "ToolStatus",
    "ToolUpdate",
    "ToolUsage",
    "ToolUsageCreate",
    "UpdateModel",
    "Visibility",
]
