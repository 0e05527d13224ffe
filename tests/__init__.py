"""A package, so ``tests.support`` is this folder's and not the ``tests`` package ppi-python puts in site-packages."""
