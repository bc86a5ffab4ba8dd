"""Coffre."""
