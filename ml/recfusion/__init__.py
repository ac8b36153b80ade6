"""recfusion: a workflow-orchestrated recommendation data platform."""

__version__ = "0.1.0"
