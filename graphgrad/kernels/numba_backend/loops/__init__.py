"""The Numba loops, one module per family; each compiles lazily on first call."""
