"""callinsights: sentiment, outcome and insights for customer-support calls with a local language model."""

__version__ = "0.1.0"
