package domains

import (
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// PatternError is a redirect-URI pattern refused before its host is looked
// at (upstream refuses these in its request schema). Message is the wording.
type PatternError struct{ Message string }

func (e *PatternError) Error() string { return e.Message }

// Upstream's schema messages for a pattern.
const (
	msgHTTPSOnly    = "Must be an https:// URL with no embedded credentials."
	msgNoQuery      = "Redirect URI pattern must not contain query strings or fragments."
	msgPatternLong  = "Redirect URI pattern must be at most 2048 characters."
	MaxPatternChars = 2048
)

// MaxRedirectURIs is how many redirect URIs one organization may register.
const MaxRedirectURIs = 100

// Redirect is a normalised redirect URL: what a pattern is stored as, and
// what a redirect target is compared in.
type Redirect struct {
	URL  string // https://host[:port]/path
	Host Host
	// Hostname is a session redirect's WHATWG hostname (ParseSessionRedirect
	// leaves Host to the organization check, whose errors it answers).
	Hostname string
}

// ParsePattern checks a redirect-URI pattern and normalises it. Errors are
// *PatternError for what upstream's schema refuses (not an https URL,
// credentials, a query or fragment, too long) and *HostError for a host
// that cannot be verified.
func ParsePattern(raw string) (Redirect, error) {
	if InputLength(raw) > MaxPatternChars {
		return Redirect{}, &PatternError{Message: msgPatternLong}
	}
	r, hostErr, err := parseRedirect(raw)
	if err != nil {
		return r, err
	}
	if strings.ContainsAny(raw, "?#") {
		return Redirect{}, &PatternError{Message: msgNoQuery}
	}
	if hostErr != nil {
		return Redirect{}, hostErr
	}
	if len(r.URL) > MaxPatternChars {
		return Redirect{}, &PatternError{Message: msgPatternLong}
	}
	return r, nil
}

// parseRedirect reads an https URL as a browser would and writes it back in
// one canonical form, so that patterns and redirect targets compare as
// what they mean: scheme and host lower-case, an IDN host in its ASCII
// form, no trailing dot, no default port, dot segments resolved, an empty
// path as "/". The query and fragment are dropped (patterns have none).
// A URL that is not an https URL without credentials is err; one whose
// host cannot be verified is hostErr.
func parseRedirect(raw string) (r Redirect, hostErr, err error) {
	bad := &PatternError{Message: msgHTTPSOnly}
	// Browsers drop surrounding whitespace and read backslashes in an
	// https URL as slashes; so do we, so that a URL cannot mean one thing
	// here and another in the browser. Credentials are refused, even
	// empty ones ("https://@host").
	s := strings.ReplaceAll(strings.TrimSpace(raw), `\`, "/")
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.Host == "" || u.User != nil {
		return r, nil, bad
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return r, nil, bad
		}
		port = strconv.Itoa(n)
		if n == 443 {
			port = ""
		}
	}
	hostname := u.Hostname()
	if !isASCII(hostname) {
		// The browser's host: UTS #46 mapping and Punycode.
		a, err := idna.Lookup.ToASCII(hostname)
		if err != nil {
			return r, &HostError{Message: msgNotASCII}, nil
		}
		hostname = a
	}
	h, err := ParseHost(hostname)
	if err != nil {
		return r, err, nil
	}
	out := "https://" + h.Name
	if port != "" {
		out += ":" + port
	}
	out += cleanPath(u.EscapedPath())
	return Redirect{URL: out, Host: h}, nil, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cleanPath resolves "." and ".." segments (also percent-encoded, as
// browsers do) and makes an empty path "/".
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")[1:]
	var out []string
	for i, seg := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(seg) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// ParseTarget normalises a URL a session wants to redirect to, for
// comparison with stored patterns.
func ParseTarget(raw string) (Redirect, error) {
	s := strings.TrimSpace(raw)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		// Patterns have neither, so the query and fragment cannot change
		// whether one is a prefix of the target.
		s = s[:i]
	}
	r, hostErr, err := parseRedirect(s)
	if err == nil {
		err = hostErr
	}
	return r, err
}

// Covers reports whether a stored pattern admits a normalised target: the
// target starts with the pattern (upstream's rule; both are normalised, so
// capitals or an explicit :443 in what was sent do not matter).
func Covers(pattern string, target Redirect) bool {
	return strings.HasPrefix(target.URL, pattern)
}
