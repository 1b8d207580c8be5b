"""spladeforge: train learned sparse retrieval models on your own documents and ship them."""

from __future__ import annotations

__version__ = "0.1.0"
