"""The model-based jobs: `score` (pair scores and embeddings) and `semdedup` (semantic dedup)."""
