"""Relevance judgments of a team's own queries: the judgments folder, pooling and the judge page."""
