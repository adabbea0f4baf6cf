"""Command groups of ``prose-mesh``: one module each, with ``register(subparsers)``."""
