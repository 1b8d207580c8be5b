"""What `publish` writes: the export folder, the model card, and the Hugging Face Hub and S3 uploads."""

from __future__ import annotations

from spladeforge.publishing.model_card import evaluation_table, render_card, render_not_promoted

__all__ = ["evaluation_table", "render_card", "render_not_promoted"]
