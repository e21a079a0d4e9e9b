"""Stand-ins for the outside platforms at their HTTP boundary (pytest-httpserver)."""
