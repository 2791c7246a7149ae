// Package domains holds the rules of domain verification and redirect-URI
// patterns in plain Go: how a submitted host becomes the apex an
// organization can prove it owns, the TXT record that proves it, and how a
// redirect-URI pattern is checked and stored. Nothing here touches the
// network or the database.
package domains

import (
	"crypto/rand"
	"net/netip"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// HostError is a host that cannot be verified; Message is the answer's
// wording (upstream's, verbatim).
type HostError struct{ Message string }

func (e *HostError) Error() string { return e.Message }

// Upstream's messages for a host that cannot be verified.
const (
	msgNotASCII     = "Hostname must be ASCII (Punycode) lowercase."
	msgTwoLabels    = "Hostname must have at least two labels."
	msgIDN          = "IDN (xn--) hostnames are not supported for domain verification."
	msgPublicSuffix = "Hostname is itself a public suffix; an organization cannot own it."
)

func labelError(label string) *HostError {
	return &HostError{Message: `Label "` + label + `" is not a valid DNS label.`}
}

// Limits of the apex_domain field, counted as upstream counts (UTF-16
// code units, after trimming).
const (
	MinApexInput = 3
	MaxApexInput = 253
)

// InputLength is the length of s as upstream measures it (UTF-16 code units).
func InputLength(s string) int {
	n := 0
	for _, r := range s {
		n += max(1, utf16.RuneLen(r))
	}
	return n
}

// Host is a normalised host and the apex (registrable domain) it belongs to.
type Host struct {
	Name string // lower-case, no trailing dot
	Apex string
}

// ParseHost normalises a host as upstream does, in upstream's order: trim,
// lower-case, drop one trailing dot, ASCII letters, digits, dots and
// hyphens only, at least two labels, each a valid DNS label and none an
// IDN (xn--) label. The apex is the registrable domain (public suffix + 1)
// under the Public Suffix List's ICANN section; a host that is itself a
// public suffix is refused. Subdomains are accepted and reduced to their
// apex.
func ParseHost(raw string) (Host, error) {
	h := strings.ToLower(strings.TrimSpace(raw))
	h = strings.TrimSuffix(h, ".")
	if h == "" || !asciiHostChars(h) {
		return Host{}, &HostError{Message: msgNotASCII}
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return Host{}, &HostError{Message: msgTwoLabels}
	}
	for _, l := range labels {
		if !validLabel(l) {
			return Host{}, labelError(l)
		}
		if strings.HasPrefix(l, "xn--") {
			return Host{}, &HostError{Message: msgIDN}
		}
	}
	suffix := icannSuffix(h)
	if suffix == h {
		return Host{}, &HostError{Message: msgPublicSuffix}
	}
	rest := strings.TrimSuffix(h, "."+suffix)
	apex := rest[strings.LastIndexByte(rest, '.')+1:] + "." + suffix
	return Host{Name: h, Apex: apex}, nil
}

func asciiHostChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	return len(l) >= 1 && len(l) <= 63 && l[0] != '-' && l[len(l)-1] != '-'
}

// icannSuffix is the host's public suffix under the ICANN section of the
// Public Suffix List. Private entries (github.io, blogspot.co.uk) are
// registrable domains here, as they are under upstream's list; a TLD the
// list does not know is a suffix by the list's default rule. IPv4
// addresses get the default rule too, as upstream treats them (and so can
// never match a verified apex).
func icannSuffix(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return host[strings.LastIndexByte(host, '.')+1:]
	}
	s, icann := publicsuffix.PublicSuffix(host)
	for !icann && strings.Contains(s, ".") {
		// A private entry: the ICANN suffix lies inside it.
		s, icann = publicsuffix.PublicSuffix(s[strings.IndexByte(s, '.')+1:])
	}
	return s
}

// The TXT record that proves control of an apex.
const (
	RecordPrefix = "_kayle-id-verification."
	ValuePrefix  = "kayle-id-verification="
)

// RecordName is where the proof is published for apex.
func RecordName(apex string) string { return RecordPrefix + apex }

// RecordValue is the proof's value for token.
func RecordValue(token string) string { return ValuePrefix + token }

const tokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// TokenLength is the length of a challenge token (upstream's: 32 letters,
// about 182 bits).
const TokenLength = 32

// NewToken returns TokenLength letters drawn uniformly from [a-zA-Z] with a
// CSPRNG.
func NewToken() string {
	out := make([]byte, 0, TokenLength)
	buf := make([]byte, 64)
	for len(out) < TokenLength {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
		for _, b := range buf {
			// 208 = 4*52: rejecting bytes above it keeps the choice uniform.
			if b < 208 && len(out) < TokenLength {
				out = append(out, tokenLetters[int(b)%52])
			}
		}
	}
	return string(out)
}

// ValidToken reports whether s has a challenge token's shape.
func ValidToken(s string) bool {
	if len(s) != TokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(tokenLetters, rune(s[i])) {
			return false
		}
	}
	return true
}

// Proof is what the TXT records at a record name say about a token.
type Proof int

const (
	// NoRecord: no TXT record at the name.
	NoRecord Proof = iota
	// Mismatch: TXT records, none of them the expected value.
	Mismatch
	// Match: one of the records is exactly the expected value.
	Match
)

// CleanTXT tidies a TXT value as upstream does before comparing it: outer
// whitespace and one pair of surrounding quotes (which some DNS panels
// store as part of the value) are dropped.
func CleanTXT(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v
}

// Check compares the TXT values found at RecordName(apex) with the value
// token requires: exactly, case-sensitively, any one record. Other records
// at the name are harmless.
func Check(values []string, token string) Proof {
	if len(values) == 0 {
		return NoRecord
	}
	want := RecordValue(token)
	for _, v := range values {
		if utf8.ValidString(v) && CleanTXT(v) == want {
			return Match
		}
	}
	return Mismatch
}
