"""Measuring recommendations: offline splits, the paper's baselines, metrics, reports, tuning.

``peers`` runs Microsoft Recommenders' SAR in its own interpreter as an outside reference.
"""
