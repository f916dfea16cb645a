"""Evaluation of retrieval and answers: dataset loading, metrics, abstention calibration."""
