package passiveauth

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

// sameName compares two DER Names: byte-equal, or equal under a subset of
// RFC 5280 §7.1 (RFC 4518): same RDNs in the same order, each the same set
// of attribute types, string values equal after trimming, collapsing
// internal spaces and folding case. That lets a DSC whose issuer was
// encoded as UTF8String chain to a CSCA whose subject is PrintableString.
func sameName(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) > 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) > 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		used := make([]bool, len(rb[i]))
		for _, x := range ra[i] {
			found := false
			for j, y := range rb[i] {
				if !used[j] && x.Type.Equal(y.Type) && sameValue(x.Value, y.Value) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func sameValue(x, y any) bool {
	xs, ok1 := x.(string)
	ys, ok2 := y.(string)
	if !ok1 || !ok2 {
		return false
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return strings.EqualFold(norm(xs), norm(ys))
}

// nameString renders a DER Name for error messages.
func nameString(der []byte) string {
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		return "(unparsable name)"
	}
	return rdn.String()
}
