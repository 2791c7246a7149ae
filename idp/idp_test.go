package idp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/internal/idptest"
)

// clock is a settable clock for the key set's intervals.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

func newVerifier(t *testing.T, op *idptest.Provider, clk *clock, mutate ...func(*idp.Config)) *idp.Provider {
	t.Helper()
	op.Now = clk.Now
	cfg := idp.Config{Issuer: op.Issuer, Audience: idptest.Audience, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := idp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantRejected(t *testing.T, err error, check string) {
	t.Helper()
	var rej *idp.RejectedError
	if !errors.As(err, &rej) || rej.Check != check {
		t.Fatalf("got %v, want rejection %q", err, check)
	}
	if rej.Hint == "" {
		t.Fatalf("rejection %q has no hint", check)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, idp.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestConfigRefusesWhatWouldBeUnsafe(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  idp.Config
	}{
		{"no issuer", idp.Config{Audience: "a"}},
		{"no audience", idp.Config{Issuer: "https://id.example.com"}},
		{"plain http to another host", idp.Config{Issuer: "http://id.example.com", Audience: "a"}},
		{"key set over plain http", idp.Config{Issuer: "https://id.example.com", Audience: "a", JWKSURL: "http://id.example.com/jwks"}},
		{"relative issuer", idp.Config{Issuer: "id.example.com", Audience: "a"}},
		{"key set over plain http on loopback for an https issuer", idp.Config{Issuer: "https://id.example.com", Audience: "a", JWKSURL: "http://127.0.0.1:9000/jwks"}},
	} {
		if _, err := idp.New(c.cfg); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	for _, ok := range []string{"https://id.example.com", "http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"} {
		if _, err := idp.New(idp.Config{Issuer: ok, Audience: "a"}); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	// A development setup: issuer and key set both plain http on loopback.
	if _, err := idp.New(idp.Config{Issuer: "http://127.0.0.1:9000", Audience: "a", JWKSURL: "http://localhost:9001/jwks"}); err != nil {
		t.Errorf("loopback issuer with a loopback key set refused: %v", err)
	}
}

// Keys are fetched once (discovery, then the key set) and cached between
// refreshes; a stale set is fetched again.
func TestKeysAreCached(t *testing.T) {
	op, clk := idptest.New(t), &clock{}
	v := newVerifier(t, op, clk)
	ctx := context.Background()
	for i := range 20 {
		id, err := v.Verify(ctx, op.Token(op.Claims("alice", "alice@example.com")))
		if err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
		if id.Subject != "alice" || id.Email != "alice@example.com" || !id.EmailVerified || id.Issuer != op.Issuer {
			t.Fatalf("identity: %+v", id)
		}
	}
	if op.KeyFetches() != 1 || op.DiscoveryFetches() != 1 {
		t.Fatalf("key set fetched %d times, discovery %d times; want 1 and 1", op.KeyFetches(), op.DiscoveryFetches())
	}
	clk.Advance(idp.DefaultMaxAge + time.Second)
	if _, err := v.Verify(ctx, op.Token(op.Claims("alice", "alice@example.com"))); err != nil {
		t.Fatal(err)
	}
	if op.KeyFetches() != 2 || op.DiscoveryFetches() != 1 {
		t.Fatalf("after MaxAge: key set fetched %d times, discovery %d; want 2 and 1", op.KeyFetches(), op.DiscoveryFetches())
	}
}

// A rotated key is found by one refresh; a flood of made-up kids causes at
// most one fetch per MinRefreshInterval.
func TestRotationAndUnknownKidFlood(t *testing.T) {
	op, clk := idptest.New(t), &clock{}
	v := newVerifier(t, op, clk)
	ctx := context.Background()
	if _, err := v.Verify(ctx, op.Token(op.Claims("bob", "bob@example.com"))); err != nil {
		t.Fatal(err)
	}
	clk.Advance(idp.DefaultMinRefreshInterval)
	op.Rotate()
	if _, err := v.Verify(ctx, op.Token(op.Claims("bob", "bob@example.com"))); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := op.KeyFetches(); got != 2 {
		t.Fatalf("rotation: key set fetched %d times, want 2", got)
	}

	// Made-up kids: signed by keys the provider never published.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stranger := &idptest.Key{ID: fmt.Sprintf("made-up-%d", i), Algorithm: jose.RS256, Private: op.Signer().Private}
			_, err := v.Verify(ctx, op.SignWith(stranger, op.Claims("bob", "bob@example.com")))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantRejected(t, err, idp.CheckUnknownKey)
	}
	// The rotation's fetch was just now: the flood causes no fetch at all
	// until MinRefreshInterval has passed, then one.
	if got := op.KeyFetches(); got != 2 {
		t.Fatalf("flood within the interval: key set fetched %d times, want 2", got)
	}
	clk.Advance(idp.DefaultMinRefreshInterval)
	for i := range 50 {
		stranger := &idptest.Key{ID: fmt.Sprintf("later-%d", i), Algorithm: jose.RS256, Private: op.Signer().Private}
		_, err := v.Verify(ctx, op.SignWith(stranger, op.Claims("bob", "bob@example.com")))
		wantRejected(t, err, idp.CheckUnknownKey)
	}
	if got := op.KeyFetches(); got != 3 {
		t.Fatalf("flood after the interval: key set fetched %d times, want 3", got)
	}
}

// While one request's fetch of the key set hangs, every other request is
// answered at once: a cached key verifies (also once the set is stale), an
// unknown kid is unavailable (503 with Retry-After at the server), and no
// second fetch starts. Each caller has 3 s; one that waited on the running
// fetch (FetchTimeout an hour) would return only when its own deadline
// passed.
func TestUnknownKidNeverWaitsOnARunningFetch(t *testing.T) {
	op, clk := idptest.New(t), &clock{}
	v := newVerifier(t, op, clk, func(c *idp.Config) { c.FetchTimeout = time.Hour })
	known := op.Token(op.Claims("gus", "gus@example.com"))
	if _, err := v.Verify(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	stranger := func(kid string) string {
		return op.SignWith(&idptest.Key{ID: kid, Algorithm: jose.RS256, Private: op.Signer().Private}, op.Claims("gus", "gus@example.com"))
	}
	clk.Advance(idp.DefaultMinRefreshInterval)
	op.SetMode(idptest.Hang)
	first := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), stranger("the-first"))
		first <- err
	}()
	for op.KeyFetches() < 2 { // the first request's fetch has reached the provider
		time.Sleep(5 * time.Millisecond)
	}
	type answer struct {
		err    error
		waited error // the caller's deadline had passed when Verify returned
	}
	call := func(tok string) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := v.Verify(ctx, tok)
		return answer{err, ctx.Err()}
	}
	check := func(what string, a answer, wantOK bool) {
		t.Helper()
		if a.waited != nil {
			t.Fatalf("%s waited on the running fetch until its own deadline: %v", what, a.err)
		}
		if wantOK && a.err != nil {
			t.Fatalf("%s: %v", what, a.err)
		}
		if !wantOK {
			wantUnavailable(t, a.err)
		}
	}
	answers := make(chan answer, 60)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() { defer wg.Done(); answers <- call(stranger(fmt.Sprintf("made-up-%d", i))) }()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		check("an unknown kid", a, false)
	}
	check("a cached key", call(known), true)
	clk.Advance(idp.DefaultMaxAge) // stale now: the cached keys still serve
	check("a cached key of a stale set", call(op.Token(op.Claims("gus", "gus@example.com"))), true)
	select {
	case err := <-first:
		t.Fatalf("the first request returned while its fetch hung: %v", err)
	default:
	}
	if got := op.KeyFetches(); got != 2 {
		t.Fatalf("key set requested %d times while one fetch ran, want 2", got)
	}
	// The fetch ends (the provider answers nothing): the first request is
	// unavailable too; after RetryInterval a rotated key is found.
	op.SetMode(idptest.Up)
	wantUnavailable(t, <-first)
	clk.Advance(idp.DefaultRetryInterval)
	op.Rotate()
	if _, err := v.Verify(context.Background(), op.Token(op.Claims("gus", "gus@example.com"))); err != nil {
		t.Fatalf("the rotated key after the provider came back: %v", err)
	}
}

// Plain http only in a development setup: for an issuer served over https,
// neither its discovery document nor a redirect of its key set address can
// send this server to a plain-http port, even on loopback.
func TestPlainHTTPOnlyForALoopbackIssuer(t *testing.T) {
	op := idptest.New(t) // serves the key set over plain http on loopback
	var issuer string
	var plainJWKS atomic.Bool // the discovery document names op's plain-http key set
	tlsOP := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			jwks := issuer + "/jwks"
			if plainJWKS.Load() {
				jwks = op.Issuer + "/jwks"
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "jwks_uri": jwks})
		case "/jwks":
			_ = json.NewEncoder(w).Encode(op.KeySet())
		case "/jwks-moved":
			http.Redirect(w, r, op.Issuer+"/jwks", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer tlsOP.Close()
	issuer = tlsOP.URL
	tok := op.Token(func() map[string]any { c := op.Claims("hal", "hal@example.com"); c["iss"] = issuer; return c }())
	verify := func(mutate func(*idp.Config)) error {
		v := newVerifier(t, op, &clock{}, func(c *idp.Config) { c.Issuer, c.HTTPClient = issuer, tlsOP.Client() }, mutate)
		_, err := v.Verify(context.Background(), tok)
		return err
	}
	// Control: everything over https verifies.
	if err := verify(func(*idp.Config) {}); err != nil {
		t.Fatalf("https issuer and key set: %v", err)
	}
	if err := verify(func(c *idp.Config) { c.JWKSURL = issuer + "/jwks" }); err != nil {
		t.Fatalf("https key set given directly: %v", err)
	}
	// The discovery document sends the key set to plain http on loopback.
	plainJWKS.Store(true)
	err := verify(func(*idp.Config) {})
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "jwks_uri") {
		t.Fatalf("refused for another reason: %v", err)
	}
	plainJWKS.Store(false)
	// The https key set address redirects there.
	wantUnavailable(t, verify(func(c *idp.Config) { c.JWKSURL = issuer + "/jwks-moved" }))
	if op.KeyFetches() != 0 {
		t.Fatalf("the plain-http key set was fetched %d times", op.KeyFetches())
	}
}

// The provider down: never a rejection, always ErrUnavailable, within the
// caller's deadline, and the cached keys keep working.
func TestProviderDown(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    idptest.Mode
	}{{"refused", idptest.Refuse}, {"failing", idptest.Failing}, {"hanging", idptest.Hang}} {
		t.Run(mode.name, func(t *testing.T) {
			op, clk := idptest.New(t), &clock{}
			v := newVerifier(t, op, clk)
			tok := op.Token(op.Claims("carol", "carol@example.com"))
			op.SetMode(mode.m)

			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			start := time.Now()
			_, err := v.Verify(ctx, tok)
			cancel()
			wantUnavailable(t, err)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s with a 500ms deadline", d)
			}
			if st := v.State(context.Background()); st.Status != "unavailable" || st.Error == "" {
				t.Fatalf("state while never loaded: %+v", st)
			}

			// Back up: after RetryInterval the keys load.
			op.SetMode(idptest.Up)
			clk.Advance(idp.DefaultRetryInterval)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("after recovery: %v", err)
			}

			// Down again with keys cached: known keys still verify, also
			// once the set is stale; an unknown kid cannot be checked.
			op.SetMode(mode.m)
			clk.Advance(idp.DefaultMaxAge + time.Second)
			ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if _, err := v.Verify(ctx, op.Token(op.Claims("carol", "carol@example.com"))); err != nil {
				t.Fatalf("cached key while the provider is down: %v", err)
			}
			if st := v.State(context.Background()); st.Status != "stale" || st.Keys != 1 {
				t.Fatalf("state with stale keys: %+v", st)
			}
			clk.Advance(idp.DefaultMinRefreshInterval)
			op.Rotate()
			ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel2()
			_, err = v.Verify(ctx2, op.Token(op.Claims("carol", "carol@example.com")))
			wantUnavailable(t, err)
			op.SetMode(idptest.Up)
		})
	}
}

// Discovery must name the configured issuer; a key set address given
// directly skips discovery.
func TestDiscoveryAndDirectKeySet(t *testing.T) {
	op, clk := idptest.New(t), &clock{}
	tok := op.Token(op.Claims("dan", "dan@example.com"))

	other := newVerifier(t, op, clk, func(c *idp.Config) { c.Issuer = strings.Replace(op.Issuer, "127.0.0.1", "localhost", 1) })
	_, err := other.Verify(context.Background(), tok)
	wantUnavailable(t, err) // the discovery document names another issuer

	direct := newVerifier(t, op, clk, func(c *idp.Config) { c.JWKSURL = op.Issuer + "/jwks" })
	before := op.DiscoveryFetches()
	if _, err := direct.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if op.DiscoveryFetches() != before {
		t.Fatal("discovery was fetched although the key set URL was given")
	}
}

// A provider answering an endless or enormous document is cut off.
func TestOversizedProviderDocuments(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[`)
		chunk := strings.Repeat(`{"kty":"oct","k":"AAAA"},`, 1000)
		for range 200 { // about 5 MB
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `{"kty":"oct","k":"AAAA"}]}`)
	}))
	defer big.Close()
	op := idptest.New(t)
	v := newVerifier(t, op, &clock{}, func(c *idp.Config) { c.JWKSURL = big.URL })
	_, err := v.Verify(context.Background(), op.Token(op.Claims("erin", "erin@example.com")))
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "too large") {
		t.Fatalf("error does not say the document was too large: %v", err)
	}

	// An error page as large as the provider likes reaches /readyz (and
	// the log) shortened.
	noisy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("e", 500<<10), http.StatusInternalServerError)
	}))
	defer noisy.Close()
	v = newVerifier(t, op, &clock{}, func(c *idp.Config) { c.Issuer = noisy.URL })
	if st := v.State(context.Background()); st.Status != "unavailable" || st.Error == "" || len(st.Error) > 210 {
		t.Fatalf("state after a noisy failure: status %s, error of %d bytes", st.Status, len(st.Error))
	}
}

// Key sets are filtered: symmetric keys and short RSA keys are never used.
func TestKeySetFiltering(t *testing.T) {
	op := idptest.New(t)
	symmetric := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0","alg":"HS256"}]}`)
	}))
	defer symmetric.Close()
	v := newVerifier(t, op, &clock{}, func(c *idp.Config) { c.JWKSURL = symmetric.URL })
	_, err := v.Verify(context.Background(), op.Token(op.Claims("fay", "fay@example.com")))
	wantUnavailable(t, err) // a set with no usable key is the provider's fault
}

// BenchmarkVerify is Verify alone (the key set cached): parsing, the
// signature and the claims, per algorithm.
func BenchmarkVerify(b *testing.B) {
	op := idptest.New(b)
	ec := op.AddKey(jose.ES256)
	v, err := idp.New(idp.Config{Issuer: op.Issuer, Audience: idptest.Audience, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		token string
	}{{"RS256", op.Token(op.Claims("b", "b@example.com"))}, {"ES256", op.SignWith(ec, op.Claims("b", "b@example.com"))}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), c.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
