"""Hard-negative mining helpers for the `mine` stage: dense candidates and teacher scores."""
