"""Figures of f and its derivatives: :mod:`figure` draws a matplotlib Figure (no pyplot state),
:mod:`terminal` draws with characters, and :mod:`files` checks and writes image files."""
