package domains

import (
	"net/url"
	"strings"
)

// ParseSessionRedirect: TEMPORARY stand-in for the rules branch's, deleted
// when `rules` is merged.
func ParseSessionRedirect(raw string, production bool) (Redirect, error) {
	bad := &PatternError{Message: msgHTTPSOnly}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || len(raw) > 2048 {
		return Redirect{}, bad
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && !production && (host == "localhost" || host == "127.0.0.1"):
	default:
		return Redirect{}, bad
	}
	u.Host = strings.ToLower(u.Host)
	if u.Path == "" {
		u.Path = "/"
	}
	h, err := ParseHost(host)
	if err != nil && host != "localhost" && host != "127.0.0.1" {
		return Redirect{}, err
	}
	h.Name = host
	return Redirect{URL: u.String(), Host: h}, nil
}
