"""Evaluators and dataset loaders: zero-shot, retrieval, few-shot geo-localization, disparity, bias.

Plain numpy metrics in `metrics` and `fewshot`; loaders in `datasets`; evaluators built from
config by `registry`; `webpairs eval` in webpairs.commands.eval. Models come from webpairs.pretrain.inference
(JAX is imported only there).
"""
