"""The experiments that chose the product and its speed benchmarks, with their result files in results/.

Run from the repository root as modules, ``python -m benchmarks.NAME`` (``make experiments``, ``make benchmark``).
"""
