"""Prediction stage: forecasts, breach risk, anomaly detection and root-cause hints."""
