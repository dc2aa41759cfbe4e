"""Deciding: facts at as_of, the rule backends, the guardrail families and the engine that ties them."""
