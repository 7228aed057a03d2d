"""Evaluators and dataset loaders: zero-shot, retrieval, few-shot geo-localization, disparity, bias."""
