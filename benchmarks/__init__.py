"""iMi's benchmark suite: ``uv run python -m benchmarks`` (see README "Performance").

Not part of the pytest run; it reports figures and asserts nothing about timings.
"""
