"""policy-engine: declarative, explainable collection policies for overdue credit-card debt."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
