"""YAML configs shipped with socius."""
