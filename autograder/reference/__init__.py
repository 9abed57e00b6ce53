"""Reference implementations of the graded functions, one module per week.

They are written independently of the solution cells of the source notebooks (vectorised here where
the solutions loop) and are verified in ``tests/`` against independent computations.
"""
