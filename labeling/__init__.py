"""Labeling stage: a Label Studio project generated from the taxonomy, model-assisted
import with active learning, and agreement-checked, versioned dataset exports.

This package imports ``model`` only, never ``training`` or ``serving``.
"""
