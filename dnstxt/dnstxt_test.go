package dnstxt_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/internal/dnstest"
)

func startDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func resolver(t *testing.T, spec string, opts dnstxt.Options) *dnstxt.Resolver {
	t.Helper()
	r, err := dnstxt.New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// transports runs fn against plain DNS and DNS over HTTPS, both served by
// the same test server.
func transports(t *testing.T, fn func(t *testing.T, dns *dnstest.Server, r *dnstxt.Resolver)) {
	t.Run("plain", func(t *testing.T) {
		s := startDNS(t)
		fn(t, s, resolver(t, s.Addr, dnstxt.Options{Timeout: time.Second}))
	})
	t.Run("doh", func(t *testing.T) {
		s := startDNS(t)
		url, client := s.DoH()
		fn(t, s, resolver(t, url, dnstxt.Options{Timeout: time.Second, HTTPClient: client}))
	})
}

func TestLookupOutcomes(t *testing.T) {
	transports(t, func(t *testing.T, s *dnstest.Server, r *dnstxt.Resolver) {
		ctx := context.Background()
		name := "_kayle-id-verification.acme.test"
		lookup := func() ([]string, error) { return r.LookupTXT(ctx, name) }

		// Not published yet: NXDOMAIN.
		if _, err := lookup(); !errors.Is(err, dnstxt.ErrNoSuchName) {
			t.Fatalf("unknown name: %v", err)
		}
		// Published, several records, one split into character-strings.
		s.SetTXT(name, "v=spf1 -all", "kayle-id-verification=abc")
		s.AddTXT(name, "kayle-id-", "verification=", "split")
		got, err := lookup()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"v=spf1 -all", "kayle-id-verification=abc", "kayle-id-verification=split"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		// Bytes the library escapes come back as sent.
		s.SetTXT(name, `quote " backslash \ high `+"\xe9")
		if got, err := lookup(); err != nil || len(got) != 1 || got[0] != `quote " backslash \ high `+"\xe9" {
			t.Fatalf("escaped bytes: %q %v", got, err)
		}
		// Names are case-insensitive.
		if got, err := r.LookupTXT(ctx, strings.ToUpper(name)); err != nil || len(got) != 1 {
			t.Fatalf("upper-case name: %q %v", got, err)
		}
		// Taken away again.
		s.RemoveTXT(name)
		if _, err := lookup(); !errors.Is(err, dnstxt.ErrNoSuchName) {
			t.Fatalf("removed: %v", err)
		}
		// A TXT record behind an alias counts.
		s.SetCNAME(name, "target.dns-provider.test")
		s.SetTXT("target.dns-provider.test", "kayle-id-verification=alias")
		if got, err := lookup(); err != nil || !reflect.DeepEqual(got, []string{"kayle-id-verification=alias"}) {
			t.Fatalf("alias: %q %v", got, err)
		}

		for _, c := range []struct {
			mode dnstest.Mode
			want error
		}{
			{dnstest.NXDomain, dnstxt.ErrNoSuchName},
			{dnstest.ServFail, dnstxt.ErrUnavailable},
			{dnstest.Refused, dnstxt.ErrUnavailable},
			{dnstest.Garbage, dnstxt.ErrBadResponse},
			{dnstest.WrongQuestion, dnstxt.ErrBadResponse},
		} {
			s.SetMode(name, c.mode)
			if _, err := lookup(); !errors.Is(err, c.want) {
				t.Errorf("mode %d: got %v, want %v", c.mode, err, c.want)
			}
			if c.want == dnstxt.ErrBadResponse && errors.Is(errOf(lookup), dnstxt.ErrUnavailable) {
				t.Errorf("mode %d: a garbled answer also reads as unavailable", c.mode)
			}
		}
	})
}

func errOf(f func() ([]string, error)) error { _, err := f(); return err }

// A name that exists without TXT records is an answer with no values.
func TestNoData(t *testing.T) {
	transports(t, func(t *testing.T, s *dnstest.Server, r *dnstxt.Resolver) {
		s.SetTXT("empty.acme.test")
		got, err := r.LookupTXT(context.Background(), "empty.acme.test")
		if err != nil || len(got) != 0 {
			t.Fatalf("got %q %v", got, err)
		}
	})
}

// A resolver that never answers costs one timeout, not a hang.
func TestSilentResolverTimesOut(t *testing.T) {
	transports(t, func(t *testing.T, s *dnstest.Server, r *dnstxt.Resolver) {
		s.SetModeAll(dnstest.Silent)
		start := time.Now()
		_, err := r.LookupTXT(context.Background(), "x.acme.test")
		if !errors.Is(err, dnstxt.ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Fatalf("took %s with a 1s timeout", d)
		}
		// The caller's deadline wins when it is sooner.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start = time.Now()
		if _, err := r.LookupTXT(ctx, "x.acme.test"); !errors.Is(err, dnstxt.ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 800*time.Millisecond {
			t.Fatalf("took %s with a 200ms deadline", d)
		}
	})
}

// A truncated UDP answer is asked again over TCP.
func TestTruncationFallsBackToTCP(t *testing.T) {
	s := startDNS(t)
	r := resolver(t, s.Addr, dnstxt.Options{Timeout: time.Second})
	name := "_kayle-id-verification.big.test"
	s.SetTXT(name, "kayle-id-verification=tcp")
	s.SetMode(name, dnstest.Truncate)
	got, err := r.LookupTXT(context.Background(), name)
	if err != nil || !reflect.DeepEqual(got, []string{"kayle-id-verification=tcp"}) {
		t.Fatalf("got %q %v", got, err)
	}
	if udp, tcp, _ := s.Queries(); udp != 1 || tcp != 1 {
		t.Fatalf("queries: udp %d tcp %d, want 1 and 1", udp, tcp)
	}
	// A real large answer: many records cannot fit the UDP buffer.
	var many []string
	for i := 0; i < 60; i++ {
		many = append(many, strings.Repeat("x", 200))
	}
	s.SetTXT("large.test", many...)
	got, err = r.LookupTXT(context.Background(), "large.test")
	if err != nil || len(got) != 60 {
		t.Fatalf("large answer: %d values, %v", len(got), err)
	}
}

// The next resolver is asked only when one cannot answer.
func TestFallback(t *testing.T) {
	primary, secondary := startDNS(t), startDNS(t)
	name := "_kayle-id-verification.acme.test"
	secondary.SetTXT(name, "kayle-id-verification=second")
	r := resolver(t, primary.Addr+","+secondary.Addr, dnstxt.Options{Timeout: 500 * time.Millisecond})
	ctx := context.Background()

	// The primary answers NXDOMAIN: that is the answer.
	if _, err := r.LookupTXT(ctx, name); !errors.Is(err, dnstxt.ErrNoSuchName) {
		t.Fatalf("primary NXDOMAIN: %v", err)
	}
	if udp, _, _ := secondary.Queries(); udp != 0 {
		t.Fatalf("the secondary was asked although the primary answered")
	}
	// The primary fails in each way a resolver can: the secondary answers.
	for _, m := range []dnstest.Mode{dnstest.Silent, dnstest.ServFail, dnstest.Garbage} {
		primary.SetModeAll(m)
		got, err := r.LookupTXT(ctx, name)
		if err != nil || !reflect.DeepEqual(got, []string{"kayle-id-verification=second"}) {
			t.Fatalf("primary mode %d: %q %v", m, got, err)
		}
	}
	// Both fail: unavailable wins over garbled, so the caller retries.
	primary.SetModeAll(dnstest.Garbage)
	secondary.SetModeAll(dnstest.Silent)
	_, err := r.LookupTXT(ctx, name)
	if !errors.Is(err, dnstxt.ErrUnavailable) {
		t.Fatalf("both failed: %v", err)
	}
	// Both garbled: a bad response.
	secondary.SetModeAll(dnstest.Garbage)
	if _, err := r.LookupTXT(ctx, name); errors.Is(err, dnstxt.ErrUnavailable) || !errors.Is(err, dnstxt.ErrBadResponse) {
		t.Fatalf("both garbled: %v", err)
	}
}

// Nothing listening: refused at once, over UDP and over HTTPS.
func TestUnreachable(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r := resolver(t, addr, dnstxt.Options{Timeout: 2 * time.Second})
	if _, err := r.LookupTXT(context.Background(), "acme.test"); !errors.Is(err, dnstxt.ErrUnavailable) {
		t.Fatalf("closed UDP port: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	url := "https://" + ln.Addr().String() + "/dns-query"
	ln.Close()
	r = resolver(t, url, dnstxt.Options{Timeout: 2 * time.Second})
	if _, err := r.LookupTXT(context.Background(), "acme.test"); !errors.Is(err, dnstxt.ErrUnavailable) {
		t.Fatalf("closed HTTPS port: %v", err)
	}
}

// HTTP-level failures of a DoH endpoint: an error status is unavailable,
// a 200 that is not a DNS message is a bad response.
func TestDoHHTTPFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"502", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad gateway", 502) }, dnstxt.ErrUnavailable},
		{"html", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>captive portal</html>"))
		}, dnstxt.ErrBadResponse},
		{"json api", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/dns-json")
			_, _ = w.Write([]byte(`{"Status":0,"Answer":[]}`))
		}, dnstxt.ErrBadResponse},
		{"oversized", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/dns-message")
			_, _ = w.Write(make([]byte, 70000))
		}, dnstxt.ErrBadResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(c.handler)
			defer srv.Close()
			r := resolver(t, srv.URL+"/dns-query", dnstxt.Options{Timeout: time.Second, HTTPClient: srv.Client()})
			if _, err := r.LookupTXT(context.Background(), "acme.test"); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	for _, spec := range []string{"", " , ", "8.8.8.8", "http://dns.example/dns-query", "https://", "ftp://x:53", "https://u:p@dns.example/q", "host:"} {
		if _, err := dnstxt.New(spec, dnstxt.Options{}); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
	r, err := dnstxt.New(dnstxt.DefaultResolvers, dnstxt.Options{})
	if err != nil || r.String() != dnstxt.DefaultResolvers {
		t.Fatalf("default: %v %v", r, err)
	}
	if _, err := dnstxt.New("127.0.0.1:5353, [::1]:53 ,https://dns.example/dns-query", dnstxt.Options{}); err != nil {
		t.Fatal(err)
	}
}
