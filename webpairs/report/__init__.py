"""The curation report: one self-contained HTML page (funnel, languages, clusters, bias) per run."""
