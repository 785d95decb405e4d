"""Fusion of the channels' chunk rankings: convex (``convex_fuse``, the default) or RRF.

Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009):

    fused(d) = Σ_channel  weight_channel / (k + rank_channel(d))      (ranks from 1)

Raw scores of different channels are not comparable (cosine vs BM25): RRF uses ranks
only, convex fusion normalizes each channel's scores first. A chunk found by one
channel only keeps that channel's share, so fusion never drops a hit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class FusedHit:
    chunk_id: int
    score: float = 0.0
    # channel -> (rank from 1, the channel's own score)
    channels: dict[str, tuple[int, float]] = field(default_factory=dict)


def rrf_fuse(
    rankings: Mapping[str, Sequence[tuple[int, float]]], *, weights: Mapping[str, float], k: int
) -> list[FusedHit]:
    """Fuse ``{channel: [(chunk id, score), ...best first]}`` into one list, best first (ties: lower chunk id)."""
    fused: dict[int, FusedHit] = {}
    for channel, ranking in rankings.items():
        weight = weights.get(channel, 1.0)
        for rank, (chunk_id, score) in enumerate(ranking, start=1):
            hit = fused.get(chunk_id)
            if hit is None:
                hit = fused[chunk_id] = FusedHit(chunk_id=chunk_id)
            hit.channels[channel] = (rank, score)
            hit.score += weight / (k + rank)
    return sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))


def convex_fuse(
    rankings: Mapping[str, Sequence[tuple[int, float]]], *, weights: Mapping[str, float]
) -> list[FusedHit]:
    """Score-normalized convex fusion: ``fused = Σ w_c · minmax_c(score) / Σ w_c``.

    Each channel's scores are min-max normalized over the candidates it returned (its
    best hit → 1, its worst → 0; a channel whose scores are all equal gives each 1), so
    a chunk's fused score reflects how far ahead it is, not only its rank. A chunk
    missing from a channel gets 0 from it. Ties: lower chunk id.
    """
    fused: dict[int, FusedHit] = {}
    total = sum(weights.get(channel, 1.0) for channel in rankings) or 1.0
    for channel, ranking in rankings.items():
        if not ranking:
            continue
        weight = weights.get(channel, 1.0) / total
        scores = [score for _chunk_id, score in ranking]
        low, high = min(scores), max(scores)
        span = high - low
        for rank, (chunk_id, score) in enumerate(ranking, start=1):
            hit = fused.get(chunk_id)
            if hit is None:
                hit = fused[chunk_id] = FusedHit(chunk_id=chunk_id)
            hit.channels[channel] = (rank, score)
            hit.score += weight * ((score - low) / span if span > 0 else 1.0)
    return sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))
