"""One thin module per stage: read inputs, call the package that holds the algorithm, write outputs."""
