"""Notifications: events derived from the warehouse, delivered to a webhook and a JSON-lines file
by a sensor, each once."""
