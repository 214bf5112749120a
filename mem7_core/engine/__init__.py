"""The memory engine: one async implementation and a sync facade."""
