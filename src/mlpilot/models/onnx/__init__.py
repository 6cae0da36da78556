"""ONNX translation of a Predictor (see :mod:`mlpilot.models.onnx_export` for the export).

``inputs`` (the input contract), ``graph`` (a small graph builder), ``features`` (the feature
pipeline), ``trees`` (tree ensembles), ``families`` and ``knn`` (one translation per model
family), ``compose`` (the whole Predictor, members averaged with their weights).
"""
