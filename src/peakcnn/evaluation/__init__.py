"""Evaluation: metrics with confidence intervals, plots, model comparison and choice."""
