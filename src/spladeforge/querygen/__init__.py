"""Query generation backends and filters for the `generate-queries` stage."""
