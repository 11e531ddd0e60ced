"""Lumen: a self-hosted live API for real-time speech transcription."""

__version__ = "0.1.0"
