"""Choosing calls to label, agreement between label files, the label review and the labelling widget."""
