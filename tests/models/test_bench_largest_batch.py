"""The largest-batch search of the fused-head benchmarks, driven by a fake step on CPU."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("_fused_common", BENCHMARKS / "_fused_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeStep:
    """Fits every batch up to `threshold`, raises CUDA's out-of-memory error above it."""

    def __init__(self, threshold: int):
        self.threshold, self.calls, self.cleanups = threshold, [], 0

    def __call__(self, n: int) -> None:
        self.calls.append(n)
        if n > self.threshold:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory trying a batch of {n}")

    def cleanup(self) -> None:
        self.cleanups += 1


@pytest.mark.parametrize("threshold", [1, 2, 3, 5, 37, 64, 65, 127, 1000, 4095])
def test_finds_exactly_the_threshold(common, threshold):
    step = FakeStep(threshold)
    found, attempts = common.largest_batch(step, start=1, limit=4096, cleanup=step.cleanup)
    assert found == threshold
    assert step.cleanups == len(step.calls) == len(attempts)  # memory released after every attempt
    assert [a["batch"] for a in attempts] == step.calls
    assert all(a["fits"] == (a["batch"] <= threshold) for a in attempts)
    assert {threshold, threshold + 1} <= set(step.calls)  # both sides of the boundary were tried
    assert len(step.calls) <= 2 * math.ceil(math.log2(threshold + 1)) + 2  # doubling, then bisection


def test_limit_start_and_nothing_fits(common):
    step = FakeStep(10**6)
    assert common.largest_batch(step, start=1, limit=100, cleanup=step.cleanup)[0] == 100
    assert max(step.calls) == 100
    step = FakeStep(50)
    assert common.largest_batch(step, start=8, limit=4096, cleanup=step.cleanup)[0] == 50
    assert min(step.calls) == 8
    step = FakeStep(3)
    found, attempts = common.largest_batch(step, start=8, cleanup=step.cleanup)
    assert found == 0 and attempts == [{"batch": 8, "fits": False}]


def test_other_errors_are_not_taken_for_out_of_memory(common):
    def broken(n: int) -> None:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        common.largest_batch(broken, cleanup=None)


def test_without_cuda_the_results_say_the_search_was_skipped(common):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert common.pick_device(None) == "cpu"
    assert common.cuda_note("cpu") == "no CUDA device: largest-batch search skipped"
    with pytest.raises(SystemExit, match="no CUDA device"):
        common.pick_device("cuda")
