"""Models: one adapter per family, feature preprocessing, and the deployable Predictor."""
