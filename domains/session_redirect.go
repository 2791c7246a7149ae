package domains

import "strings"

// MaxSessionRedirectChars is the longest redirect_url a session may have,
// in UTF-16 code units as upstream's schema counts.
const MaxSessionRedirectChars = 2048

// Upstream's schema message for a redirect_url that is too long (zod's
// own).
const msgRedirectTooLong = "Too big: expected string to have <=2048 characters"

// ParseSessionRedirect is the request schema's rule for a session's
// redirect_url: at most 2048 code units, a URL as the WHATWG URL Standard
// (JavaScript's new URL()) reads it, no username or password, scheme
// https; outside production also http when the host is localhost or
// 127.0.0.1 (one trailing dot tolerated). The result's URL is the URL's
// serialisation (what is stored and answered) and Hostname its host, for
// store.CheckSessionRedirect; Host is left empty. The error is a
// *PatternError.
func ParseSessionRedirect(raw string, production bool) (Redirect, error) {
	if InputLength(raw) > MaxSessionRedirectChars {
		return Redirect{}, &PatternError{Message: msgRedirectTooLong}
	}
	u, ok := parseWebURL(raw)
	if !ok || u.username != "" || u.password != "" {
		return Redirect{}, &PatternError{Message: msgHTTPSOnly}
	}
	if u.scheme != "https" && (production || !IsLoopbackHost(strings.TrimSuffix(u.hostname, "."))) {
		return Redirect{}, &PatternError{Message: msgHTTPSOnly}
	}
	return Redirect{URL: u.href(), Hostname: u.hostname}, nil
}

// IsLoopbackHost reports whether a WHATWG hostname is one of the two
// loopback hosts upstream names.
func IsLoopbackHost(h string) bool { return h == "localhost" || h == "127.0.0.1" }
