"""The deterministic demo scenario: contracts, sources, landing files and their ground truth."""

from pipelines.demo.generate import generate_demo

__all__ = ["generate_demo"]
