package webhooks

import (
	"errors"
	"strings"
	"testing"
)

// Every example of the notes, production (loopback refused) and
// development (loopback allowed).
func TestCheckURLExamples(t *testing.T) {
	cases := []struct {
		url       string
		prod, dev bool // accepted?
	}{
		{"https://hooks.example.com/v1", true, true},
		{"http://example.com/", false, false},
		{"https://localhost:3001/", false, true},
		{"https://localhost.:3001/", false, true},
		{"https://127.0.0.1/", false, true},
		{"https://2130706433/", false, true},
		{"https://0x7f.0.0.1/", false, true},
		{"https://127.1/", false, true},
		{"http://localhost:3001/hook", false, true},
		{"http://127.0.0.1:8080/", false, true},
		{"https://10.0.0.1/", false, false},
		{"https://169.254.169.254/", false, false},
		{"https://10.1/", false, false},
		{"https://[::1]/", false, false},
		{"https://[::ffff:127.0.0.1]/", false, false},
		{"https://webhook/", false, false},
		{"https://metadata.google.internal/", false, false},
		{"https://printer.local/", false, false},
		{"https://foo.localhost/", false, false},
		{"https://nas.home.arpa/", false, false},
		{"https://router.lan/", false, false},
		{"https://box.localdomain./", false, false},
		{"https://user:pw@example.com/", false, false},
		{"https://user@example.com/", false, false},
		{"https://:pw@example.com/", false, false},
		{"https://10.0.0.1.nip.io/", true, true},
		{"https://169.254.169.254.nip.io/", true, true},
		{"https://example.com./", true, true},
		{"https://a.b/", true, true},
		{"https://example.com:22/", true, true},
		{"https://example.com/x?y=1#frag", true, true},
		{"https://hooks.test/", true, true},
		{"https://hooks.example/", true, true},
		{"https://hooks.invalid/", true, true},
		{"https://bücher.example/", true, true},
		{"HTTPS://EXAMPLE.COM/A", true, true},
		{"ftp://example.com/", false, false},
		{"javascript:alert(1)", false, false},
		{"example.com", false, false},
		{"", false, false},
		{"https://", false, false},
		{"http://localhost.evil.com/", false, false}, // not the loopback host
		{"https://" + strings.Repeat("a", 2030) + ".com/", true, true},
	}
	for _, c := range cases {
		for _, mode := range []struct {
			allow bool
			want  bool
		}{{false, c.prod}, {true, c.dev}} {
			err := CheckURL(c.url, mode.allow)
			if (err == nil) != mode.want {
				t.Errorf("CheckURL(%q, loopback %v) = %v, want accepted %v", c.url, mode.allow, err, mode.want)
			}
			if err != nil && (err.Error() != URLMessage || !errors.Is(err, ErrUnsafeURL)) {
				t.Errorf("CheckURL(%q) error %q is not upstream's message", c.url, err)
			}
		}
	}
}

// The bound is 2048 JavaScript characters: an emoji counts 2.
func TestCheckURLLength(t *testing.T) {
	base := "https://example.com/"
	exact := base + strings.Repeat("a", MaxURLLength-len(base))
	if err := CheckURL(exact, false); err != nil {
		t.Fatalf("2048 characters refused: %v", err)
	}
	for _, long := range []string{exact + "a", base + strings.Repeat("😀", (MaxURLLength-len(base))/2) + "a"} {
		err := CheckURL(long, false)
		if !errors.Is(err, ErrURLTooLong) || !errors.Is(err, ErrUnsafeURL) || err.Error() != URLMessage {
			t.Fatalf("%d bytes: %v, want ErrURLTooLong", len(long), err)
		}
	}
	if err := CheckURL(base+strings.Repeat("é", MaxURLLength-len(base)), false); err != nil {
		t.Fatalf("2048 two-byte characters refused: %v", err) // UTF-8 bytes do not count
	}
	if errors.Is(CheckURL("http://example.com/", false), ErrURLTooLong) {
		t.Fatal("an ordinary refusal claims too long")
	}
}

func TestSendURL(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://EXAMPLE.COM/A":              "https://example.com/A",
		"https://example.com/x?y=1#frag":     "https://example.com/x?y=1",
		"https://bücher.example/p":           "https://xn--bcher-kva.example/p",
		"https://example.com:443/":           "https://example.com/",
		"https://example.com:8443":           "https://example.com:8443/",
		"https://2130706433/":                "https://127.0.0.1/",
		"https://example.com/a b":            "https://example.com/a%20b",
		"https://example.com./":              "https://example.com./",
		"http://localhost:3001/hook#ignored": "http://localhost:3001/hook",
	} {
		got, err := SendURL(in)
		if err != nil || got != want {
			t.Errorf("SendURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SendURL("ftp://example.com/"); err == nil {
		t.Error("SendURL accepted ftp")
	}
}
