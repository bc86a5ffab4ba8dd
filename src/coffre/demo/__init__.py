"""Demonstration data: fictitious people, records and documents."""
