"""Evaluation: metrics, thresholds, slices and fairness, explanations, champion comparison."""
