"""Benchmark topics for ``prose-mesh bench``: one module each, with ``register(subparsers)``."""
