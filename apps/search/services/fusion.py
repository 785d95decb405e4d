"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

    fused(d) = Σ_channel  weight_channel / (k + rank_channel(d))      (ranks from 1)

Scores of different channels are not comparable (cosine vs BM25); ranks are. A chunk
found by one channel only keeps that channel's share, so fusion never drops a hit.
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
