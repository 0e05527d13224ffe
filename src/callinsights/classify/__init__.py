"""Labelling calls: settings, the three methods (probe, score, generate) and the one run path."""
