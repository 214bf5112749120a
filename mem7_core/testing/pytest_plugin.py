"""pytest fixtures shipped with mem7-core (loaded through the ``pytest11`` entry point)."""
