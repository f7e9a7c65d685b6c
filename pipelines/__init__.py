"""Pledge: SLA management pipeline (contracts → evidence → windows → credits → reports)."""
