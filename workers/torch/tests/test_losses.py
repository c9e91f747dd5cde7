"""Loss parity with the TypeScript rl/ (issue 27): every value of test/fixtures/rl/loss-parity.json, within 1e-6.

The fixture holds seeded inputs (NaN and Inf at masked positions) and what rl/ computes from them with tfjs:
losses in every aggregation mode, on one-row and multi-row sequences, whole and in micro-batch parts; the clipped
policy loss with clip-higher and dual clip on and off; the actor loss with the entropy bonus and each KL estimator;
KL as a loss and as a reward penalty; the clipped value loss; entropy from logits; and the gradients of these
losses w.r.t. their inputs. Here ratchet_torch.losses recomputes each in float64 and every |py - ts| must be at
most the fixture's tolerance. Standard library unittest; needs torch.

    .tools/venv/bin/python -m unittest discover -s workers/torch/tests -p test_losses.py -v

RATCHET_LOSS_PARITY_FIXTURE overrides the fixture's path. The jest test test/unit/llm/loss-parity.test.ts runs this
after checking that the fixture matches what rl/ computes today.
"""

from __future__ import annotations

import json
import math
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # workers/torch: the ratchet_torch package

import torch  # noqa: E402

from ratchet_torch import losses as L  # noqa: E402

REPO_ROOT = HERE.parents[2]
FIXTURE = Path(os.environ.get("RATCHET_LOSS_PARITY_FIXTURE", REPO_ROOT / "test" / "fixtures" / "rl" / "loss-parity.json"))
DTYPE = torch.float64
KINDS = ("aggregate", "policy", "actor", "klLoss", "klPenalty", "value", "entropy")
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# The largest |py - ts| seen, over every compared value; printed at the end.
MEASURED = {"max": 0.0, "where": "", "values": 0, "cases": 0}


def decode(x):
    """The fixture's numbers, with its strings for non-finite ones turned back into floats."""
    if isinstance(x, list):
        return [decode(v) for v in x]
    if isinstance(x, str):
        return NON_FINITE[x]
    return x


def flatten(x):
    if isinstance(x, (list, tuple)):
        for v in x:
            yield from flatten(v)
    else:
        yield x


def load_fixture():
    with open(FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)
    batches = {name: {field: decode(v) for field, v in batch.items()} for name, batch in fixture["batches"].items()}
    return fixture, batches


class LossParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.fixture, cls.batches = load_fixture()
        cls.tolerance = float(cls.fixture["tolerance"])
        cls.norm_length = cls.fixture["normLength"]

    # ------------------------------------------------------------------------------------------ helpers

    def cases(self, kind):
        cases = [c for c in self.fixture["cases"] if c["kind"] == kind]
        self.assertTrue(cases, f"the fixture has no {kind} case")
        return cases

    def tensor(self, case, field, requires_grad=False):
        rows = self.batches[case["batch"]][field]
        t = torch.tensor([rows[r] for r in case["rows"]], dtype=DTYPE)
        return t.requires_grad_(requires_grad)

    def options(self, case):
        """The aggregation options: for "parts", recomputed here with aggregation_for_parts and checked against TS."""
        ts = L.AggregationOptions.from_json(case.get("aggregationOptions"))
        if case.get("counts") != "parts":
            return ts
        batch = self.batches[case["batch"]]
        row_tokens = [sum(1 for m in row if m > 0) for row in batch["mask"]]
        ids = batch["sequenceIds"]
        ours = L.aggregation_for_parts(ids, row_tokens, self.norm_length)([ids[r] for r in case["rows"]])
        self.assertEqual(ours.to_json(), case["aggregationOptions"], "aggregation_for_parts differs from rl/")
        return ours

    def assert_close(self, case, key, got):
        """Every element of `got` within the tolerance of the fixture's expected[key]; records the largest gap."""
        want = case["expected"][key]
        if isinstance(got, torch.Tensor):
            got = got.detach().to(DTYPE).tolist()
        got_flat, want_flat = list(flatten(got)), list(flatten(want))
        self.assertEqual(len(got_flat), len(want_flat), f"{case['name']} {key}: shape")
        if isinstance(want, list):
            self.assertEqual(torch.tensor(got, dtype=DTYPE).shape, torch.tensor(want, dtype=DTYPE).shape, f"{case['name']} {key}: shape")
        worst, at = 0.0, -1
        for k, (g, w) in enumerate(zip(got_flat, want_flat)):
            gap = abs(g - w) if math.isfinite(g) else math.inf  # expected values are all finite
            if gap > worst or at < 0:
                worst, at = gap, k
        MEASURED["values"] += len(want_flat)
        if worst > MEASURED["max"]:
            MEASURED["max"], MEASURED["where"] = worst, f"{case['name']}: {key}"
        self.assertLessEqual(
            worst,
            self.tolerance,
            f"{case['name']}: {key}[{at}] python {got_flat[at]!r} vs rl/ {want_flat[at]!r} (|diff| {worst:.3g})",
        )

    def run_cases(self, kind, check):
        for case in self.cases(kind):
            with self.subTest(case=case["name"]):
                check(case)
                MEASURED["cases"] += 1

    # ------------------------------------------------------------------------------------------ the cases

    def test_fixture_kinds_are_known(self):
        kinds = {c["kind"] for c in self.fixture["cases"]}
        self.assertEqual(kinds - set(KINDS), set(), "the fixture has kinds this test does not check")
        self.assertEqual(self.fixture["summary"]["cases"], len(self.fixture["cases"]))

    def test_aggregate(self):
        def check(case):
            out = L.aggregate_loss(self.tensor(case, "tokenLoss"), self.tensor(case, "mask"), case["aggregation"], self.options(case))
            self.assert_close(case, "loss", out)

        self.run_cases("aggregate", check)

    @staticmethod
    def policy_kwargs(options):
        kwargs = {}
        if "clipLow" in options:
            kwargs["clip_low"] = options["clipLow"]
        if "clipHigh" in options:
            kwargs["clip_high"] = options["clipHigh"]
        if "dualClip" in options:
            kwargs["dual_clip"] = options["dualClip"]  # None: off
        return kwargs

    def test_policy_loss(self):
        def check(case):
            lp = self.tensor(case, "logProbs", requires_grad=True)
            out = L.clipped_policy_loss(
                lp,
                self.tensor(case, "oldLogProbs"),
                self.tensor(case, "advantages"),
                self.tensor(case, "mask"),
                aggregation=case["aggregation"],
                aggregation_options=self.options(case),
                behavior_weights=self.tensor(case, "behaviorWeights") if case["options"].get("behaviorWeights") else None,
                **self.policy_kwargs(case["options"]),
            )
            (grad,) = torch.autograd.grad(out.loss, lp)
            self.assert_close(case, "loss", out.loss)
            self.assert_close(case, "clipFraction", out.clip_fraction)
            self.assert_close(case, "dualClipFraction", out.dual_clip_fraction)
            self.assert_close(case, "ppoKl", out.ppo_kl)
            self.assert_close(case, "gradLogProbs", grad)

        self.run_cases("policy", check)

    def test_actor_loss(self):
        def check(case):
            options, inputs = case["options"], case["inputs"]
            kwargs = self.policy_kwargs(options)
            if "entropyCoef" in options:
                kwargs["entropy_coef"] = options["entropyCoef"]
            if "klCoef" in options:
                kwargs["kl_coef"] = options["klCoef"]
            if "klEstimator" in options:
                kwargs["kl_estimator"] = options["klEstimator"]
            if "entropy" in inputs:
                kwargs["entropy"] = self.tensor(case, "entropy")
            if "refLogProbs" in inputs:
                kwargs["ref_log_probs"] = self.tensor(case, "refLogProbs")
            lp = self.tensor(case, "logProbs", requires_grad=True)
            out = L.actor_loss(
                lp,
                self.tensor(case, "oldLogProbs"),
                self.tensor(case, "advantages"),
                self.tensor(case, "mask"),
                aggregation=case["aggregation"],
                aggregation_options=self.options(case),
                **kwargs,
            )
            (grad,) = torch.autograd.grad(out.loss, lp)
            for key, value in (
                ("loss", out.loss),
                ("policyLoss", out.policy_loss),
                ("entropy", out.entropy),
                ("kl", out.kl),
                ("clipFraction", out.clip_fraction),
                ("dualClipFraction", out.dual_clip_fraction),
                ("ppoKl", out.ppo_kl),
                ("gradLogProbs", grad),
            ):
                self.assert_close(case, key, value)

        self.run_cases("actor", check)

    def test_kl_loss(self):
        def check(case):
            lp = self.tensor(case, "logProbs", requires_grad=True)
            out = L.kl_loss(
                lp,
                self.tensor(case, "refLogProbs"),
                self.tensor(case, "mask"),
                case["options"]["estimator"],
                case["aggregation"],
                self.options(case),
            )
            (grad,) = torch.autograd.grad(out, lp)
            self.assert_close(case, "loss", out)
            self.assert_close(case, "gradLogProbs", grad)

        self.run_cases("klLoss", check)

    def test_kl_penalty(self):
        def check(case):
            out = L.apply_kl_penalty(
                self.tensor(case, "tokenRewards"),
                self.tensor(case, "oldLogProbs"),
                self.tensor(case, "refLogProbs"),
                self.tensor(case, "mask"),
                case["options"]["beta"],
                case["options"]["estimator"],
            )
            self.assert_close(case, "rewards", out.rewards)
            self.assert_close(case, "kl", out.kl)
            self.assert_close(case, "meanKl", out.mean_kl)

        self.run_cases("klPenalty", check)

    def test_value_loss(self):
        def check(case):
            kwargs = {"clip_range": case["options"]["clipRange"]} if "clipRange" in case["options"] else {}
            v = self.tensor(case, "values", requires_grad=True)
            out = L.clipped_value_loss(
                v,
                self.tensor(case, "oldValues"),
                self.tensor(case, "returns"),
                self.tensor(case, "mask"),
                aggregation=case["aggregation"],
                aggregation_options=self.options(case),
                **kwargs,
            )
            (grad,) = torch.autograd.grad(out.loss, v)
            self.assert_close(case, "loss", out.loss)
            self.assert_close(case, "clipFraction", out.clip_fraction)
            self.assert_close(case, "gradValues", grad)

        self.run_cases("value", check)

    def test_entropy(self):
        def check(case):
            logits = self.tensor(case, "logits", requires_grad=True)
            per_token = L.entropy_from_logits(logits)
            loss = L.aggregate_loss(per_token, self.tensor(case, "mask"), case["aggregation"], self.options(case))
            (grad,) = torch.autograd.grad(loss, logits)
            self.assert_close(case, "entropy", per_token)
            self.assert_close(case, "loss", loss)
            self.assert_close(case, "gradLogits", grad)

        self.run_cases("entropy", check)


def tearDownModule():
    # One line the jest test shows: how close the two implementations are.
    print(
        f"loss parity: {MEASURED['cases']} cases, {MEASURED['values']} values, "
        f"max |py - ts| = {MEASURED['max']:.3g} ({MEASURED['where']})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    unittest.main()
