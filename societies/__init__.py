"""socius societies."""
