"""Built-in scorers: decay (forgetting curve) and context (task-aware weights)."""
