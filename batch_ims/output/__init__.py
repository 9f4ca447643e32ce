"""Consumers of the outcome stream: report files, journal, summary."""
