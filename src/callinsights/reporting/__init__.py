"""HTML rendering of notebooks and results, and the summary page."""
