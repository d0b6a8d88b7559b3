"""Looking connections up: the cached lookup (TTL, singleflight, stale copies) and the finder."""
