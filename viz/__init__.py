"""socius drawing: pygame frames of world states and matplotlib plots (never steps a world)."""
