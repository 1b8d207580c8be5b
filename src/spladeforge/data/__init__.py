"""Reading source documents: files and folders, the stdlib docs corpus, DVC repositories; normalization; the corpus."""
