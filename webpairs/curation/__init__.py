"""Pure per-example curation logic: decode/validate, hashes, language ID, text features, dedup."""
