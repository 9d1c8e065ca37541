"""OMS adapters: one module per protocol."""
