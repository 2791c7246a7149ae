package truststore

// Cached reports how many lookups the cache holds.
func (s *Store) Cached() int { return s.cached() }
