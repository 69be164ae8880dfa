"""Example agents built only from registered tools and graph spec files.

Each agent is a package that registers its tools (and named conditions) when imported and
ships its graph as a spec file next to them.
"""
