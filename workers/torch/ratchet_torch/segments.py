"""Trajectories -> per-turn segments and row-space matrices, exactly as trainer/segments.ts.

Rows (what advantages and scores live in): one row per trajectory holding only its action tokens, turn after turn.
Segments (what the model runs on): one sequence per turn, `prompt ++ action` without the action's last token, the
targets shifted by one; `action_start` is the input position whose target is the first action token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from .store import LocalArtifactStore

Matrix = list[list[float]]


@dataclass(frozen=True)
class Segment:
    trajectory: int
    turn: int
    inputs: list[int]
    targets: list[int]
    action_start: int
    action_length: int
    row_offset: int


def build_segments(trajectories: Sequence[dict]) -> list[Segment]:
    """trainer/segments.ts buildSegments (turns without action tokens have no segment)."""
    segments: list[Segment] = []
    for t, trajectory in enumerate(trajectories):
        row_offset = 0
        for k, turn in enumerate(trajectory["turns"]):
            action = list(turn["actionTokens"])
            if not action:
                continue
            sequence = list(turn["promptTokens"]) + action
            segments.append(Segment(t, k, sequence[:-1], sequence[1:], len(turn["promptTokens"]) - 1, len(action), row_offset))
            row_offset += len(action)
    return segments


def row_lengths(trajectories: Sequence[dict]) -> list[int]:
    return [sum(len(turn["actionTokens"]) for turn in t["turns"]) for t in trajectories]


def row_mask(trajectories: Sequence[dict]) -> Matrix:
    """1 on each row's action tokens, 0 on padding; width = the longest row, at least 1."""
    lengths = row_lengths(trajectories)
    width = max([1, *lengths])
    return [[1.0 if i < n else 0.0 for i in range(width)] for n in lengths]


def zeros_like(matrix: Matrix) -> Matrix:
    return [[0.0] * len(row) for row in matrix]


def by_length(segments: Sequence[Segment]) -> list[Segment]:
    """Stable sort by input length, so a micro-batch of neighbours pads little."""
    return sorted(segments, key=lambda s: len(s.inputs))


def chunks(xs: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(xs[i : i + size]) for i in range(0, len(xs), size)]


@dataclass
class SegmentBatch:
    """Right-padded model inputs [B, T] with their attention mask, and the compact [B, A] action layout."""

    inputs: Tensor
    attention: Tensor
    positions: Tensor
    targets: Tensor
    mask: Tensor
    tokens: int


def segment_batch(segments: Sequence[Segment], device: torch.device, pad: int = 0) -> SegmentBatch:
    """trainer/segments.ts segmentBatch, plus the attention mask the padded model input needs."""
    T = max([1, *(len(s.inputs) for s in segments)])
    A = max([1, *(s.action_length for s in segments)])

    def fill(values: list[int], width: int) -> list[int]:
        return values + [pad] * (width - len(values))

    inputs = [fill(s.inputs, T) for s in segments]
    attention = [[1] * len(s.inputs) + [0] * (T - len(s.inputs)) for s in segments]
    positions = [fill([s.action_start + k for k in range(s.action_length)], A) for s in segments]
    targets = [fill(s.targets[s.action_start : s.action_start + s.action_length], A) for s in segments]
    mask = [[1.0 if k < s.action_length else 0.0 for k in range(A)] for s in segments]
    as_long = lambda x: torch.tensor(x, dtype=torch.long, device=device)  # noqa: E731
    return SegmentBatch(
        as_long(inputs), as_long(attention), as_long(positions), as_long(targets),
        torch.tensor(mask, dtype=torch.float32, device=device), sum(s.action_length for s in segments),
    )


def to_segments(rows: Matrix, segments: Sequence[Segment], device: torch.device) -> Tensor:
    """Row-space values -> the [B, A] layout of `segment_batch` (0 on padding)."""
    A = max([1, *(s.action_length for s in segments)])
    out = [[rows[s.trajectory][s.row_offset + k] if k < s.action_length else 0.0 for k in range(A)] for s in segments]
    return torch.tensor(out, dtype=torch.float32, device=device)


def write_rows(rows: Matrix, segments: Sequence[Segment], values: Tensor) -> None:
    """[B, A] values (on `segment_batch(segments)`) written into rows."""
    data = values.detach().float().cpu().tolist()
    for i, s in enumerate(segments):
        rows[s.trajectory][s.row_offset : s.row_offset + s.action_length] = data[i][: s.action_length]


def sample_rows(trajectories: Sequence[dict]) -> Matrix:
    """The rollout engine's recorded log-probs (`sampleLogProbs`) in row space, 0 on padding."""
    mask = row_mask(trajectories)
    rows = zeros_like(mask)
    for t, trajectory in enumerate(trajectories):
        values = [x for turn in trajectory["turns"] if turn["actionTokens"] for x in turn.get("sampleLogProbs") or []]
        rows[t][: len(values)] = [float(x) for x in values]
    return rows


# ------------------------------------------------------------------------------------------------ loading


def load_trajectories(store: LocalArtifactStore, refs: Sequence[dict]) -> list[dict]:
    """trainer/phases.ts loadTrajectories: every shard's trajectories, sorted by (group, sample)."""
    out: list[dict] = []
    for ref in refs:
        out.extend(json.loads(store.get(ref["key"], ref["sha256"])))
    return sorted(out, key=lambda t: (t["group"], t["sample"]))


def with_verified_rewards(trajectories: list[dict], rows: Sequence[dict]) -> list[dict]:
    """The trajectories with checkRewards' verified rewards in place of the sampler's."""
    by_key = {(r["group"], r["sample"]): r for r in rows}
    out = []
    for t in trajectories:
        row: Optional[dict] = by_key.get((t["group"], t["sample"]))
        if row is None:
            raise ValueError(f"no verified reward for trajectory {t['group']}/{t['sample']}")
        out.append({**t, "reward": row["reward"], "success": row["success"]})
    return out
