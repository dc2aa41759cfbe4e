"""policy-engine's testing fixtures: pe_registry, pe_ledger, register_plugin."""

pytest_plugins = ["policy_engine.testing"]
