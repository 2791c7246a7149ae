package sessions

import (
	"strconv"
	"strings"
)

// The static claims a session can ask for, in upstream's catalog order
// (packages/config/src/share-claims.ts), with the labels of their default
// reasons.
var claims = []struct{ key, label string }{
	{"document_type_code", "Document Type Code"},
	{"issuing_country_code", "Issuing Country Code"},
	{"family_name", "Family Name"},
	{"given_names", "Given Names"},
	{"document_number", "Document Number"},
	{"nationality_code", "Nationality Code"},
	{"date_of_birth", "Date of Birth"},
	{"sex_marker", "Sex Marker"},
	{"document_expiry_date", "Document Expiry Date"},
	{"mrz_optional_data", "MRZ Optional Data"},
	{"kayle_document_id", "Kayle Document ID"},
	{"kayle_human_id", "Kayle Human ID"},
}

// Claim keys the rules single out.
const (
	KeyDocumentID  = "kayle_document_id"
	KeyHumanID     = "kayle_human_id"
	KeyDateOfBirth = "date_of_birth"
	AgeGatePrefix  = "age_over_"
)

// Age gate thresholds, inclusive.
const (
	MinAgeGate = 12
	MaxAgeGate = 130
)

// ClaimKeys is the twelve static claims, in catalog order.
func ClaimKeys() []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.key
	}
	return out
}

func staticLabel(key string) (string, bool) {
	for _, c := range claims {
		if c.key == key {
			return c.label, true
		}
	}
	return "", false
}

// Label is the claim's label, as used in default reasons: the catalog's
// for a static claim, "Age Over <N>" for a valid age gate.
func Label(key string) (string, bool) {
	if l, ok := staticLabel(key); ok {
		return l, true
	}
	if n, ok := ParseAgeGate(key); ok {
		return "Age Over " + strconv.Itoa(n), true
	}
	return "", false
}

// DefaultReason is the reason given to a claim the caller did not list.
func DefaultReason(label string) string { return `Sharing "` + label + `"` }

// ParseAgeGate reads an age gate key: age_over_ then ASCII digits only,
// read as decimal (age_over_018 is 18), 12..130 inclusive.
func ParseAgeGate(key string) (int, bool) {
	digits, ok := strings.CutPrefix(key, AgeGatePrefix)
	if !ok || digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	// Leading zeros do not count; anything longer than three digits
	// after them is beyond the range (and would overflow Atoi).
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > 3 {
		return 0, false
	}
	n, _ := strconv.Atoi(digits) // "" (all zeros) is 0
	return n, n >= MinAgeGate && n <= MaxAgeGate
}
