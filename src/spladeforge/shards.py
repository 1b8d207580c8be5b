"""Shards of a fan-out (the Kubeflow DAG's dsl.ParallelFor): which block each takes, and whether a
collected set is complete."""

from __future__ import annotations

from spladeforge.errors import ConfigError, InputError


def shard_slice(total: int, shard: int, num_shards: int) -> slice:
    """The contiguous block of `total` items that shard `shard` of `num_shards` takes.

    Blocks are in order and cover every item once; with more shards than items some are empty.
    """
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ConfigError(f"shard {shard} of {num_shards}: expected num_shards >= 1 and 0 <= shard < num_shards")
    return slice(total * shard // num_shards, total * (shard + 1) // num_shards)


def check_complete(found: list[tuple[int, int]], what: str) -> int:
    """`found` (shard, num_shards) pairs, sorted by shard, must be every shard 0..n-1 of one n once; return n."""
    if not found:
        raise InputError(f"{what}: no shards given")
    expected = found[0][1]
    if found != [(i, expected) for i in range(expected)]:
        raise InputError(f"{what}: shards {found} (index, of) are not each of 0..{expected - 1} of {expected} "
                         "exactly once")
    return expected
