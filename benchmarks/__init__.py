"""Benchmarks of socius against its peers."""
