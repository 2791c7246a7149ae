package egress_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/internal/dnstest"
)

// startDNS is a real DNS server and a resolver that asks only it.
func startDNS(t *testing.T) (*dnstest.Server, *net.Resolver) {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	var d net.Dialer
	return srv, &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, srv.Addr)
	}}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// countingServer is a loopback HTTP server that counts the connections
// it accepts and the requests it serves.
type countingServer struct {
	*httptest.Server
	accepts, requests atomic.Int64
	port              string
}

func startServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.accepts.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func wantBlocked(t *testing.T, err error, addr string) {
	t.Helper()
	var b *egress.BlockedError
	if !errors.As(err, &b) {
		t.Fatalf("error %v is not a BlockedError", err)
	}
	if b.Addr != netip.MustParseAddr(addr) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("BlockedError %q names %v, want %s", err, b.Addr, addr)
	}
}

// A name resolving to a private, metadata or mapped-loopback address is
// refused at dial time, even with loopback allowed; so is a name whose
// answers mix a public address with a private one.
func TestDialRefusesPrivateNames(t *testing.T) {
	dns, res := startDNS(t)
	target := startServer(t, ok) // only to have a port; nothing may reach it
	c := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 5 * time.Second})
	for name, answer := range map[string][]string{
		"rfc1918.test.":   {"10.0.0.1"},
		"metadata.test.":  {"169.254.169.254"},
		"mapped.test.":    {"::ffff:127.0.0.1"},
		"ula.test.":       {"fd00::1"},
		"metadata6.test.": {"fd00:ec2::254"},
		"nat64.test.":     {"64:ff9b::a9fe:a9fe"},
		"cgnat.test.":     {"100.64.0.1"},
		"mixed.test.":     {"192.0.2.1", "10.0.0.1"},
		"mixed6.test.":    {"127.0.0.1", "fe80::1"},
	} {
		dns.SetAddrs(name, addrs(answer...)...)
		resp, err := c.Post("http://"+name+":"+target.port+"/", "application/jose", strings.NewReader("x"))
		if err == nil {
			egress.Discard(resp)
			t.Fatalf("%s: connected", name)
		}
		wantBlocked(t, err, answer[len(answer)-1])
	}
	if n := target.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback server", n)
	}
}

// A literal address in the URL is checked the same way, with no lookup.
func TestDialRefusesLiteralAddresses(t *testing.T) {
	dns, res := startDNS(t)
	target := startServer(t, ok)
	c := egress.New(egress.Options{Resolver: res, Timeout: 5 * time.Second})
	for url, addr := range map[string]string{
		"http://127.0.0.1:" + target.port + "/":          "127.0.0.1",
		"http://[::1]:" + target.port + "/":              "::1",
		"http://[::ffff:127.0.0.1]:" + target.port + "/": "::ffff:127.0.0.1",
		"http://169.254.169.254/latest/meta-data/":       "169.254.169.254",
		"http://[fd00:ec2::254]/":                        "fd00:ec2::254",
		"http://10.0.0.1/":                               "10.0.0.1",
	} {
		resp, err := c.Get(url)
		if err == nil {
			egress.Discard(resp)
			t.Fatalf("%s: connected", url)
		}
		wantBlocked(t, err, addr)
	}
	if u, tcp, _ := dns.Queries(); u+tcp != 0 || target.accepts.Load() != 0 {
		t.Fatalf("%d DNS queries, %d connections", u+tcp, target.accepts.Load())
	}
}

func TestLoopbackOnlyWhenAllowed(t *testing.T) {
	dns, res := startDNS(t)
	target := startServer(t, ok)
	dns.SetAddrs("receiver.test.", addrs("127.0.0.1")...)
	url := "http://receiver.test.:" + target.port + "/hook"

	_, err := egress.New(egress.Options{Resolver: res, Timeout: 5 * time.Second}).Get(url)
	wantBlocked(t, err, "127.0.0.1")
	if target.accepts.Load() != 0 {
		t.Fatal("refused client reached the server")
	}

	resp, err := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if resp.StatusCode != http.StatusNoContent || target.requests.Load() != 1 {
		t.Fatalf("status %d, %d requests", resp.StatusCode, target.requests.Load())
	}
}

// TLS is verified against the URL's host although the dial goes to the
// checked IP, and TLS below 1.2 is refused.
func TestTLS(t *testing.T) {
	dns, res := startDNS(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(ok)) // certificate for example.com
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	dns.SetAddrs("example.com.", addrs("127.0.0.1")...)
	dns.SetAddrs("other.test.", addrs("127.0.0.1")...)
	c := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 5 * time.Second, RootCAs: pool})

	resp, err := c.Get("https://example.com:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if resp.TLS == nil || resp.TLS.ServerName != "example.com" || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", resp.TLS)
	}
	var hostErr x509.HostnameError
	if _, err := c.Get("https://other.test:" + port + "/"); err == nil || !errors.As(err, &hostErr) {
		t.Fatalf("certificate for example.com accepted for other.test: %v", err)
	}

	old := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	old.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	t.Cleanup(old.Close)
	_, oldPort, _ := net.SplitHostPort(old.Listener.Addr().String())
	if _, err := c.Get("https://example.com:" + oldPort + "/"); err == nil {
		t.Fatal("TLS 1.1 server accepted")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	dns, res := startDNS(t)
	var followed atomic.Bool
	target := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	dns.SetAddrs("receiver.test.", addrs("127.0.0.1")...)
	c := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 5 * time.Second})
	resp, err := c.Post("http://receiver.test.:"+target.port+"/hook", "application/jose", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() || target.requests.Load() != 1 {
		t.Fatalf("status %d, followed %v, %d requests", resp.StatusCode, followed.Load(), target.requests.Load())
	}
}

func TestTimeoutBeforeHeaders(t *testing.T) {
	dns, res := startDNS(t)
	release := make(chan struct{})
	target := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		select { // stall before any header
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	dns.SetAddrs("slow.test.", addrs("127.0.0.1")...)
	c := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.Post("http://slow.test.:"+target.port+"/", "application/jose", strings.NewReader("x"))
	var nerr net.Error
	if err == nil || !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

// DNS rebinding: the server answers a public address first and loopback
// afterwards. The client looks the name up once per connection and dials
// what it checked, so the loopback listener never sees a connection;
// a client that checked and then let the dialer resolve again would.
func TestRebindingNeverReachesPrivate(t *testing.T) {
	dns, res := startDNS(t)
	target := startServer(t, ok)
	dns.SetRebinding("rebind.test.", addrs("192.0.2.1"), addrs("127.0.0.1"))
	c := egress.New(egress.Options{Resolver: res, Timeout: time.Second})
	url := "http://rebind.test.:" + target.port + "/"

	_, err := c.Get(url) // 192.0.2.1 is not routed: a failure, but not a refusal
	var b *egress.BlockedError
	if err == nil || errors.As(err, &b) {
		t.Fatalf("first attempt: %v", err)
	}
	if u, tcp, _ := dns.Queries(); u+tcp > 2 {
		t.Fatalf("%d lookups for one connection (want A and AAAA once)", u+tcp)
	}
	_, err = c.Get(url)
	wantBlocked(t, err, "127.0.0.1")
	if n := target.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback address", n)
	}
}

// The environment's proxy is not used: a name a proxy would be asked for
// goes straight to its checked address.
func TestNoProxyFromEnvironment(t *testing.T) {
	dns, res := startDNS(t)
	proxy := startServer(t, ok)
	target := startServer(t, ok)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:"+proxy.port)
	t.Setenv("http_proxy", "http://127.0.0.1:"+proxy.port)
	dns.SetAddrs("receiver.test.", addrs("127.0.0.1")...)
	resp, err := egress.New(egress.Options{AllowLoopback: true, Resolver: res, Timeout: 5 * time.Second}).Get("http://receiver.test.:" + target.port + "/")
	if err != nil {
		t.Fatal(err)
	}
	egress.Discard(resp)
	if proxy.accepts.Load() != 0 || target.requests.Load() != 1 {
		t.Fatalf("proxy saw %d connections, target %d requests", proxy.accepts.Load(), target.requests.Load())
	}
}

type countingBody struct {
	n      int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) { b.n += len(p); return len(p), nil }
func (b *countingBody) Close() error               { b.closed = true; return nil }

func TestDiscardBounded(t *testing.T) {
	body := &countingBody{} // endless
	egress.Discard(&http.Response{Body: body})
	if body.n > egress.MaxDiscard || !body.closed {
		t.Fatalf("read %d bytes, closed %v", body.n, body.closed)
	}
	egress.Discard(nil) // a failed call has no response
}
