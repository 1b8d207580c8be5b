"""A fan-out's shards take contiguous blocks that cover every item once, in order."""

from __future__ import annotations

import pytest

from spladeforge.errors import ConfigError
from spladeforge.shards import shard_slice


def test_shard_slices_cover_every_item_once_in_order():
    for total in (0, 1, 5, 24):
        for n in (1, 2, 3, 7, 30):
            covered = [i for shard in range(n) for i in range(total)[shard_slice(total, shard, n)]]
            assert covered == list(range(total))
    with pytest.raises(ConfigError):
        shard_slice(5, 3, 3)
    with pytest.raises(ConfigError):
        shard_slice(5, 0, 0)
