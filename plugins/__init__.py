"""graphgrad's built-in plugins; each submodule is a plugin registered exactly as an
outside one would be."""
