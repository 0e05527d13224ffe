"""HTML rendering of notebooks and results, the summary page and the headless-browser check."""
