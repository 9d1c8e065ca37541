"""SMS gateway clients: one module per protocol."""
