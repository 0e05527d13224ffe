"""Exploratory analysis, call features, topics, statistics, prediction-powered rates and findings."""
