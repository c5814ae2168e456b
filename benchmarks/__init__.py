"""End-to-end benchmarks of symphra_django beside the raw clients (see README.md).

This package is also the Django app that declares the benchmark's no-op task.
"""
