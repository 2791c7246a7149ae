// Package idp verifies bearer tokens issued by the team's identity provider:
// OpenID Connect discovery (coreos/go-oidc), the provider's key set (JWKS)
// cached between refreshes and refreshed, at a bounded rate, when a token
// names a key it lacks, and the token's signature and claims (go-jose).
//
// Every fetch from the provider has a deadline derived from the request
// that caused it, and nothing here touches the database.
package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Identity is who a verified token names.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// SessionID is the provider's session (the sid claim), "" when absent.
	SessionID string
	ExpiresAt time.Time
}

// Verifier checks a bearer token issued by the identity provider. Errors
// are a *RejectedError (the token fails a check) or wrap ErrUnavailable (it
// cannot be checked now).
type Verifier interface {
	Verify(ctx context.Context, token string) (Identity, error)
}

// ErrUnavailable means the provider's keys could not be had: the token is
// neither accepted nor refused.
var ErrUnavailable = errors.New("idp: identity provider unavailable")

// RejectedError is a token that failed a check. Check names it; Hint says
// it in words a client developer can act on. Neither contains the token.
type RejectedError struct {
	Check string
	Hint  string
}

func (e *RejectedError) Error() string { return "idp: token rejected: " + e.Check }

// MaxTokenLength bounds what Verify reads; longer bearer values are refused
// before any parsing.
const MaxTokenLength = 16 << 10

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 30 * time.Second

// The checks a token can fail, as RejectedError.Check.
const (
	CheckTooLong     = "too_long"
	CheckMalformed   = "malformed"
	CheckAlgorithm   = "algorithm"
	CheckUnknownKey  = "unknown_key"
	CheckSignature   = "signature"
	CheckClaims      = "claims"
	CheckIssuer      = "issuer"
	CheckAudience    = "audience"
	CheckExpired     = "expired"
	CheckNotYetValid = "not_yet_valid"
	CheckNoExpiry    = "no_expiry"
	CheckSubject     = "subject"
	CheckIDToken     = "id_token"
)

var hints = map[string]string{
	CheckTooLong:     fmt.Sprintf("The bearer token is longer than %d bytes and was not read; send the access token the identity provider issued.", MaxTokenLength),
	CheckMalformed:   "The bearer token is neither a session token (kid_...) nor a well-formed signed JWT (compact JWS).",
	CheckAlgorithm:   "The token's signing algorithm (alg) is not accepted: only the asymmetric algorithm of the provider's published key is (RS*, PS*, ES*, EdDSA; never none or HS*).",
	CheckUnknownKey:  "The token is signed with a key (kid) the identity provider does not publish.",
	CheckSignature:   "The token's signature does not verify against the identity provider's published key.",
	CheckClaims:      "The token's claims are not well-formed (exp, nbf and iat must be numbers, aud a string or list, email_verified a boolean).",
	CheckIssuer:      "The token was issued by another issuer (iss) than the one this server trusts.",
	CheckAudience:    "The token's audience (aud) does not include this API; request a token for it.",
	CheckExpired:     "The token has expired (exp); get a fresh one from the identity provider.",
	CheckNotYetValid: fmt.Sprintf("The token is not valid yet (nbf or iat is in the future, beyond %s of clock skew); check the clocks.", Leeway),
	CheckNoExpiry:    "The token has no expiry (exp); tokens that never expire are not accepted.",
	CheckSubject:     "The token names no usable subject (sub).",
	CheckIDToken:     "This is an ID token (it carries at_hash, c_hash or nonce, names its client (azp) among its audiences, or its typ says so): ID tokens are for the client that signed in; send the provider's access token for this API.",
}

func reject(check string) error { return &RejectedError{Check: check, Hint: hints[check]} }

// Hint is the hint given for a failed check.
func Hint(check string) string { return hints[check] }

// acceptedAlgorithms are the asymmetric JWS algorithms. none and HS* are
// absent: with them, anyone who has read the public key could sign.
var acceptedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Config configures a Provider. Issuer and Audience are required.
type Config struct {
	// Issuer is the iss every token must carry. Unless JWKSURL is set, the
	// key set's address comes from its discovery document
	// (Issuer + "/.well-known/openid-configuration").
	Issuer string
	// Audience must be among the token's aud.
	Audience string
	// JWKSURL, when set, is the key set's address, and discovery is skipped.
	JWKSURL string

	// The rest have defaults (see New).
	HTTPClient *http.Client
	// MaxAge is how long a fetched key set is used before it is fetched
	// again; when that fetch fails, the cached keys go on being used.
	MaxAge time.Duration
	// MinRefreshInterval is the least time between two fetches: a flood of
	// made-up kids causes at most one fetch per interval.
	MinRefreshInterval time.Duration
	// RetryInterval is the least time between a failed fetch and the next.
	RetryInterval time.Duration
	// FetchTimeout bounds one fetch (discovery and key set together), within
	// the deadline of the request that caused it.
	FetchTimeout time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// Defaults for the Config fields left zero.
const (
	DefaultMaxAge             = 15 * time.Minute
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultRetryInterval      = 2 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	// maxDocument bounds a discovery document or key set read from the provider.
	maxDocument = 1 << 20
	// maxKeys bounds the keys kept from one key set.
	maxKeys = 100
)

// Provider verifies tokens against one issuer's published keys.
type Provider struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger

	dev bool // the issuer is plain http on loopback (set by New)

	mu        sync.Mutex
	jwksURL   string            // from Config or discovery
	keys      []jose.JSONWebKey // public signing keys; nil until first loaded
	fetchedAt time.Time
	nextFetch time.Time // no fetch starts before this
	lastErr   error     // of the last fetch; nil after a success
	fetching  bool      // a fetch is under way
}

var _ Verifier = (*Provider)(nil)

// New checks the configuration; it makes no network call (keys are fetched
// when first needed, or by Load).
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("idp: an issuer is required")
	}
	if cfg.Audience == "" {
		return nil, errors.New("idp: an audience is required: without it, a token the provider issued to any other application would be accepted")
	}
	if err := checkURL(cfg.Issuer, true); err != nil {
		return nil, fmt.Errorf("idp: issuer: %w", err)
	}
	// Plain http is for a development setup, where the issuer itself is on
	// loopback: a provider served over https keeps its keys on https too,
	// and its discovery document or a redirect cannot send this server to
	// a plain-http port of its own machine.
	dev := plainLoopback(cfg.Issuer)
	if cfg.JWKSURL != "" {
		if err := checkURL(cfg.JWKSURL, dev); err != nil {
			return nil, fmt.Errorf("idp: key set URL: %w", err)
		}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	// Bodies are bounded and redirects held to the same rule as the
	// configured addresses, whatever client was given.
	bounded := *client
	base := bounded.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	bounded.Transport = boundedTransport{base}
	bounded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		return checkURL(req.URL.String(), dev)
	}
	return &Provider{cfg: cfg, client: &bounded, log: cfg.Logger, jwksURL: cfg.JWKSURL, dev: dev}, nil
}

// checkURL accepts https, and, when plainLoopbackOK, plain http to this
// machine: keys fetched in the clear could be replaced on the way, and with
// them any token forged.
func checkURL(raw string, plainLoopbackOK bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case plainLoopbackOK && plainLoopback(raw):
		return nil
	case plainLoopbackOK:
		return fmt.Errorf("%q must use https (plain http only on loopback)", raw)
	}
	return fmt.Errorf("%q must use https (plain http only when the issuer itself is plain http on loopback)", raw)
}

// plainLoopback reports whether raw is a plain-http address on this machine.
func plainLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// boundedTransport caps every response body it returns.
type boundedTransport struct{ base http.RoundTripper }

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp.Body = http.MaxBytesReader(nil, resp.Body, maxDocument)
	}
	return resp, err
}

// Verify checks the token's form, algorithm, signature, iss, aud, exp, nbf
// and iat, in that order, and returns who it names.
func (p *Provider) Verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > MaxTokenLength {
		return Identity{}, reject(CheckTooLong)
	}
	sig, err := jose.ParseSignedCompact(raw, acceptedAlgorithms)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return Identity{}, reject(CheckAlgorithm)
		}
		return Identity{}, reject(CheckMalformed)
	}
	if len(sig.Signatures) != 1 {
		return Identity{}, reject(CheckMalformed)
	}
	header := sig.Signatures[0].Header
	keys, err := p.keysFor(ctx, header.KeyID)
	if err != nil {
		return Identity{}, err
	}
	var payload []byte
	algorithmFits := false
	for _, k := range keys {
		// The key decides the algorithm: the token's alg is only accepted
		// when it is the one the key is for.
		if !keyAllows(k, header.Algorithm) {
			continue
		}
		algorithmFits = true
		if payload, err = sig.Verify(k.Key); err == nil {
			break
		}
		payload = nil
	}
	switch {
	case !algorithmFits:
		return Identity{}, reject(CheckAlgorithm)
	case payload == nil:
		return Identity{}, reject(CheckSignature)
	}
	// An ID token is for the client that signed in, not a credential for
	// this API, even where a provider puts the API in its audience: refused
	// by its type or by the claims only ID tokens carry.
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); !accessTokenType(typ) {
		return Identity{}, reject(CheckIDToken)
	}
	return p.checkClaims(payload)
}

// accessTokenType reports whether a JWT's typ header may be an access
// token's: absent, the generic JWT, or RFC 9068's at+jwt.
func accessTokenType(typ string) bool {
	switch strings.TrimPrefix(strings.ToLower(typ), "application/") {
	case "", "jwt", "at+jwt":
		return true
	}
	return false
}

// claims are the non-registered claims read from a token.
type claims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
	// Claims only an ID token carries (OpenID Connect Core 2, 3.1.3.6,
	// 3.3.2.11): nonce (any value, present at all) and the hashes. azp is
	// read to tell whether the token names its own client as an audience.
	AtHash            string `json:"at_hash"`
	CHash             string `json:"c_hash"`
	Nonce             any    `json:"nonce"`
	AuthorizedParty   string `json:"azp"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	SessionID         string `json:"sid"`
}

func (p *Provider) checkClaims(payload []byte) (Identity, error) {
	var c struct {
		jwt.Claims
		claims
	}
	if json.Unmarshal(payload, &c) != nil {
		return Identity{}, reject(CheckClaims)
	}
	std, extra := c.Claims, c.claims
	err := std.ValidateWithLeeway(jwt.Expected{Issuer: p.cfg.Issuer, AnyAudience: jwt.Audience{p.cfg.Audience}, Time: p.cfg.Now()}, Leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Identity{}, reject(CheckIssuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Identity{}, reject(CheckAudience)
	case errors.Is(err, jwt.ErrExpired):
		return Identity{}, reject(CheckExpired)
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Identity{}, reject(CheckNotYetValid)
	case err != nil:
		return Identity{}, reject(CheckClaims)
	case std.Expiry == nil:
		return Identity{}, reject(CheckNoExpiry)
	case strings.TrimSpace(std.Subject) == "":
		return Identity{}, reject(CheckSubject)
	case extra.AtHash != "" || extra.CHash != "" || extra.Nonce != nil:
		return Identity{}, reject(CheckIDToken)
	case extra.AuthorizedParty != "" && extra.AuthorizedParty != p.cfg.Audience && slices.Contains(std.Audience, extra.AuthorizedParty):
		// An ID token is addressed to the client that signed in: its aud
		// contains that client's id, which azp repeats. An access token's
		// aud names the resource (RFC 9068: the client is client_id, and
		// azp, where a provider sends it, is not among the audiences). When
		// this API's audience is itself the client's id, nothing tells the
		// two apart by these claims, and the rule does not apply.
		return Identity{}, reject(CheckIDToken)
	}
	id := Identity{
		Issuer: std.Issuer, Subject: std.Subject, Email: extra.Email, Name: extra.Name,
		SessionID: extra.SessionID, ExpiresAt: std.Expiry.Time(),
	}
	// Most providers send a boolean; some (Cognito) the string "true".
	switch v := extra.EmailVerified.(type) {
	case bool:
		id.EmailVerified = v
	case string:
		id.EmailVerified = v == "true"
	}
	if id.Name == "" {
		id.Name = extra.PreferredUsername
	}
	return id, nil
}

// keyAllows reports whether the key may verify a signature made with alg:
// the key's own alg when it names one, else the algorithms of its type
// (and, for elliptic curves, of its curve).
func keyAllows(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" {
		return k.Algorithm == alg
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return alg == string(jose.ES256)
		case elliptic.P384():
			return alg == string(jose.ES384)
		case elliptic.P521():
			return alg == string(jose.ES512)
		}
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

var (
	errThrottled = errors.New("idp: key set fetched too recently")
	errFetching  = errors.New("idp: the key set is being fetched for another request")
)

// keysFor returns the cached keys the token may be signed with: those with
// its kid, or all of them when it names none. The key set is fetched when
// it was never loaded, when it is older than MaxAge (a failure then keeps
// the cached keys), and when no key has the kid (at most once per
// MinRefreshInterval: a made-up kid otherwise costs nothing).
//
// Only the request that starts a fetch waits for it. While it runs, a
// token whose key is cached is checked against the cached keys, and one
// whose key is not is answered at once as unavailable (503, Retry-After):
// whether the provider publishes that key is not known yet, and the retry
// a moment later gets the answer. So a provider that hangs holds one
// request at a time, never every request naming an unknown kid.
func (p *Provider) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	p.mu.Lock()
	loaded, stale := p.keys != nil, p.cfg.Now().Sub(p.fetchedAt) > p.cfg.MaxAge
	p.mu.Unlock()
	if !loaded || stale {
		err := p.refresh(ctx)
		if err != nil && !loaded {
			return nil, p.unavailable(err)
		}
	}
	if keys := p.matching(kid); len(keys) > 0 {
		return keys, nil
	}
	switch err := p.refresh(ctx); {
	case errors.Is(err, errThrottled):
		if lastErr := p.lastError(); lastErr != nil {
			// The provider was down at the last try: whether it publishes
			// this key is not known.
			return nil, p.unavailable(lastErr)
		}
	case err != nil: // the fetch failed, or another request's is under way
		return nil, p.unavailable(err)
	}
	if keys := p.matching(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, reject(CheckUnknownKey)
}

func (p *Provider) matching(kid string) []jose.JSONWebKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kid == "" {
		return p.keys
	}
	var out []jose.JSONWebKey
	for _, k := range p.keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// lastError is the last fetch's error; nil after a success.
func (p *Provider) lastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

func (p *Provider) unavailable(err error) error {
	if last := p.lastError(); errors.Is(err, errThrottled) && last != nil {
		err = last
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Load fetches the key set now, for start-up checks: when a fetch ran too
// recently it reports that fetch's outcome, and when one is under way it
// says so rather than waiting.
func (p *Provider) Load(ctx context.Context) error {
	err := p.refresh(ctx)
	if errors.Is(err, errThrottled) {
		err = p.lastError()
	}
	return err
}

// refresh fetches the key set in the calling goroutine: errThrottled when
// the last fetch ended too recently, errFetching when another request's
// fetch is under way (nobody waits on another's fetch). The fetch has the
// deadline of the request that caused it (at most FetchTimeout), but that
// request's cancellation does not cut it short: a client that sends a
// made-up kid and hangs up must not be able to abort every fetch, and with
// it the discovery of a rotated key.
func (p *Provider) refresh(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.fetching:
		p.mu.Unlock()
		return errFetching
	case p.cfg.Now().Before(p.nextFetch):
		p.mu.Unlock()
		return errThrottled
	}
	p.fetching = true
	p.mu.Unlock()
	timeout := p.cfg.FetchTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	result := p.fetchKeys(fctx)
	p.finish(result)
	return result.err
}

func (p *Provider) finish(result fetchResult) {
	p.mu.Lock()
	now := p.cfg.Now()
	if result.err == nil {
		p.keys, p.fetchedAt, p.lastErr = result.keys, now, nil
		p.nextFetch = now.Add(p.cfg.MinRefreshInterval)
		if result.jwksURL != "" {
			p.jwksURL = result.jwksURL
		}
	} else {
		p.lastErr = result.err
		p.nextFetch = now.Add(p.cfg.RetryInterval)
	}
	p.fetching = false
	p.mu.Unlock()
	if result.err != nil {
		p.log.Warn("identity provider keys not fetched", "issuer", p.cfg.Issuer, "error", brief(result.err))
	}
}

type fetchResult struct {
	keys    []jose.JSONWebKey
	jwksURL string
	err     error
}

// fetchKeys discovers the key set's address (once) and fetches the keys.
func (p *Provider) fetchKeys(ctx context.Context) fetchResult {
	p.mu.Lock()
	jwksURL := p.jwksURL
	p.mu.Unlock()
	var res fetchResult
	if jwksURL == "" {
		// go-oidc checks that the discovery document names our issuer.
		disc, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.cfg.Issuer)
		if err != nil {
			res.err = fmt.Errorf("discovery: %w", err)
			return res
		}
		var meta struct {
			JWKSURL string `json:"jwks_uri"`
		}
		if err := disc.Claims(&meta); err != nil || meta.JWKSURL == "" {
			res.err = errors.New("discovery: no jwks_uri in the discovery document")
			return res
		}
		if err := checkURL(meta.JWKSURL, p.dev); err != nil {
			res.err = fmt.Errorf("discovery: jwks_uri: %w", err)
			return res
		}
		jwksURL, res.jwksURL = meta.JWKSURL, meta.JWKSURL
	}
	res.keys, res.err = p.getKeys(ctx, jwksURL)
	return res
}

func (p *Provider) getKeys(ctx context.Context, jwksURL string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("key set: reading %s: %w", jwksURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set: %s answered %s", jwksURL, resp.Status)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("key set: %s: %w", jwksURL, err)
	}
	return keys, nil
}

// parseKeySet keeps the public signing keys of a JWKS: keys of types
// go-jose does not know, symmetric keys, encryption keys and RSA keys
// under 2048 bits are skipped; a set left with no key is an error (the
// provider is misconfigured, not every token forged).
func parseKeySet(body []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(r, &k) != nil || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // a private key published by mistake: keep its public half
		}
		switch key := k.Key.(type) {
		case *rsa.PublicKey:
			if key.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		if k.Algorithm != "" && !accepted(k.Algorithm) {
			continue
		}
		keys = append(keys, k)
		if len(keys) == maxKeys {
			break
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signing key")
	}
	return keys, nil
}

func accepted(alg string) bool {
	for _, a := range acceptedAlgorithms {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// State is the key set's state, for readiness checks.
type State struct {
	// Status: "fresh" (fetched within MaxAge), "stale" (older: the last
	// fetch failed, the cached keys are used) or "unavailable" (never
	// fetched: provider tokens get 503).
	Status    string    `json:"status"`
	Keys      int       `json:"keys"`
	FetchedAt time.Time `json:"fetchedAt,omitzero"`
	// Error is the last fetch's error, shortened, for the operator: it is
	// never marshalled, because /readyz answers anyone, and the text is
	// the provider's (or names its addresses). The log has it.
	Error string `json:"-"`
}

// State reports the key set's state; when it was never fetched, it tries
// (at the usual bounded rate, and not when another fetch is under way)
// within ctx.
func (p *Provider) State(ctx context.Context) State {
	p.mu.Lock()
	loaded := p.keys != nil
	p.mu.Unlock()
	if !loaded {
		_ = p.refresh(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := State{Keys: len(p.keys), FetchedAt: p.fetchedAt}
	switch {
	case p.keys == nil:
		st.Status = "unavailable"
	case p.cfg.Now().Sub(p.fetchedAt) > p.cfg.MaxAge:
		st.Status = "stale"
	default:
		st.Status = "fresh"
	}
	if p.lastErr != nil {
		st.Error = brief(p.lastErr)
	}
	return st
}

// brief shortens a fetch error for the log and State: go-oidc quotes a
// failing answer's whole body, which the provider chooses.
func brief(err error) string {
	const most = 200
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > most {
		s = strings.ToValidUTF8(s[:most], "") + "…"
	}
	return s
}
