"""Text utilities used by the model side and the analysis side: redaction, names, lexicons, topic swaps."""
