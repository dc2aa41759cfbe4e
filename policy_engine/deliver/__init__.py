"""Delivering: the plugin registry, channel settings, templates, exactly-once dispatch and the daily run."""
