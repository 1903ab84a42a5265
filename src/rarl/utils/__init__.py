"""Small shared helpers: atomic file writes, rank statistics, config loading."""
