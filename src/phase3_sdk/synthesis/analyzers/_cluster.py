"""Spherical k-means over memory embeddings: groups memories that talk about the same things."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from phase3_sdk.synthesis.analyzers._features import Features


def embedding_matrix(features: Features) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Unit-normalised embeddings of the memories that have one (of the most common width), and their rows."""
    widths: dict[int, int] = {}
    for m in features.memories:
        if m.embedding is not None and m.embedding.size:
            widths[m.embedding.size] = widths.get(m.embedding.size, 0) + 1
    if not widths:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    width = max(widths, key=lambda w: widths[w])
    rows = np.array(
        [i for i, m in enumerate(features.memories) if m.embedding is not None and m.embedding.size == width],
        dtype=np.int64,
    )
    matrix = np.stack([features.memories[i].embedding for i in rows]).astype(np.float32, copy=False)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
    return unit, rows


def spherical_kmeans(
    vectors: npt.NDArray[np.float32],
    k: int,
    *,
    seed: int = 0,
    iterations: int = 12,
    sample: int = 4000,
    merge_above: float = 0.35,
) -> npt.NDArray[np.int64]:
    """Cluster unit vectors by cosine similarity; returns a label per row, deterministic for a seed.

    Centroids are fitted on a fixed random sample of at most ``sample`` rows (k-means++ seeding), then
    every row is assigned to its nearest centroid: that keeps 10,000 x 768 under a tenth of a second.
    Clusters whose centroids have cosine similarity of at least ``merge_above`` are then joined.
    """
    n = vectors.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    fit = vectors[rng.choice(n, size=sample, replace=False)] if n > sample else vectors
    centroids = np.empty((k, vectors.shape[1]), dtype=np.float32)
    centroids[0] = fit[rng.integers(fit.shape[0])]
    closest = 1.0 - fit @ centroids[0]
    for c in range(1, k):
        weights = np.clip(closest, 0.0, None) ** 2
        total = float(weights.sum())
        pick = (
            int(rng.choice(fit.shape[0], p=weights / total)) if total > 0 else int(rng.integers(fit.shape[0]))
        )
        centroids[c] = fit[pick]
        closest = np.minimum(closest, 1.0 - fit @ centroids[c])
    for _ in range(iterations):
        labels = np.argmax(fit @ centroids.T, axis=1)
        onehot = np.zeros((k, fit.shape[0]), dtype=np.float32)
        onehot[labels, np.arange(fit.shape[0])] = 1.0
        sums = onehot @ fit
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        # A centroid that lost all its members keeps its old position instead of becoming NaN.
        updated = np.where(norms > 0, sums / np.where(norms == 0, 1, norms), centroids)
        if np.allclose(updated, centroids, atol=1e-6):
            break
        centroids = updated.astype(np.float32)
    labels_all: npt.NDArray[np.int64] = np.argmax(vectors @ centroids.T, axis=1).astype(np.int64)
    return _merge_close(labels_all, centroids, merge_above)


def _merge_close(
    labels: npt.NDArray[np.int64], centroids: npt.NDArray[np.float32], threshold: float
) -> npt.NDArray[np.int64]:
    # k is chosen from n alone, so one real topic phrased a few ways often splits into several
    # clusters; joining centroids that point the same way puts it back together (single linkage).
    parent = list(range(centroids.shape[0]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    similarity = centroids @ centroids.T
    for a, b in zip(*np.nonzero(np.triu(similarity, k=1) >= threshold), strict=True):
        parent[root(int(a))] = root(int(b))
    mapping = np.array([root(i) for i in range(len(parent))], dtype=np.int64)
    merged: npt.NDArray[np.int64] = mapping[labels]
    return merged
