"""The built-in demo: the sample generator, the synthetic eval set and `webpairs demo`.

No curation, pretraining or eval module imports this package (tests/test_imports.py checks it).
"""
