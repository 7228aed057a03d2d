"""Beam plumbing every curate job shares: options, runners, argument checks, logs, progress, the job skeleton, per-shard inference, batches and shuffle accounting."""
