package truststore

import (
	"encoding/asn1"
	"math/big"
)

// Cached reports how many lookups the cache holds.
func (s *Store) Cached() int { return s.cached() }

// asn1Int is encoding/asn1's encoding of n, without tag and length.
func asn1Int(n *big.Int) ([]byte, error) {
	b, err := asn1.Marshal(n)
	if err != nil {
		return nil, err
	}
	return b[2:], nil
}
