"""The stale-sample correction of asynchronous training (losses.off_policy_correction), on the hand-computed batch
of test/unit/rl/off-policy.test.ts: the Python mirror of rl/off-policy.ts must give the same weights and stats.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest workers/torch/tests/test_worker_off_policy.py
"""

from __future__ import annotations

import math
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # workers/torch: the ratchet_torch package

from ratchet_torch.losses import off_policy_correction  # noqa: E402
from ratchet_torch.score import correct_stale_samples  # noqa: E402

VERSIONS = [3, 2, 2, 1]
MASK = [[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0]]
PROXIMAL = [[-0.3, -0.2, 0], [-1, -0.5, -3], [-0.1, -2, 0], [-0.4, 0, 0]]
BEHAVIOR = [[-9, -9, 0], [-1.5, -0.5, -1], [-1.2, -2.1, 0], [-0.4, 0, 0]]


class OffPolicyCorrectionTest(unittest.TestCase):
    def test_hand_computed_batch(self):
        weights, stats = off_policy_correction(VERSIONS, BEHAVIOR, PROXIMAL, MASK, version=3, max_staleness=1, cap=2)
        self.assertEqual(weights[0], [1, 1, 0])
        for got, want in zip(weights[1], [math.exp(0.5), 1, math.exp(-2)]):
            self.assertAlmostEqual(got, want, places=12)
        self.assertEqual(weights[2][0], 0)  # e^1.1 > cap: dropped
        self.assertAlmostEqual(weights[2][1], math.exp(0.1), places=12)
        self.assertEqual(weights[3], [0, 0, 0])  # 2 versions behind
        self.assertEqual(stats["staleness"], {"0": 1, "1": 2, "2": 1})
        self.assertEqual((stats["droppedTrajectories"], stats["cappedTokens"]), (1, 1))
        self.assertAlmostEqual(stats["meanWeight"], (1.6487212707 + 1 + 0.1353352832 + 1.1051709181) / 4, places=9)

    def test_only_the_trained_trajectories(self):
        weights, stats = off_policy_correction(VERSIONS, BEHAVIOR, PROXIMAL, MASK, version=3, max_staleness=1, cap=2, only=[0, 1])
        self.assertEqual(weights[2], [1, 1, 0])
        self.assertEqual(stats["staleness"], {"0": 1, "1": 1})

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "newer than the policy being updated"):
            off_policy_correction(VERSIONS, BEHAVIOR, PROXIMAL, MASK, version=1, max_staleness=1, cap=2)
        with self.assertRaisesRegex(ValueError, "cap must be > 1"):
            off_policy_correction(VERSIONS, BEHAVIOR, PROXIMAL, MASK, version=3, max_staleness=1, cap=1)

    def test_scores_gain_weights_only_when_a_sample_is_stale(self):
        turn = lambda tokens, logps: {"promptTokens": [1], "actionTokens": tokens, "sampleLogProbs": logps}  # noqa: E731
        fresh = [{"policyVersion": 4, "turns": [turn([5, 6], [-1, -1])]}]
        scores = {"oldLogProbs": [[-0.5, -0.5]], "entropy": 0}
        self.assertIsNone(correct_stale_samples(fresh, scores, version=4, max_staleness=1, cap=5))
        self.assertNotIn("behaviorWeights", scores)
        stale = [{"policyVersion": 3, "turns": [turn([5], [-1]), turn([6, 7], [-2, -0.5])]}]
        scores = {"oldLogProbs": [[-1.5, -1, -0.5]], "entropy": 0}
        stats = correct_stale_samples(stale, scores, version=4, max_staleness=1, cap=5)
        for got, want in zip(scores["behaviorWeights"][0], [math.exp(-0.5), math.exp(1), 1]):
            self.assertAlmostEqual(got, want, places=9)
        self.assertEqual(stats["staleness"], {"1": 1})


if __name__ == "__main__":
    unittest.main()
