"""The synthesis worker: claims jobs, runs analyzers as the job's user, merges results, survives crashes."""

from ...synthesis.jobs.run import JobState
from .queue import AsyncJobQueue
from .runner import AsyncJobRunner
from .worker import AsyncSynthesisWorker

__all__ = ["AsyncJobQueue", "AsyncJobRunner", "AsyncSynthesisWorker", "JobState"]
