"""Suites: named splits of images, labels and per-image metadata (see base.py)."""
