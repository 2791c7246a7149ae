// Package idptest runs an identity provider on loopback for tests: an
// OpenID Connect discovery document and a key set (JWKS) over real HTTP,
// with keys generated at start, which signs tokens with go-jose. It can
// rotate its keys, count the fetches of its key set, and fail the ways a
// real provider does (refuse connections, answer errors, hang).
package idptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the aud the provider's tokens carry unless told otherwise.
const Audience = "https://api.kayle.test"

// Mode is how the provider answers.
type Mode int32

const (
	Up      Mode = iota // answers normally
	Refuse              // the port is closed: connections are refused
	Failing             // answers 503 to everything
	Hang                // accepts and never answers (until the client gives up)
)

// Key is one signing key the provider holds.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
	// Unpublished keys sign but are not in the key set.
	Unpublished bool
}

// Provider is the loopback provider.
type Provider struct {
	t      testing.TB
	addr   string
	Issuer string
	// Now is the provider's clock for the claims it issues.
	Now func() time.Time

	mu      sync.Mutex
	keys    []*Key
	signer  *Key
	ln      net.Listener
	srv     *http.Server
	mode    atomic.Int32
	jwksHit atomic.Int64
	discHit atomic.Int64
	hang    chan struct{}
}

// New starts a provider on a loopback port with one RSA key; it stops when
// the test ends.
func New(t testing.TB) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{t: t, addr: ln.Addr().String(), hang: make(chan struct{}), Now: time.Now}
	p.Issuer = "http://" + p.addr
	p.signer = p.AddKey(jose.RS256)
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

func (p *Provider) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discHit.Add(1)
		if !p.answering(w, r) {
			return
		}
		writeJSON(w, map[string]any{
			"issuer":                                p.Issuer,
			"jwks_uri":                              p.Issuer + "/jwks",
			"authorization_endpoint":                p.Issuer + "/authorize",
			"token_endpoint":                        p.Issuer + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHit.Add(1)
		if !p.answering(w, r) {
			return
		}
		writeJSON(w, p.KeySet())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	p.ln, p.srv = ln, srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (p *Provider) answering(w http.ResponseWriter, r *http.Request) bool {
	switch Mode(p.mode.Load()) {
	case Failing:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return false
	case Hang:
		p.mu.Lock()
		hang := p.hang
		p.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-hang:
		}
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// SetMode changes how the provider answers. Refuse closes the port; any
// other mode opens it again, on the same address.
func (p *Provider) SetMode(m Mode) {
	p.t.Helper()
	old := Mode(p.mode.Swap(int32(m)))
	if old == Hang && m != Hang {
		p.mu.Lock()
		close(p.hang)
		p.hang = make(chan struct{})
		p.mu.Unlock()
	}
	switch {
	case m == Refuse && old != Refuse:
		p.mu.Lock()
		srv := p.srv
		p.mu.Unlock()
		_ = srv.Close()
	case m != Refuse && old == Refuse:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Fatalf("provider: listening again on %s: %v", p.addr, err)
		}
		p.serve(ln)
	}
}

// Close stops the provider.
func (p *Provider) Close() {
	p.mu.Lock()
	srv := p.srv
	if Mode(p.mode.Load()) == Hang {
		close(p.hang)
		p.hang = make(chan struct{})
	}
	p.mu.Unlock()
	_ = srv.Close()
}

// KeyFetches is how many times the key set was requested.
func (p *Provider) KeyFetches() int64 { return p.jwksHit.Load() }

// DiscoveryFetches is how many times the discovery document was requested.
func (p *Provider) DiscoveryFetches() int64 { return p.discHit.Load() }

var kidSeq atomic.Int64

// AddKey generates and publishes a key for alg (RS256, PS256, ES256 or
// ES384) without making it the signing key.
func (p *Provider) AddKey(alg jose.SignatureAlgorithm) *Key {
	p.t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		p.t.Fatalf("provider: no key generator for %s", alg)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	k := &Key{ID: fmt.Sprintf("key-%d", kidSeq.Add(1)), Algorithm: alg, Private: priv}
	p.mu.Lock()
	p.keys = append(p.keys, k)
	p.mu.Unlock()
	return k
}

// Rotate publishes a new key of the same algorithm, signs with it from now
// on and withdraws the old one, as providers rotate.
func (p *Provider) Rotate() *Key {
	p.t.Helper()
	p.mu.Lock()
	old := p.signer
	p.mu.Unlock()
	k := p.AddKey(old.Algorithm)
	p.mu.Lock()
	p.signer = k
	old.Unpublished = true
	p.mu.Unlock()
	return k
}

// UseKey makes k the signing key.
func (p *Provider) UseKey(k *Key) { p.mu.Lock(); p.signer = k; p.mu.Unlock() }

// Signer is the current signing key.
func (p *Provider) Signer() *Key { p.mu.Lock(); defer p.mu.Unlock(); return p.signer }

// KeySet is the published JWKS: every published key's public half, with
// its kid, alg and use.
func (p *Provider) KeySet() jose.JSONWebKeySet {
	p.mu.Lock()
	defer p.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range p.keys {
		if k.Unpublished {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"})
	}
	return set
}

// Claims are the claims of a token for subject, as a provider issues them:
// this issuer, the default audience, valid for five minutes, a verified email.
func (p *Provider) Claims(subject, email string) map[string]any {
	now := p.Now()
	return map[string]any{
		"iss":            p.Issuer,
		"aud":            Audience,
		"sub":            subject,
		"iat":            now.Unix(),
		"nbf":            now.Unix(),
		"exp":            now.Add(5 * time.Minute).Unix(),
		"email":          email,
		"email_verified": true,
		"name":           subject,
	}
}

// Token signs claims with the current signing key.
func (p *Provider) Token(claims map[string]any) string {
	p.t.Helper()
	return p.SignWith(p.Signer(), claims)
}

// SignWith signs claims with k, its kid in the header.
func (p *Provider) SignWith(k *Key, claims map[string]any) string {
	p.t.Helper()
	return p.signTyped(k, "JWT", claims)
}

// TokenOfType signs claims with the current key and typ in the header.
func (p *Provider) TokenOfType(typ string, claims map[string]any) string {
	p.t.Helper()
	return p.signTyped(p.Signer(), jose.ContentType(typ), claims)
}

func (p *Provider) signTyped(k *Key, typ jose.ContentType, claims map[string]any) string {
	p.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		p.t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}
