package webhooks

import (
	"errors"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/kayle-id/orgs-api/domains"
)

// URLMessage is upstream's message for every refused endpoint URL.
const URLMessage = "Must be an https:// URL pointing to a public host with no embedded credentials."

// MaxURLLength bounds an endpoint URL, in JavaScript string length.
const MaxURLLength = 2048

// ErrUnsafeURL is CheckURL's refusal; its message is URLMessage.
var ErrUnsafeURL = errors.New(URLMessage)

// ErrURLTooLong is the refusal of a URL over MaxURLLength. It is also an
// ErrUnsafeURL: upstream reports zod's too_big issue and then the custom
// one, so a handler tells the two apart with errors.Is(err, ErrURLTooLong).
var ErrURLTooLong error = tooLong{}

type tooLong struct{}

func (tooLong) Error() string { return URLMessage }
func (tooLong) Unwrap() error { return ErrUnsafeURL }

var dottedQuad = regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$`)

// privateSuffixes are the names upstream refuses as internal.
var privateSuffixes = []string{".home.arpa", ".internal", ".lan", ".local", ".localdomain", ".localhost"}

// CheckURL applies upstream's safeWebhookUrl to raw, in its order.
// allowLoopback is upstream's "not production": it admits https (and http)
// to localhost and 127.0.0.1 only. This is syntax only; the egress client
// checks the addresses a name resolves to.
func CheckURL(raw string, allowLoopback bool) error {
	if jsLength(raw) > MaxURLLength {
		return ErrURLTooLong
	}
	u, ok := domains.ParseWebURL(raw) // schemes other than http(s) fail step 4 anyway
	if !ok {
		return ErrUnsafeURL
	}
	if u.Username() != "" || u.Password() != "" {
		return ErrUnsafeURL
	}
	host := u.Hostname()
	bare := strings.TrimSuffix(host, ".")
	loopbackHost := bare == "localhost" || bare == "127.0.0.1"
	allowedLoopback := allowLoopback && loopbackHost
	switch u.Scheme() {
	case "https":
	case "http":
		if !allowedLoopback {
			return ErrUnsafeURL
		}
	default:
		return ErrUnsafeURL
	}
	if loopbackHost && !allowLoopback {
		return ErrUnsafeURL
	}
	if dottedQuad.MatchString(host) && host != "127.0.0.1" {
		return ErrUnsafeURL
	}
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		return ErrUnsafeURL
	}
	if !allowedLoopback {
		if !strings.Contains(bare, ".") {
			return ErrUnsafeURL
		}
		for _, s := range privateSuffixes {
			if strings.HasSuffix(bare, s) {
				return ErrUnsafeURL
			}
		}
	}
	return nil
}

// SendURL is what a delivery POSTs to for a stored URL: its WHATWG
// serialisation (lower-cased host, punycode, canonical IPv4) without the
// fragment. It does not apply CheckURL.
func SendURL(raw string) (string, error) {
	u, ok := domains.ParseWebURL(raw)
	if !ok {
		return "", ErrUnsafeURL
	}
	return u.Href(true), nil
}

// jsLength is the length JavaScript gives s (UTF-16 code units).
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
