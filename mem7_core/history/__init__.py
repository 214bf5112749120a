"""History (audit log) stores built into the core."""
