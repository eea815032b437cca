"""Rule packs: the file format (``schema``) and loading (``loader``)."""

from .loader import RuleSet, load_rules

__all__ = ["RuleSet", "load_rules"]
