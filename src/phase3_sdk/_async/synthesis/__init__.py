"""The synthesis worker: claims jobs, runs analyzers as the job's user, merges results, survives crashes."""

from .queue import AsyncJobQueue
from .runner import AsyncJobRunner, JobState
from .worker import AsyncSynthesisWorker

__all__ = ["AsyncJobQueue", "AsyncJobRunner", "AsyncSynthesisWorker", "JobState"]
