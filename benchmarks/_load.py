"""The machine's load while a benchmark runs: on a shared machine a wall time means little without it."""

from __future__ import annotations

import os
import threading


class LoadSampler:
    """Mean 1-minute load average while a block runs (sampled every `every` seconds)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.samples, self._stop = every, [], threading.Event()

    def __enter__(self) -> LoadSampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return round(sum(self.samples) / max(len(self.samples), 1), 2)
