"""socius agents."""
