"""Per-user search indexes: build them, so that semantic search stays fast and keeps its recall.

``semantic_search`` ranks a small user's memories exactly, and a larger one's by a sketch scan of all of them
re-ranked exactly; for a user with many (:data:`DEFAULT_MIN_MEMORIES`), :func:`tune_search` builds a
pgvector HNSW index over that user's memories alone (a partial index, ``where user_id = '<user>'``, over
the 2,304-bit sketch every memory stores, with Hamming distance), calibrates how many candidates a query
takes from it (:func:`calibrate`; where that list is long, a query walks a shorter one first and the whole
one, at least twice the first, only when its answer looks uncertain: :data:`FIRST_EF_SEARCH`; where it is
not, an uncertain answer walks three times it: :data:`RETRY_QUANTILE`; a hard query walks again with a
longer one: :func:`hard_walk`; all told by :func:`answer_confidence`), and records it all in
``memory_search_indexes``; a query re-ranks those candidates by exact cosine distance. See
``supabase/migrations/20260202001500_search_user_indexes.sql`` for the query side and why this replaced the
search cells (measured on real text, they lost recall), ``20260202001800_search_sketch_graph.sql`` for why
the graph links sketches, ``20260202002100_search_first_walk.sql`` for the first walk,
``20260202002500_search_hard_query_walks.sql`` for a hard query's second walk,
``20260202002600_search_answer_confidence.sql`` for how a hard or uncertain answer is told and
``20260202002700_search_walks_aside.sql`` for the uncertain walk of an entry with one list and a hard query's
walk aside, ``20260202002800_search_uncertain_walk_doubled.sql`` for an uncertain walk's shortest list.

Memories written after a build enter the graph as they are inserted, so search does not degrade between runs;
a run still has work when a user crosses the size threshold (``new``), has grown or shrunk far from what the
index was built for (``grown``: rebuilt under a spare name and swapped in, so that the old index serves the
user's searches until then, and recalibrated; ``shrunk``: dropped, a scan is fast again), has an index built
with other graph settings than this version's (``outdated``: rebuilt the same way), has an index whose
ef_search an earlier version's calibration chose (``recalibrate``: measured again, the index kept; see
:data:`CALIBRATION`), has an index that larger users now need room for (``crowded``: dropped; at most
:data:`DEFAULT_MAX_INDEXES` users hold one), or has an index whose user or entry is gone (``orphan``).
``dry_run=True`` (``phase3 db tune-search --dry-run``) reports that work without doing it.

Run it as the table owner (an index is DDL), after bulk imports and from time to time (nightly, say).
``phase3 db tune-search`` is the command-line face of this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args
from uuid import UUID

import numpy as np
import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg import sql
from psycopg.types import TypeInfo

from ..embeddings import vector_text
from ..errors import ConfigurationError, InvalidInputError

__all__ = [
    "CONFIDENCE_SPREAD",
    "DEFAULT_EF_SEARCH",
    "DEFAULT_GROWTH",
    "DEFAULT_MAX_INDEXES",
    "DEFAULT_MIN_MEMORIES",
    "EF_LADDER",
    "FIRST_EF_SEARCH",
    "Calibration",
    "Graph",
    "TuneReport",
    "TunedUser",
    "answer_confidence",
    "calibrate",
    "index_name",
    "rerank_pool",
    "thresholds",
    "tune_search",
]

#: Users with fewer live, embedded memories get no index. semantic_search ranks them exactly below 2,000
#: (its own limit) and above that by a sketch scan of all their memories re-ranked exactly, which on real
#: text (benchmarks/search.py) keeps recall@10 1.000 but costs ~0.35 us per memory plus the re-ranking of
#: 400 candidates. At 5,000 memories (one user beside 20 of 1,000, 100 held-out queries, methods in
#: blocks, twice each way) the SQL function took 7.7-8.2 ms by that scan and 5.4-5.9 ms by the user's own
#: graph (recall@10 1.000 both), pgvector's table-wide HNSW index 10-15 ms on that loaded machine.
DEFAULT_MIN_MEMORIES = 5_000
#: At most this many users have an index of their own, the largest first. Every index on
#: public.conversations is one more the planner weighs for each statement it plans on that table (each
#: search, each REST read, as PostgREST plans every request) and one more partial-index predicate each
#: insert checks. benchmarks/index_planning.py, other users' indexes 0 / 100 / 300 / 1,000: planning the
#: search's graph query 0.05 / 0.34 / 1.2 / 9.7 ms, a REST-style read 0.03 / 0.39 / 0.98 / 6.8 ms, and
#: semantic_search end to end 4.1 / 4.0 / 5.9 / 17.6 ms. Past this many, larger users displace smaller
#: ones (``crowded``) and the rest are searched by the sketch scan.
DEFAULT_MAX_INDEXES = 100
#: hnsw.ef_search for a user's queries when calibration is off: how many candidates the graph search keeps
#: (by sketch distance); the best quarter of them (at least 5k) are re-ranked by exact distance. The number
#: needed grows with the user, so by default each user's is measured (see :func:`calibrate`).
DEFAULT_EF_SEARCH = 200
#: What calibration aims for: the mean recall@10 over midpoint probes (see :func:`calibrate`) of what
#: semantic_search does: the graph's candidates re-ranked exactly and, for a hard query, a second walk's
#: best joined in (the sketch scan's until 20260202002500, when the figures below were measured).
#: Midpoints are harder than what users ask, and more so the larger the user. On real text
#: (the search benchmark's corpus, graphs over sketches at ef_construction 400; two samples of probes each):
#:   * 20,000 memories: probes 0.978-0.985 at ef_search 64, 0.987 at 80, 0.990 at 100; held-out queries
#:     through the SQL function 0.997 at 64 (worst 0.9 of 900);
#:   * 100,000: probes 0.971-0.978 at 100, 0.976-0.984 at 120, 0.985-0.989 at 160; held-out queries
#:     0.996-0.999 at 100, 0.997-0.999 at 120, 0.998-0.999 at 160, with a worst query of 0.7-0.9 in 300-900
#:     at each.
#: So 0.98 chooses 64-80 at 5,000 and 20,000 memories and 100-120 at 100,000, where 160 cost 15-20% more per
#: query for no better worst query. At 0.975 the search benchmark's calibration once chose 80 at 100,000
#: (probes 0.975), where the SQL function's worst of 300 held-out queries was 0.7. (The target was 0.97 for
#: the graph alone before, which chose 160 at 100,000.) With hard probes told by their confidence
#: (:data:`CONFIDENCE_SPREAD`, calibration 5): probes 0.993 at 64 and 0.995 at 80 at 20,000 memories, 0.980
#: at 160 at 100,000, where 160 is still chosen; the ladder now starts at 80 (see :data:`EF_LADDER`).
TARGET_RECALL = 0.98
#: The candidate lists calibration tries, smallest first (pgvector accepts up to 1,000). The probes are
#: not the user's own memories: those are nodes of the graph, linked to their nearest neighbours, which a
#: query written by the user is not. On real text at 100,000 memories, own memories (leaving themselves
#: out) had recall@10 0.997-0.998 at every ef_search from 64 to 160, as did queries leaning 4 to 1 towards
#: one memory: too easy to tell the steps apart, while midpoints of two memories fall as held-out queries'
#: recall does, a step behind. The steps are close at the bottom, where a large user's search spends
#: most of its time walking the graph (about 0.027 ms per unit of ef_search at 100,000 memories).
#: It starts at :data:`FIRST_EF_SEARCH`, not 64: once hard probes were told by their confidence, most
#: midpoints that a list of 64 answered badly walked again and were rescued (probes 0.993 at 64 at 20,000
#: memories), so calibration chose 64 where held-out queries fare worse for it. Measured on real text (the
#: search benchmark's corpus, 4,000 held-out queries at 20,000 memories, the SQL function, variants taking
#: turns; queries below 0.9 / p50 ms): 64, 15 / 2.16 and 2.00; 80, 6 / 2.44 and 2.24; the 10th hit's test at
#: 80 as before, 14 / 2.42 and 2.26. At 5,000 (2,000 queries): 64, 3 / 1.36; 80, 2 / 1.48.
EF_LADDER = (80, 100, 120, 160, 250, 400, 640, 1000)
#: A query whose first walk's answer is less confident (:func:`answer_confidence`) than this share of the
#: user's own memories' is "hard" and walks the graph again with a longer list (semantic_search's
#: fallback_below; :func:`hard_walk`). A quarter when the test read the k-th hit's similarity alone (on
#: real text at 100,000 memories, the held-out queries whose recall the graph search lost were all in the
#: lowest tenth by it): the median query pays nothing. The confidence ranks own memories higher than held-out
#: queries, so 35% of own memories flags about the share of queries a quarter did (on real text, thresholds
#: from 2,000 own memories: 23.5% of held-out queries at 20,000 memories against 23.0%, 23.7% at 5,000
#: against 24.2%, 23.1% at 100,000 against 21.5%); see :data:`CONFIDENCE_SPREAD` for what it gains.
FALLBACK_QUANTILE = 0.35
#: The list of a large user's first walk (semantic_search's first_ef_search), for a user whose calibrated
#: list is longer. Only a query whose answer then is less confident (:func:`answer_confidence`) than the
#: user's :data:`RETRY_QUANTILE` of their own memories' (``retry_below``; their 10th neighbours' similarity
#: when measured) walks again with the calibrated list: the median query walks 80 instead of 120-250.
#: Measured on real text (the search benchmark's corpus, a user of 100,000 memories, 1,200 held-out queries,
#: recall@10 mean / queries below 0.9; the thresholds by the 10th hit then): one walk at 120,
#: 0.9972 / 2; at 160, 0.9981 / 2; at 100, 0.9963 / 5; 80 first and then 120, 160 or 250, 0.9969-0.9973 / 3,
#: with 14-17% of queries walking twice (and 18-25% hard, as before); 64 first, 0.9958-0.9962 / 5. The SQL
#: function alone, the five alternating query by query (400 queries): p50 5.9 ms at 120, 6.8 at 160, 9.5 at
#: 250; 80 first, 5.0 ms before 160 and 5.2 before 250, the mean lower too. On calibration's midpoint probes
#: a first walk of 80 costs more (mean 0.9720 against 0.9775 for one walk at 160, 200 probes) than on
#: held-out queries (0.9970 against 0.9981): midpoints of unrelated memories are harder than what users ask
#: (see :data:`EF_LADDER`). So this list is fixed, measured on real queries, and the calibrated one still
#: decides every query that looks uncertain. That walk is at least twice this list
#: (20260202002800_search_uncertain_walk_doubled.sql): calibration chose 100, 120 and 160 at 100,000
#: memories across the search benchmark's builds, and on one graph (3,000 held-out queries, the SQL function
#: taking turns) an uncertain walk of 160 instead of the list left 3 below 0.9 instead of 5 at a list of
#: 100 and 4 at 120, mean +0.13 ms.
FIRST_EF_SEARCH = 80
#: See :data:`FIRST_EF_SEARCH`: above :data:`FALLBACK_QUANTILE`, so a hard query is uncertain too (it walks
#: again with :func:`hard_walk`'s list instead, which is longer). 35% when the tests read the k-th hit alone:
#: at 100,000 memories 11.8% of held-out queries are uncertain (not hard) now, against 8.6%.
#: An entry with one list (calibration chose :data:`FIRST_EF_SEARCH`, or a list given by hand) walks an
#: uncertain query again with three times it, at most 1,000 (20260202002700_search_walks_aside.sql): the
#: queries it still answered with fewer than 9 of their true 10 were mostly uncertain ones. On real text (the
#: search benchmark's corpus, held-out queries, the SQL function before and after taking turns; queries below
#: 0.9, p50 ms): 5,000 memories, 4,000 queries, 4 -> 1, +0.03; 20,000, 4,000 queries, 6 -> 2, +0.15-0.2.
#: Calibration does not score this walk: it only adds to what the calibrated list answers.
RETRY_QUANTILE = 0.45
# Measured and dropped: a third threshold, the 55% quantile of the same confidence, below which an answer at
# least as confident as retry_below walks aside too, where the entry has a first walk (a list of 2k for the
# query minus its projection on the mean of its first k hits, its best k ranked exactly). It was aimed at the
# queries still answered with 8 of 10 at 100,000 memories: confident answers to queries that join two topics,
# which a longer walk for the query does not fix and a walk aside does. On one graph of the search benchmark's
# real text (100,000 memories, the first 1,000 held-out queries, the SQL function taking turns): 3 -> 0 below
# 0.9, p50 3.39 -> 3.75 ms, 10% of queries walking aside. In the benchmark's own build: 4 -> 2 of 1,000
# below 0.9, and the SDK's p50 above pgvector HNSW's (6.33 against 5.60 ms, where it had been 4.99 against
# 5.47): each walk aside costs about 1 ms (the mean's 10 rows read, a walk planned, the candidates merged).
#: How much the fall-off behind an answer's k-th hit adds to its confidence (:func:`answer_confidence`;
#: memory_search_indexes.confidence_spread). The queries a graph walk still answers badly are mostly not
#: those with a dissimilar 10th hit: their 10th hit is as similar as most, but so are the candidates behind
#: it. The query lies between groups of memories and the walk found a flat stretch of one of them. Measured
#: on real text (the search benchmark's corpus, 4,000 held-out queries at 20,000 memories, candidate lists
#: offline; queries below 0.9 with the same share of queries walking twice as the 10th hit alone flagged):
#: the 10th hit alone, 14; the mean of the first 10, 7; the 10th plus 3 or 4 times its lead over the 40th, 5
#: and 4 (over the 20th, 5; at 5,000 memories 6-7 against 9; at 100,000, 9 against 10). The SQL function
#: alone, old and new taking turns with the entries tune-search wrote (see
#: 20260202002600_search_answer_confidence.sql): 20,000, 14 -> 6 of 4,000 below 0.9, p50 level; 5,000, 6 -> 2
#: of 2,000, p50 +0.11 ms (a list of 80 instead of 64, :data:`EF_LADDER`); 100,000, 13 -> 6 of 3,000, p50
#: +0.12 ms.
CONFIDENCE_SPREAD = 3.0
#: The shortest list of a hard query's second walk (see :func:`hard_walk`). Measured on real text (the
#: search benchmark's corpus, one user beside 20 of 1,000, held-out queries, variants taking turns query by
#: query; recall@10 mean / queries below 0.9, p50 / mean / p95 ms): at 100,000 memories (1,500 queries, first
#: walk 80 of a list of 160) the sketch scan of all the user's memories this replaced gave 0.9962 / 5,
#: 3.85 / 11.2 / 47.0; a second walk of 250, 0.9944 / 11, 3.79 / 5.8 / 13.3; of 400, 0.9956 / 6,
#: 3.73 / 6.4 / 16.9; of 640, 0.9959 / 6, 3.77 / 7.8 / 24.0. At 20,000 (2,000 queries, list 64) a walk of
#: 400 costs what the scan did (the old and new SQL functions: 2.39 / 3.94 / 10.2 and 2.38 / 3.90 / 10.8),
#: with 10 and 11 below 0.9; with neither, 51.
#: Where the entry has a first walk (its calibrated list longer than :data:`FIRST_EF_SEARCH`), a hard query
#: also walks aside: the first walk's list for the query minus its projection on the mean of the first
#: walk's 10 best hits, its best 2k ranked exactly against the query
#: (20260202002700_search_walks_aside.sql). At 100,000 memories half the queries a second walk left below 9
#: of their true 10 mostly stay there with longer lists too (640 left two of the three, 1,000 one): the graph
#: does not lead there from where the walks start, while the walk aside does (on real text, 3,000 queries,
#: the SQL function before and after taking turns: 6 -> 3 below 0.9, p50 level, mean +0.9 ms). At 5,000 and
#: 20,000 memories it fixed none. Calibration does not score it.
HARD_EF_SEARCH = 400
_CALIBRATION_QUERIES = 200
# How many of the user's own memories set the thresholds (quantiles of their answers' confidence). From 200,
# the share of held-out queries found hard ranged 14-24% (5th to 95th percentile of samples, 20,000 memories
# of real text); from 1,000, 17-20%. Their neighbours cost 6 s at 100,000 memories with the probes'.
_THRESHOLD_MEMORIES = 1000
_K = 10
# How many candidates semantic_search takes from the sketch scan for k = 10 (its `depth`), for a hard query
# with no longer list to walk (:func:`hard_walk`).
_RESCUE_DEPTH = 400
_BATCH = 10_000
#: Rebuild a user's index once their live memories are this many times what it was built over (or fewer
#: than 1/this): the graph then holds mostly entries placed one by one, and its entry in
#: memory_search_indexes describes a user who no longer exists.
DEFAULT_GROWTH = 2.0
# The graph's parameters. m is pgvector's default; ef_construction is not (64): real text has dense regions
# whose graph, built with a short candidate list, leaves some neighbourhoods reachable only by long detours,
# and a query that starts on the wrong side misses them whole (a top-1 at similarity 0.54 missed while ten
# at 0.38-0.46 came back). Measured on the search benchmark's real text, graph alone at ef_search 100,
# recall@10 mean / worst: 20,000 memories (500 held-out queries), 0.989 / 0.4 at 64, 0.994 / 0.6 at 128,
# 0.995 / 0.7 at 200 (11 s to build); 100,000 (200 queries), 0.990 / 0.8 at 128, 0.993 / 0.8 at 200 (86 s
# to build). m 32 gained as much but cost ~1 ms per query at 20,000.
# Those figures are for the earlier graph over half-precision copies (195 MB at 100,000 memories). The graph
# over sketches (57 MB; see 20260202001800_search_sketch_graph.sql), at 100,000 memories:
#   * ef_search 200, its best 100 re-ranked, 600 held-out queries: recall@10 0.994 / worst 0.5 built at
#     ef_construction 100 (23 s), 0.998 / 0.8 at 200 (37 s);
#   * ef_search 100, its best 50 re-ranked, 240 held-out queries: 0.989 / 0.7 at 200, 0.993 / 0.9 at 400
#     (52 s); calibration's midpoint probes at ef_search 160 (best 50) reached the target at 400 (0.976),
#     not at 200, where calibration went on to 250 (best 62; benchmark p50 8.7 ms against 7.3-8.0);
#   * m 24 with ef_construction 400 (67 MB, 63 s): no better than m 16 (probes 0.971 at 160, held-out 0.994);
#     m 8 (49 MB, 38 s): worse (probes 0.941 at 160, held-out 0.984 with a worst query of 0.7).
# Measured and dropped: a graph over binary_quantize(embedding)::bit(768) (38 MB), its best 200 re-ranked
# exactly: recall@10 0.967-0.987, worst query 0.5-0.7 on real text. The sketch keeps three levels per
# dimension (2,304 bits), not the sign alone.
_M = 16
_EF_CONSTRUCTION = 400
_INDEX_PREFIX = "conversations_search_"
# A rebuild's new index and the old one it replaces, while both exist (index_name + suffix).
_NEXT, _OLD = "_next", "_old"
_SPARE_SUFFIXES = (_NEXT, _OLD)
# A build holds every sketch of the user plus the graph in memory: ~0.6 KB per memory (57 MB at 100,000).
_BUILD_BYTES_PER_MEMORY = 700
_MAX_BUILD_MEMORY = 1 << 30

#: Which calibration measured an entry's ef_search, recorded in ``memory_search_indexes.calibration``:
#: 5, as 4 with hard probes and the thresholds told by :func:`answer_confidence`; 4, as 3 with a hard probe
#: scored by a second walk (:func:`hard_walk`), as the search now answers one;
#: 3, :func:`calibrate` as 2 with a first walk of :data:`FIRST_EF_SEARCH` for a longer list; 2,
#: :func:`calibrate` scoring what semantic_search returns (1 was the graph alone, never recorded);
#: 0, an ef_search given by hand (``ef_search=``). An entry measured by an earlier method (or written before
#: the column, null) is calibrated again by the next run, which keeps the index (``recalibrate``); one given
#: by hand is left as it is. Raise this when calibration changes what it chooses.
CALIBRATION = 5
_BY_HAND = 0

Action = Literal["new", "grown", "outdated", "recalibrate", "shrunk", "crowded", "orphan"]
# The actions after which the user holds an index.
_HOLDING: tuple[Action, ...] = ("new", "grown", "outdated", "recalibrate")
#: What a user's graph links: their memories' sketches (this version) or half-precision copies of their
#: embeddings (earlier versions; semantic_search still walks those until they are rebuilt).
Graph = Literal["sketch", "halfvec"]
# What this version's graph indexes, as both CREATE INDEX and pg_get_indexdef spell it: the build writes it
# and the plan recognises it, so the two cannot disagree.
_INDEXED = "embedding_sketch extensions.bit_hamming_ops"


@dataclass(frozen=True)
class TunedUser:
    """One user's index work: what was (or, in a dry run, would be) done and why."""

    user_id: UUID
    #: Live memories with embeddings now.
    memories: int
    #: What needs doing: ``new`` (build), ``grown`` or ``outdated`` (rebuild), ``recalibrate`` (measure the
    #: index again: asked for, or measured by an earlier calibration), ``shrunk``, ``crowded`` (larger users
    #: fill :data:`DEFAULT_MAX_INDEXES`) or ``orphan`` (drop).
    action: Action
    #: Memories the existing index was built over (None when there is none).
    indexed: int | None
    seconds: float
    #: The partial index on ``public.conversations``.
    index: str
    #: The hnsw.ef_search stored for the user's queries (None when nothing was built).
    ef_search: int | None = None
    #: Calibration's recall@10 at that ef_search over its midpoint probes, as semantic_search ranks them (see
    #: :func:`calibrate`): mean and worst probe (None if not calibrated).
    recall: tuple[float, float] | None = None
    #: The list of the first walk, when shorter than ``ef_search`` (see :data:`FIRST_EF_SEARCH`).
    first_ef_search: int | None = None

    def describe(self) -> str:
        """One line for people."""
        why = {
            "new": f"{self.memories:,} memories, no index yet: build",
            "grown": f"{self.memories:,} memories, index built over {self.indexed or 0:,}: rebuild",
            "outdated": f"{self.memories:,} memories, index built with other graph settings: rebuild",
            "recalibrate": f"{self.memories:,} memories, index up to date: calibrate its ef_search again",
            "shrunk": f"{self.memories:,} memories, index built over {self.indexed or 0:,}: drop",
            "crowded": f"{self.memories:,} memories, larger users fill the index limit: drop",
            "orphan": "index without a user or entry: drop",
        }[self.action]
        if self.ef_search is not None:
            why += f" (ef_search {self.ef_search}"
            if self.recall is not None:
                why += f", probe recall@10 {self.recall[0]:.3f}, worst probe {self.recall[1]:.1f}"
            if self.first_ef_search is not None:
                why += f"; a first walk at {self.first_ef_search}"
            why += ")"
        return f"{self.user_id}: {why}"


@dataclass(frozen=True)
class TuneReport:
    """What a :func:`tune_search` run did (or, with ``dry_run``, would do)."""

    tuned: tuple[TunedUser, ...]
    #: Users with memories that needed nothing (indexed and in range, or small).
    skipped: int
    seconds: float
    dry_run: bool = False
    #: Users with enough memories for an index who get none, since larger users fill the index limit (those
    #: who lose theirs for that reason are in ``tuned`` as ``crowded``).
    left_out: tuple[UUID, ...] = ()
    #: Size marks set right (``memory_search_large_users``: who holds 2,000 memories or more), or, in a dry
    #: run, found wrong. The triggers that keep them check one write in 16, so a mark can lag a bulk import.
    marks: int = 0

    def summary(self) -> str:
        """One line for people."""
        counts = {a: sum(1 for u in self.tuned if u.action == a) for a in get_args(Action)}
        done = ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "nothing"
        verb = "would tune" if self.dry_run else "tuned"
        users = len(self.tuned)
        line = (
            f"{verb} {users} user{'' if users == 1 else 's'} ({done}) in {self.seconds:.1f} s; "
            f"{self.skipped} user{'' if self.skipped == 1 else 's'} needed nothing"
        )
        if self.left_out:
            n = len(self.left_out)
            line += (
                f"; {n} user{'' if n == 1 else 's'} with enough memories left without an index: larger users"
                " fill the index limit (max_indexes, --max-indexes)"
            )
        if self.marks:
            line += (
                f"; {self.marks} size mark{'' if self.marks == 1 else 's'}"
                f" {'to set right' if self.dry_run else 'set right'}"
            )
        return line


def index_name(user_id: UUID) -> str:
    """The name of ``user_id``'s partial HNSW index on ``public.conversations``."""
    return _INDEX_PREFIX + user_id.hex


def _graph_settings(definition: str, options: Sequence[str] | None) -> tuple[Graph, int, int]:
    """``(graph, m, ef_construction)`` of an HNSW index from its definition and ``pg_class.reloptions``
    (pgvector's defaults where unset): ``sketch`` for a graph over ``embedding_sketch``, else ``halfvec``
    (an earlier version's graph over half-precision copies)."""
    given = dict(option.split("=", 1) for option in options or ())
    graph: Graph = "sketch" if f"hnsw ({_INDEXED})" in definition else "halfvec"
    return graph, int(given.get("m", 16)), int(given.get("ef_construction", 64))


def _owner(name: str) -> UUID | None:
    """The user of an index named by :func:`index_name` (None for a spare or someone else's index)."""
    try:
        return UUID(hex=name.removeprefix(_INDEX_PREFIX))
    except ValueError:
        return None


def _size_marks(conn: psycopg.Connection[Any], users: Sequence[UUID] | None, *, dry_run: bool) -> int:
    """Set ``memory_search_large_users`` right for ``users`` (all when None): how many marks were wrong.

    semantic_search ranks a user without an index exactly unless they are marked as holding 2,000 memories
    or more. Triggers keep the marks, checking one write in 16; concurrent imports for one user, each seeing
    fewer than the limit, can leave a large user unmarked (ranked exactly: right, but linear) until a later
    checked write. The database does the work (``public.set_large_memory_owners``, which the migration that
    made the table also runs); a database migrated before it has no marks: 0.
    """
    procedure = "public.set_large_memory_owners(uuid[], boolean)"
    if conn.execute("select to_regprocedure(%s)", (procedure,)).fetchone() == (None,):
        return 0
    row = conn.execute(
        "select public.set_large_memory_owners(%s::uuid[], %s)",
        (list(users) if users is not None else None, dry_run),
    ).fetchone()
    return int(row[0]) if row else 0


def _plan(
    conn: psycopg.Connection[Any],
    min_memories: int,
    growth: float,
    max_indexes: int,
    user_ids: Sequence[UUID] | None,
    *,
    recalibrate: bool = False,
) -> tuple[list[TunedUser], int, tuple[UUID, ...]]:
    users = list(user_ids) if user_ids is not None else None
    counts = {
        uid: int(n)
        for uid, n in conn.execute(
            "select user_id, count(*) from public.conversations"
            " where embedding is not null and not is_deleted"
            " and (%(users)s::uuid[] is null or user_id = any(%(users)s::uuid[]))"
            " group by user_id",
            {"users": users},
        ).fetchall()
    }
    entries: dict[UUID, int] = {}
    # Entries whose ef_search an earlier calibration chose (see CALIBRATION).
    measured_before: set[UUID] = set()
    for uid, n, calibration in conn.execute(
        "select user_id, memories, calibration from public.memory_search_indexes"
        " where %(users)s::uuid[] is null or user_id = any(%(users)s::uuid[])",
        {"users": users},
    ).fetchall():
        entries[uid] = int(n)
        if calibration is None or _BY_HAND < calibration < CALIBRATION:
            measured_before.add(uid)
    # Indexes that exist (valid or left invalid by an interrupted build) under our naming, with the graph
    # settings each was built with.
    existing = {
        str(name): _graph_settings(str(definition), options)
        for name, definition, options in conn.execute(
            "select c.relname, pg_catalog.pg_get_indexdef(c.oid), c.reloptions from pg_catalog.pg_index i"
            " join pg_catalog.pg_class c on c.oid = i.indexrelid"
            " where i.indrelid = 'public.conversations'::regclass and c.relname like %s",
            (_INDEX_PREFIX + "%",),
        ).fetchall()
    }
    plan: list[TunedUser] = []
    for uid in sorted(set(counts) | set(entries), key=str):
        now, built = counts.get(uid, 0), entries.get(uid)
        action: Action | None = None
        if built is None or index_name(uid) not in existing:
            action = "new" if now >= min_memories else ("orphan" if built is not None else None)
        elif now < min_memories / growth:
            action = "shrunk"
        elif now >= built * growth:
            action = "grown"
        elif existing[index_name(uid)] != ("sketch", _M, _EF_CONSTRUCTION):
            action = "outdated"
        elif recalibrate or uid in measured_before:
            action = "recalibrate"
        if action is not None:
            plan.append(TunedUser(uid, now, action, built, 0.0, index_name(uid)))
    plan, left_out = _within_limit(plan, counts, entries, existing, growth, max_indexes, users)
    if users is None:
        known = {index_name(uid) for uid in entries}
        for name in sorted(set(existing) - known):
            owner = _owner(name)
            # None: someone else's index that happens to share the prefix, not ours to drop.
            if owner is not None and not any(u.user_id == owner for u in plan):
                plan.append(TunedUser(owner, counts.get(owner, 0), "orphan", None, 0.0, name))
    untouched = len(counts) - sum(1 for u in plan if u.user_id in counts) - len(left_out)
    # Drops first, so that a run never holds more indexes than the limit while it builds.
    plan.sort(key=lambda u: u.action not in ("shrunk", "crowded", "orphan"))
    return plan, untouched, left_out


def _within_limit(
    plan: list[TunedUser],
    counts: dict[UUID, int],
    entries: dict[UUID, int],
    existing: dict[str, tuple[Graph, int, int]],
    growth: float,
    max_indexes: int,
    users: list[UUID] | None,
) -> tuple[list[TunedUser], tuple[UUID, ...]]:
    """``plan`` with at most ``max_indexes`` users holding an index after it, the largest; the rest left out.

    A user who has an index counts as ``growth`` times their size, so that a newcomer displaces them only
    when that much larger (as a rebuild waits for that much growth): two users of about the same size
    never take turns. A run limited to some users leaves the others' indexes as they are and fits into
    the room those leave.
    """
    acting = {u.user_id: u for u in plan}
    indexed = {uid for uid in entries if index_name(uid) in existing}

    def holds_after(uid: UUID) -> bool:
        if uid in acting:
            return acting[uid].action in _HOLDING
        return uid in indexed

    def weight(uid: UUID) -> tuple[float, str]:
        return (-counts.get(uid, 0) * (growth if uid in indexed else 1.0), str(uid))

    scope = set(counts) | set(entries)
    owners = {_owner(name) for name in existing} - {None}
    others = 0 if users is None else len(owners - scope)
    ranked = sorted((uid for uid in scope if holds_after(uid)), key=weight)
    over = ranked[max(0, max_indexes - others) :]
    left_out: list[UUID] = []
    for uid in over:
        if uid in acting and acting[uid].action == "new" and uid not in entries:
            left_out.append(uid)
            del acting[uid]
        else:
            # An index to drop, or an entry whose index is gone (a failed build) that would keep naming it.
            now = counts.get(uid, 0)
            acting[uid] = TunedUser(uid, now, "crowded", entries.get(uid), 0.0, index_name(uid))
    order = {u.user_id: i for i, u in enumerate(plan)}
    kept = sorted(acting.values(), key=lambda u: (order.get(u.user_id, len(order)), str(u.user_id)))
    return kept, tuple(sorted(left_out, key=str))


class Calibration(NamedTuple):
    """What :func:`calibrate` measured for one user's index."""

    #: The smallest list of :data:`EF_LADDER` that met :data:`TARGET_RECALL` (the largest if none did).
    ef_search: int
    #: Mean recall@10 of the probes at that list, and the worst probe's.
    recall: float
    worst: float
    #: semantic_search's ``fallback_below``: a query whose answer is less confident is hard and walks again
    #: (:func:`hard_walk`; :data:`FALLBACK_QUANTILE` of the :func:`answer_confidence` of the user's own
    #: memories, from their nearest neighbours).
    fallback_below: float
    #: semantic_search's ``retry_below``: after a first walk (:data:`FIRST_EF_SEARCH`), a query whose answer
    #: is less confident walks again with ``ef_search`` (:data:`RETRY_QUANTILE` of the same).
    retry_below: float


def calibrate(conn: psycopg.Connection[Any], user_id: UUID, *, seed: int = 0) -> Calibration:
    """The smallest ``hnsw.ef_search`` of :data:`EF_LADDER` at which ``user_id``'s index meets its target.

    The probe queries are midpoints of random pairs of the user's memories: like a query the user writes,
    and unlike a memory itself, a midpoint is no node of the graph (see :data:`EF_LADDER`). Each one's
    true top 10 comes from comparing it with every live memory of the user, streamed in batches; then
    what semantic_search returns is scored at each ef_search in turn, until the mean recall@10 reaches
    :data:`TARGET_RECALL`: the index's candidates re-ranked by exact distance and, where they are less
    confident than ``fallback_below`` (a hard query, :func:`answer_confidence`), ranked together with a
    second walk's best
    (:func:`hard_walk`; the sketch scan's where there is no longer list).
    The probes are scored with one walk at each list: the first walk of :data:`FIRST_EF_SEARCH` is
    measured on real queries instead (see there). Needs the index built.
    """
    vectors = _sample(conn, user_id, seed, _THRESHOLD_MEMORIES + 2 * _CALIBRATION_QUERIES)
    # The first are the memories whose answers set the thresholds (as :func:`thresholds` finds them); the
    # last 2 x _CALIBRATION_QUERIES are paired into midpoints, after those where the user has enough memories
    # and among them otherwise (a pair of opposite memories would give a zero vector: skipped).
    own = vectors[:_THRESHOLD_MEMORIES]
    pairs = vectors[max(len(vectors) - 2 * _CALIBRATION_QUERIES, 0) :]
    half = len(pairs) // 2
    midpoints = pairs[:half] + pairs[half : 2 * half]
    norms = np.linalg.norm(midpoints, axis=1)
    midpoints = midpoints[norms > 1e-6] / norms[norms > 1e-6, None]
    queries = np.concatenate([own, midpoints])
    # The probes: the midpoints, or for a user too small to pair, their own memories.
    probes = slice(len(own), None) if len(midpoints) else slice(0, _CALIBRATION_QUERIES)
    best_scores, best_ids = _neighbours(conn, user_id, queries)
    hard_below, retry_below = _thresholds(best_scores[: len(own)])
    # Tie-aware truth (duplicate texts have identical embeddings): a hit as similar as the k-th counts.
    truth = [
        {m for m, s in zip(ids, scores, strict=True) if s >= scores[_K - 1] - 1e-6}
        for ids, scores in zip(best_ids[probes].tolist(), best_scores[probes].tolist(), strict=True)
    ]
    texts = [vector_text(q) for q in queries[probes]]
    # A hard probe's second opinion, by the list of its second walk (None: the sketch scan), fetched once.
    rescues: dict[tuple[int, int | None], set[Any]] = {}
    result = Calibration(EF_LADDER[-1], 0.0, 0.0, hard_below, retry_below)
    for ef in EF_LADDER:
        # The list semantic_search walks for k hits: at least 4k, at most pgvector's 1,000.
        walked = min(max(ef, 4 * _K), 1000)
        with _walking(conn, walked):
            # What semantic_search does: the graph's best candidates re-ranked by exact distance.
            # prepare=False here and in the helpers below: each probe's statement is planned for its own
            # user id, as the function's EXECUTE is. psycopg prepares a statement run five times, and after
            # five more the server may keep a generic plan, which cannot know the user: the sketch scan's
            # then read every heap row (1.4 s a probe instead of 60 ms at 100,000 memories; 51 of the 69 s
            # calibration took there), and the graph's partial index cannot serve `user_id = $1` at all.
            # Each probe's best 4k of them: the answer and what its confidence reads.
            candidates = [
                conn.execute(
                    f"select c.id, c.embedding operator(extensions.<=>) %s::extensions.vector"
                    f" from (select id, embedding from public.conversations where {_LIVE}{_BY_SKETCH}"
                    " limit %s) c"
                    " order by 2 limit %s",
                    (text, user_id, text, rerank_pool(ef, _K), 4 * _K),
                    prepare=False,
                ).fetchall()
                for text in texts
            ]
        # Outside that transaction: a hard query's sketch scan sorts, as the search's does (a second walk
        # sets its own).
        longer = hard_walk(ef, _K)
        recalls = []
        for i, (text, true, found) in enumerate(zip(texts, truth, candidates, strict=True)):
            if len(found) < _K:
                # Fewer than k candidates: semantic_search ranks the user's memories exactly instead.
                recalls.append(1.0)
                continue
            got = [r[0] for r in found[:_K]]
            if answer_confidence([1 - r[1] for r in found], _K) < hard_below:
                # ... and, for a hard query, the best of the graph's and a second walk's candidates.
                if (i, longer) not in rescues:
                    rescues[i, longer] = (
                        _sketch_rescue(conn, user_id, text)
                        if longer is None
                        else _walk(conn, user_id, text, longer)
                    )
                got = _rank(conn, set(got) | rescues[i, longer], text)
            recalls.append(min(_K, len(set(got) & true)) / _K)
        result = Calibration(ef, float(np.mean(recalls)), float(np.min(recalls)), hard_below, retry_below)
        if result.recall >= TARGET_RECALL:
            break
    return result


def thresholds(conn: psycopg.Connection[Any], user_id: UUID, *, seed: int = 0) -> tuple[float, float]:
    """``(fallback_below, retry_below)`` for ``user_id``, as :func:`calibrate` measures them, without its
    probes: for an ef_search given by hand, whose searches still need to know a hard or uncertain query."""
    own = _sample(conn, user_id, seed, _THRESHOLD_MEMORIES)
    return _thresholds(_neighbours(conn, user_id, own)[0])


# The live memories of a user, as calibration reads them.
_LIVE = "user_id = %s and embedding is not null and not is_deleted"
# Their order by sketch distance to the query (its text the statement's next parameter), as the search ranks.
_BY_SKETCH = (
    " order by embedding_sketch operator(extensions.<~>)"
    " public.embedding_sketch(%s::extensions.vector)::bit(2304)"
)


@contextmanager
def _walking(conn: psycopg.Connection[Any], ef_search: int) -> Iterator[None]:
    """A transaction whose statements ordered by sketch distance walk the user's graph with ``ef_search``.

    The index, never the user's rows sorted by sketch distance (which would measure the sketch's recall at
    any ef_search): sorting is what enable_sort = off leaves only for the re-ranking.
    """
    with conn.transaction():
        conn.execute(sql.SQL("set local hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        conn.execute("set local enable_sort = off")
        yield


def _sample(conn: psycopg.Connection[Any], user_id: UUID, seed: int, n: int) -> np.ndarray[Any, Any]:
    """``n`` of the user's live embeddings, unit length, in an order fixed by ``seed`` (the first ``m`` of
    a larger sample are the sample of ``m``)."""
    info = TypeInfo.fetch(conn, "extensions.vector")
    if info is None:
        raise ConfigurationError("extensions.vector does not exist: this database is not migrated")
    register_vector_info(conn, info)  # embeddings come back as pgvector's Vector
    sample = conn.execute(
        f"select id, embedding from public.conversations where {_LIVE} order by md5(id::text || %s) limit %s",
        (user_id, str(seed), n),
        binary=True,
    ).fetchall()
    vectors = np.stack([r[1].to_numpy() for r in sample]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _neighbours(
    conn: psycopg.Connection[Any], user_id: UUID, queries: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Each query's 4k+1 most similar live memories of the user (similarities and ids, best first), from
    every one of them streamed in batches (4k for :func:`answer_confidence`, +1: an own memory finds itself
    first)."""
    width = 4 * _K + 1
    best_scores = np.full((len(queries), width), -np.inf, dtype=np.float32)
    # Positions in `ids`, -1 for none yet: an array of ids per batch would be queries x batch objects.
    best = np.full((len(queries), width), -1, dtype=np.int64)
    ids: list[Any] = []
    with conn.transaction(), conn.cursor(name="phase3_calibrate", binary=True) as cur:
        cur.execute(f"select id, embedding from public.conversations where {_LIVE}", (user_id,))
        while rows := cur.fetchmany(_BATCH):
            batch = np.stack([r[1].to_numpy() for r in rows])
            batch /= np.linalg.norm(batch, axis=1, keepdims=True)
            positions = np.arange(len(ids), len(ids) + len(rows))
            ids.extend(r[0] for r in rows)
            scores = np.concatenate([best_scores, queries @ batch.T], axis=1)
            index = np.concatenate([best, np.broadcast_to(positions, (len(queries), len(rows)))], axis=1)
            # The best `width` of each row, in no order (a full sort of every batch took most of the time).
            keep = np.argpartition(-scores, width - 1, axis=1)[:, :width]
            best_scores = np.take_along_axis(scores, keep, axis=1)
            best = np.take_along_axis(index, keep, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    best_scores = np.take_along_axis(best_scores, order, axis=1)
    labels = np.array([*ids, None], dtype=object)  # -1 (fewer memories than width) reads None
    return best_scores, labels[np.take_along_axis(best, order, axis=1)]


def answer_confidence(similarities: Sequence[float], k: int) -> float:
    """How sure an answer of ``k`` hits looks, from its candidates' similarities, best first: the k-th's,
    plus :data:`CONFIDENCE_SPREAD` times how far the 4k-th (or the last, if fewer) falls below it.

    semantic_search computes the same after its first walk (20260202002600_search_answer_confidence.sql),
    over the candidates it ranked exactly, and compares it with the entry's ``fallback_below`` and
    ``retry_below``. A walk that found the query's own neighbourhood sees similarities fall off behind the
    k-th hit; a flat list means it settled among memories no nearer the query than each other.
    """
    if len(similarities) < k:
        raise ValueError(f"an answer of {k} hits needs {k} similarities, got {len(similarities)}")
    kth = float(similarities[k - 1])
    behind = float(similarities[min(len(similarities), 4 * k) - 1])
    return kth + CONFIDENCE_SPREAD * (kth - behind)


def _thresholds(own_scores: np.ndarray[Any, Any]) -> tuple[float, float]:
    """``(fallback_below, retry_below)`` from the neighbours of the user's own memories: quantiles of their
    answers' :func:`answer_confidence`, each memory itself (the best, at 1.0) left out."""
    # A user of fewer than 4k+1 memories has -inf past the last: left out, as answer_confidence expects.
    rows = [[x for x in row[1:] if np.isfinite(x)] for row in own_scores.tolist()]
    confidence = np.array([answer_confidence(row, _K) if len(row) >= _K else -np.inf for row in rows])
    return _hard_below(confidence), float(np.quantile(confidence, RETRY_QUANTILE))


def _hard_below(confidence: np.ndarray[Any, Any]) -> float:
    """semantic_search's fallback_below from the confidence of the user's own memories' answers."""
    return float(np.quantile(confidence, FALLBACK_QUANTILE))


def _walk(conn: psycopg.Connection[Any], user_id: UUID, text: str, ef_search: int) -> set[Any]:
    """The best :func:`rerank_pool` candidates of a walk of ``user_id``'s graph with ``ef_search``, as
    semantic_search's second walk for a hard query."""
    with _walking(conn, ef_search):
        rows = conn.execute(
            f"select id from public.conversations where {_LIVE}{_BY_SKETCH} limit %s",
            (user_id, text, rerank_pool(ef_search, _K)),
            prepare=False,
        ).fetchall()
    return {r[0] for r in rows}


def _sketch_rescue(conn: psycopg.Connection[Any], user_id: UUID, text: str) -> set[Any]:
    """The user's best :data:`_RESCUE_DEPTH` memories by sketch distance, as semantic_search's hard path
    where there is no longer list to walk (see :func:`hard_walk`)."""
    rows = conn.execute(
        "select id from public.conversations"
        f" where user_id = %s and embedding_sketch is not null and not is_deleted{_BY_SKETCH} limit %s",
        (user_id, text, _RESCUE_DEPTH),
        prepare=False,
    ).fetchall()
    return {r[0] for r in rows}


def _rank(conn: psycopg.Connection[Any], candidates: set[Any], text: str) -> list[Any]:
    """The :data:`_K` of ``candidates`` nearest the query by exact distance."""
    rows = conn.execute(
        "select id from public.conversations where id = any(%s)"
        " order by embedding operator(extensions.<=>) %s::extensions.vector limit %s",
        (list(candidates), text, _K),
        prepare=False,
    ).fetchall()
    return [r[0] for r in rows]


def hard_walk(ef_search: int, k: int) -> int | None:
    """The list semantic_search walks a second time for a hard query, after one walk of ``ef_search`` for
    ``k`` hits; None where it would be no longer, and the search reads all the user's sketches instead.

    At least :data:`HARD_EF_SEARCH` and twice the user's list (a user whose data needs a longer list needs a
    longer second walk), at most pgvector's 1,000; its best :func:`rerank_pool` are ranked exactly with the
    first walk's. The SQL function computes the same (20260202002500_search_hard_query_walks.sql), except
    that for an entry with a first walk (:data:`FIRST_EF_SEARCH`) it compares with that shorter list: there a
    hard query always walks again. Calibration walks each list once, as this assumes.
    """
    walked = min(max(ef_search, 4 * k), 1000)
    longer = min(max(HARD_EF_SEARCH, 2 * walked), 1000)
    return longer if longer > walked else None


def rerank_pool(ef_search: int, k: int) -> int:
    """How many of the graph's candidates semantic_search ranks by exact distance for ``k`` hits.

    A quarter of the candidate list, at least 5k: each candidate re-ranked is a row read, and rows are
    what a search at 100,000 memories spends most on once its graph is cached. Measured on real text (the
    search benchmark's corpus, 100,000 memories, 320 held-out queries, graph alone): ef_search 160 with its
    best 80 re-ranked, p50 8.5 ms and recall@10 0.998; best 40, 5.9 ms and 0.994; ef_search 100 with its
    best 50, 5.1 ms and 0.989, with 25, 4.6 ms and 0.975 (0.980 at 20,000: too few). The SQL function
    computes the same (20260202001800_search_sketch_graph.sql); calibration measures with this, so a
    smaller pool is paid for by a longer list where the data needs one.
    """
    return max(min(max(ef_search, 4 * k), 1000) // 4, 5 * k)


def _build(conn: psycopg.Connection[Any], user: TunedUser, name: str) -> None:
    """Build ``user``'s partial HNSW index as ``name`` (concurrently: writes go on meanwhile)."""
    memory = min(max(64 << 20, user.memories * _BUILD_BYTES_PER_MEMORY), _MAX_BUILD_MEMORY)
    conn.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(f"{memory // 1024}kB")))
    # An interrupted concurrent build leaves an invalid index behind under this name: start afresh.
    conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.Identifier("public", name)))
    conn.execute(
        sql.SQL(
            "create index concurrently {} on public.conversations"
            f" using hnsw ({_INDEXED})"
            " with (m = {}, ef_construction = {})"
            " where user_id = {} and embedding is not null"
        ).format(
            sql.Identifier(name),
            sql.Literal(_M),
            sql.Literal(_EF_CONSTRUCTION),
            sql.SQL("{}::uuid").format(sql.Literal(str(user.user_id))),
        )
    )
    conn.execute("reset maintenance_work_mem")


@dataclass(frozen=True)
class _Entry:
    """What an entry of memory_search_indexes says about searching a user's index."""

    ef_search: int
    #: None: the first walk is at ef_search (an uncertain or hard answer walks again, longer).
    first_ef_search: int | None
    fallback_below: float
    retry_below: float
    recall: tuple[float, float] | None
    calibration: int


def _choose(conn: psycopg.Connection[Any], user_id: UUID, ef_search: int | None) -> _Entry:
    """An entry's search settings: the list given (no first walk, the thresholds measured), or all of them
    measured by :func:`calibrate`."""
    if ef_search is not None:
        # Without fallback_below no query would count as hard: one given 160 by hand kept a worst query of
        # 0.7 in the search benchmark at 100,000 memories, where the hard path keeps 0.9.
        fallback_below, retry_below = thresholds(conn, user_id)
        return _Entry(ef_search, None, fallback_below, retry_below, None, _BY_HAND)
    measured = calibrate(conn, user_id)
    first = FIRST_EF_SEARCH if measured.ef_search > FIRST_EF_SEARCH else None
    return _Entry(
        measured.ef_search,
        first,
        measured.fallback_below,
        measured.retry_below,
        (measured.recall, measured.worst),
        CALIBRATION,
    )


def _apply(conn: psycopg.Connection[Any], user: TunedUser, ef_search: int | None) -> TunedUser:
    started = time.perf_counter()
    name = sql.Identifier("public", user.index)
    # Two tuners of the same user would race on the same index name; the second waits for the first. A
    # session lock, since CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    lock = "hashtext('phase3_tune_search'), hashtext(%s::text)"
    conn.execute(f"select pg_advisory_lock({lock})", (user.user_id,))
    entry: _Entry | None = None
    try:
        if user.action == "recalibrate":
            # The index stays as it is: only what its entry says about searching it is measured again.
            entry = _choose(conn, user.user_id, ef_search)
            conn.execute(
                "update public.memory_search_indexes set ef_search = %s, first_ef_search = %s,"
                " fallback_below = %s, retry_below = %s, confidence_spread = %s, calibration = %s"
                " where user_id = %s",
                (
                    entry.ef_search,
                    entry.first_ef_search,
                    entry.fallback_below,
                    entry.retry_below,
                    CONFIDENCE_SPREAD,  # what the thresholds were measured with
                    entry.calibration,
                    user.user_id,
                ),
            )
        elif user.action in ("shrunk", "crowded", "orphan"):
            conn.execute("delete from public.memory_search_indexes where user_id = %s", (user.user_id,))
            conn.execute(sql.SQL("drop index concurrently if exists {}").format(name))
            for suffix in _SPARE_SUFFIXES:
                spare = sql.Identifier("public", user.index + suffix)
                conn.execute(sql.SQL("drop index concurrently if exists {}").format(spare))
        else:
            exists = conn.execute("select to_regclass(%s)", (f"public.{user.index}",)).fetchone() != (None,)
            if user.action in ("grown", "outdated") and exists:
                # The user keeps searching their old index until the new one is complete: built under a
                # spare name, then swapped in by two renames in one transaction (an index rename locks
                # only that index), so no search in between falls back to a scan of all their memories.
                current = sql.Identifier("public", user.index)
                fresh, retired = (sql.Identifier("public", user.index + x) for x in (_NEXT, _OLD))
                _build(conn, user, user.index + _NEXT)
                # A retired index an interrupted run left behind would take the name below.
                conn.execute(sql.SQL("drop index concurrently if exists {}").format(retired))
                with conn.transaction():
                    conn.execute(
                        sql.SQL("alter index {} rename to {}").format(
                            current, sql.Identifier(user.index + _OLD)
                        )
                    )
                    conn.execute(
                        sql.SQL("alter index {} rename to {}").format(fresh, sql.Identifier(user.index))
                    )
                    # An outdated entry may name a graph over half-precision copies: from here the name
                    # is a graph over sketches, searched with the entry's ef_search until calibrated.
                    conn.execute(
                        "update public.memory_search_indexes set graph = 'sketch' where user_id = %s",
                        (user.user_id,),
                    )
                conn.execute(sql.SQL("drop index concurrently {}").format(retired))
            else:
                # No index to keep (a new user, or one whose index a failed build left invalid): the user
                # is searched by the sketch ranking or exactly meanwhile (slower, never wrong).
                conn.execute("delete from public.memory_search_indexes where user_id = %s", (user.user_id,))
                _build(conn, user, user.index)
            entry = _choose(conn, user.user_id, ef_search)
            # A rebuilt user's old entry (the old ef_search) served their searches until now.
            conn.execute(
                "insert into public.memory_search_indexes (user_id, index_name, memories, ef_search,"
                " first_ef_search, fallback_below, retry_below, confidence_spread, graph, calibration)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, 'sketch', %s)"
                " on conflict (user_id) do update set index_name = excluded.index_name,"
                " memories = excluded.memories, ef_search = excluded.ef_search,"
                " first_ef_search = excluded.first_ef_search, fallback_below = excluded.fallback_below,"
                " retry_below = excluded.retry_below, confidence_spread = excluded.confidence_spread,"
                " graph = excluded.graph, calibration = excluded.calibration, built_at = now()",
                (
                    user.user_id,
                    user.index,
                    user.memories,
                    entry.ef_search,
                    entry.first_ef_search,
                    entry.fallback_below,
                    entry.retry_below,
                    CONFIDENCE_SPREAD,  # what the thresholds were measured with
                    entry.calibration,
                ),
            )
            # The sketch path's cells are no longer read for this user.
            conn.execute("delete from public.memory_search_cells where user_id = %s", (user.user_id,))
    finally:
        conn.execute(f"select pg_advisory_unlock({lock})", (user.user_id,))
    return TunedUser(
        user.user_id,
        user.memories,
        user.action,
        user.indexed,
        time.perf_counter() - started,
        user.index,
        entry.ef_search if entry else None,
        entry.recall if entry else None,
        entry.first_ef_search if entry else None,
    )


def tune_search(
    url: str,
    *,
    min_memories: int = DEFAULT_MIN_MEMORIES,
    ef_search: int | None = None,
    growth: float = DEFAULT_GROWTH,
    max_indexes: int = DEFAULT_MAX_INDEXES,
    user_ids: Sequence[UUID] | None = None,
    dry_run: bool = False,
    recalibrate: bool = False,
    on_progress: Callable[[int, int, TunedUser], None] | None = None,
) -> TuneReport:
    """Build, rebuild or drop per-user search indexes where users' memories call for it.

    ``url`` is a database URL of the table owner (building an index is DDL). A user with at least
    ``min_memories`` live, embedded memories and no index gets one; an index is rebuilt when its user's
    memories reach ``growth`` times what it was built over, and dropped below ``min_memories / growth``
    (or when its user is gone). At most ``max_indexes`` users hold an index, the largest (see
    :data:`DEFAULT_MAX_INDEXES`: each index costs every statement planned on the table); the report's
    ``left_out`` names those who qualify but get none. ``ef_search`` is the graph search's candidate list
    for that user's queries (higher: better recall, slower); by default each new index is calibrated
    (:func:`calibrate`): the smallest list of :data:`EF_LADDER` whose midpoint probes reach
    :data:`TARGET_RECALL`, with a first walk of :data:`FIRST_EF_SEARCH` where it is longer (a list given has
    no first walk; the thresholds are measured either way, :func:`thresholds`). An index whose
    ef_search an earlier version's calibration chose is calibrated again, the index kept (see
    :data:`CALIBRATION`). ``recalibrate`` calibrates every user whose index
    needs nothing else (or sets ``ef_search`` on them, when given), keeping the index: after a change in
    what users ask, say. ``user_ids`` limits the run to those users. ``dry_run`` only reports.
    A run also sets right the size marks semantic_search reads for a user without an index (who holds 2,000
    memories or more; the report's ``marks``), which its triggers can leave behind a bulk import.
    Indexes are built concurrently: writes go on meanwhile. ``on_progress(done, total, user)`` is called
    after each user.
    """
    checks: list[tuple[str, Any, int, int]] = [
        ("min_memories", min_memories, 1, 10**9),
        ("max_indexes", max_indexes, 0, 100_000),
    ]
    if ef_search is not None:
        checks.append(("ef_search", ef_search, 10, 1000))
    for name, value, low, high in checks:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            message = f"{name} must be an integer from {low} to {high}, got {value!r}"
            raise InvalidInputError(message, field=name)
    if not isinstance(recalibrate, bool):
        raise InvalidInputError(f"recalibrate must be a bool, got {recalibrate!r}", field="recalibrate")
    if isinstance(growth, bool) or not isinstance(growth, int | float) or not growth > 1:
        raise InvalidInputError(f"growth must be a number > 1, got {growth!r}", field="growth")
    started = time.perf_counter()
    tuned: list[TunedUser] = []
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('public.memory_search_indexes')").fetchone() == (None,):
            raise ConfigurationError(
                "public.memory_search_indexes does not exist: this database is not migrated",
                hint="run `phase3 db migrate` first",
            )
        plan, untouched, left_out = _plan(
            conn, min_memories, float(growth), max_indexes, user_ids, recalibrate=recalibrate
        )
        marks = _size_marks(conn, user_ids, dry_run=dry_run)
        if dry_run:
            seconds = time.perf_counter() - started
            return TuneReport(tuple(plan), untouched, seconds, dry_run=True, left_out=left_out, marks=marks)
        for done, user in enumerate(plan, start=1):
            result = _apply(conn, user, ef_search)
            tuned.append(result)
            if on_progress is not None:
                on_progress(done, len(plan), result)
        if tuned:
            conn.execute("analyze public.memory_search_indexes")
    return TuneReport(tuple(tuned), untouched, time.perf_counter() - started, left_out=left_out, marks=marks)
