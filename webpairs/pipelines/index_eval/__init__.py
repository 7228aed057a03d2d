"""`curate index-eval`: reference indexes of eval sets (hashes, embeddings) for decontamination."""
