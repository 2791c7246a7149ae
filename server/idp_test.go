package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/internal/idptest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/server"
)

// provEnv is a server whose bearer tokens may also come from a provider
// running on loopback.
type provEnv struct {
	*env
	op  *idptest.Provider
	clk *clock // the verifier's and the provider's clock
	v   *idp.Provider
}

func newProviderEnv(t testing.TB, kind testdb.Kind, opts ...func(*server.Config, *idp.Config)) *provEnv {
	t.Helper()
	op, clk := idptest.New(t), &clock{}
	op.Now = clk.Now
	icfg := idp.Config{Issuer: op.Issuer, Audience: idptest.Audience, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var scfg server.Config
	for _, o := range opts {
		o(&scfg, &icfg)
	}
	v, err := idp.New(icfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, kind, func(c *server.Config) {
		c.IdentityProvider = v
		if scfg.RequestTimeout > 0 {
			c.RequestTimeout = scfg.RequestTimeout
		}
		if scfg.Logger != nil {
			c.Logger = scfg.Logger
		}
		c.RateLimit = scfg.RateLimit
	})
	return &provEnv{env: e, op: op, clk: clk, v: v}
}

func forEachDBWithProvider(t *testing.T, fn func(t *testing.T, pe *provEnv), opts ...func(*server.Config, *idp.Config)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newProviderEnv(t, kind, opts...))
		})
	}
}

// call sends one request with the bearer token and returns the answer.
func (pe *provEnv) call(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, pe.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// wantAnswer checks status and, for errors, the envelope's code and hint.
func wantAnswer(t *testing.T, status int, raw []byte, wantStatus int, code, hint string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("got %d %s, want %d %s", status, raw, wantStatus, code)
	}
	if code == "" {
		return
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil {
		t.Fatalf("not the error envelope: %s", raw)
	}
	if env.Error.Code != code || env.Error.Message == "" || env.Error.Hint == "" || !docsLink.MatchString(env.Error.Docs) || string(env.Data) != "null" {
		t.Fatalf("got %s, want code %s in a complete envelope", raw, code)
	}
	if hint != "" && env.Error.Hint != hint {
		t.Fatalf("hint %q, want %q", env.Error.Hint, hint)
	}
}

// claimsWith copies claims, sets the given ones and deletes those set to nil.
func claimsWith(c map[string]any, kv ...any) map[string]any {
	out := maps.Clone(c)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

var b64 = base64.RawURLEncoding

func segment(v any) string {
	b, _ := json.Marshal(v)
	return b64.EncodeToString(b)
}

// hmacWithPublicKey is the classic confusion attack: HS256 "signed" with
// the provider's public key as the shared secret, under the key's kid.
func hmacWithPublicKey(t *testing.T, k *idptest.Key, secret []byte, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: k.ID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Every attack of the list gets 401 UNAUTHORIZED in the envelope, with a
// hint naming the check it failed, without echoing the token, without a
// row written and without an extra fetch from the provider.
func TestProviderTokenAttacks(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		op := pe.op
		now := pe.clk.Now()
		rsaKey := op.Signer()
		ecKey := op.AddKey(jose.ES256) // published, for ES256 only
		good := op.Claims("attack-victim-"+string(pe.kind), "victim@example.com")
		valid := op.Token(good)
		status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", valid, "")
		wantAnswer(t, status, raw, 200, "", "")
		strangerPriv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(rsaKey.Private.Public())
		if err != nil {
			t.Fatal(err)
		}
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		parts := strings.Split(valid, ".")
		other := strings.Split(op.Token(claimsWith(good, "sub", "someone-else")), ".")
		ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

		cases := []struct {
			name, token, check string
		}{
			{"alg none", segment(map[string]string{"alg": "none", "typ": "JWT", "kid": rsaKey.ID}) + "." + segment(good) + ".", idp.CheckAlgorithm},
			{"alg none with the real signature", segment(map[string]string{"alg": "none", "kid": rsaKey.ID}) + "." + parts[1] + "." + parts[2], idp.CheckAlgorithm},
			{"alg None (case games)", segment(map[string]string{"alg": "None", "kid": rsaKey.ID}) + "." + segment(good) + ".", idp.CheckAlgorithm},
			{"HS256 signed with the public key (PEM)", hmacWithPublicKey(t, rsaKey, pubPEM, good), idp.CheckAlgorithm},
			{"HS256 signed with the public key (DER)", hmacWithPublicKey(t, rsaKey, pubDER, good), idp.CheckAlgorithm},
			{"tampered payload", parts[0] + "." + segment(claimsWith(good, "sub", "mallory")) + "." + parts[2], idp.CheckSignature},
			{"tampered payload: email made verified", parts[0] + "." + segment(claimsWith(good, "email", "ceo@example.com")) + "." + parts[2], idp.CheckSignature},
			{"another token's signature", parts[0] + "." + parts[1] + "." + other[2], idp.CheckSignature},
			{"signature stripped", parts[0] + "." + parts[1] + ".", idp.CheckSignature},
			{"expired", op.Token(claimsWith(good, "exp", now.Add(-2*time.Minute).Unix())), idp.CheckExpired},
			{"not yet valid", op.Token(claimsWith(good, "nbf", now.Add(5*time.Minute).Unix())), idp.CheckNotYetValid},
			{"issued in the future", op.Token(claimsWith(good, "iat", now.Add(5*time.Minute).Unix())), idp.CheckNotYetValid},
			{"wrong issuer", op.Token(claimsWith(good, "iss", "https://evil.example.com")), idp.CheckIssuer},
			{"no issuer", op.Token(claimsWith(good, "iss", nil)), idp.CheckIssuer},
			{"wrong audience", op.Token(claimsWith(good, "aud", "https://other-api.example.com")), idp.CheckAudience},
			{"wrong audiences", op.Token(claimsWith(good, "aud", []string{"a", "b"})), idp.CheckAudience},
			{"no audience", op.Token(claimsWith(good, "aud", nil)), idp.CheckAudience},
			{"no expiry", op.Token(claimsWith(good, "exp", nil)), idp.CheckNoExpiry},
			{"no subject", op.Token(claimsWith(good, "sub", nil)), idp.CheckSubject},
			{"claims of the wrong type", op.Token(claimsWith(good, "exp", "tomorrow")), idp.CheckClaims},
			{"an ID token (at_hash)", op.Token(claimsWith(good, "at_hash", "77QmUPtjPfzWtF2AnpK9RQ")), idp.CheckIDToken},
			{"an ID token (c_hash)", op.Token(claimsWith(good, "c_hash", "LDktKdoQak3Pk0cnXxCltA")), idp.CheckIDToken},
			{"a logout token (typ logout+jwt)", op.TokenOfType("logout+jwt", good), idp.CheckIDToken},
			{"a DPoP proof (typ dpop+jwt)", op.TokenOfType("dpop+jwt", good), idp.CheckIDToken},
			{"an ID token without at_hash (nonce, azp, auth_time)", op.Token(claimsWith(good, "nonce", "n-0S6_WzA2Mj", "azp", "kayle-web", "auth_time", now.Unix())), idp.CheckIDToken},
			{"an ID token without at_hash or nonce (its client among the audiences)", op.Token(claimsWith(good, "aud", []string{idptest.Audience, "kayle-web"}, "azp", "kayle-web", "auth_time", now.Unix())), idp.CheckIDToken},
			{"unknown kid", op.SignWith(&idptest.Key{ID: "never-published", Algorithm: jose.RS256, Private: strangerPriv}, good), idp.CheckUnknownKey},
			{"a stranger's key under a known kid", op.SignWith(&idptest.Key{ID: rsaKey.ID, Algorithm: jose.RS256, Private: strangerPriv}, good), idp.CheckSignature},
			{"RS256 under the kid of an ES256 key", op.SignWith(&idptest.Key{ID: ecKey.ID, Algorithm: jose.RS256, Private: rsaKey.Private}, good), idp.CheckAlgorithm},
			{"PS256 with an RS256 key", op.SignWith(&idptest.Key{ID: rsaKey.ID, Algorithm: jose.PS256, Private: rsaKey.Private}, good), idp.CheckAlgorithm},
			{"ES256 by a stranger under the ES256 kid", op.SignWith(&idptest.Key{ID: ecKey.ID, Algorithm: jose.ES256, Private: ecPriv}, good), idp.CheckSignature},
			{"oversized", valid + "." + strings.Repeat("A", idp.MaxTokenLength), idp.CheckTooLong},
			{"two segments", parts[0] + "." + parts[1], idp.CheckMalformed},
			{"four segments", valid + ".AAAA", idp.CheckMalformed},
			{"not base64", "!!!.???.***", idp.CheckMalformed},
			{"header not JSON", b64.EncodeToString([]byte("{alg")) + "." + parts[1] + "." + parts[2], idp.CheckMalformed},
			{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, idp.CheckMalformed},
			{"JWE (five segments)", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", idp.CheckMalformed},
			{"garbage", "eyJhbGciOi", idp.CheckMalformed},
		}
		rows, fetches := rowCounts(t, pe.env), op.KeyFetches()
		for _, c := range cases {
			for _, route := range [][2]string{{"GET", "/v1/auth/account/owned-organizations"}, {"POST", "/v1/auth/orgs/members/leave"}} {
				t.Logf("%s: %s %s", c.name, route[0], route[1])
				status, hdr, raw := pe.call(t, route[0], route[1], c.token, "")
				if status != 401 {
					t.Fatalf("%s: %s %s: got %d %s, want 401", c.name, route[0], route[1], status, raw)
				}
				wantAnswer(t, status, raw, 401, "UNAUTHORIZED", idp.Hint(c.check))
				if hdr.Get("WWW-Authenticate") == "" {
					t.Fatalf("%s: no WWW-Authenticate", c.name)
				}
				for _, seg := range strings.Split(c.token, ".") {
					if len(seg) > 8 && strings.Contains(string(raw), seg) {
						t.Fatalf("%s: the answer echoes the token: %s", c.name, raw)
					}
				}
			}
		}
		if got := rowCounts(t, pe.env); got != rows {
			t.Fatalf("refused tokens wrote rows: %s, before %s", got, rows)
		}
		if got := op.KeyFetches(); got != fetches {
			t.Fatalf("refused tokens fetched the key set %d more times", got-fetches)
		}

		// The documented leeway: 30 s past exp still passes, as does an
		// nbf 20 s ahead.
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.Token(claimsWith(good, "exp", now.Add(-10*time.Second).Unix(), "nbf", now.Add(20*time.Second).Unix())), "")
		wantAnswer(t, status, raw, 200, "", "")
		// Access tokens typed as RFC 9068 says are accepted.
		for _, typ := range []string{"at+jwt", "application/at+jwt"} {
			status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.TokenOfType(typ, good), "")
			wantAnswer(t, status, raw, 200, "", "")
		}
		// Access tokens as providers issue them pass the ID-token rules:
		// RFC 9068's client_id and auth_time; azp naming a client that is
		// not an audience (Auth0, Keycloak, Entra); azp equal to this API's
		// audience (the API is its own client).
		for _, extra := range [][]any{
			{"client_id", "kayle-web", "auth_time", now.Unix(), "jti", "at-1"},
			{"azp", "kayle-web", "auth_time", now.Unix(), "aud", []string{idptest.Audience, "https://id.example.com/userinfo"}},
			{"azp", idptest.Audience},
		} {
			status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.TokenOfType("at+jwt", claimsWith(good, extra...)), "")
			wantAnswer(t, status, raw, 200, "", "")
		}

		// Claims the store cannot keep: a subject too long, or with
		// control characters.
		for _, sub := range []string{strings.Repeat("s", 256), "line\nbreak", "nul\x00byte"} {
			status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.Token(claimsWith(good, "sub", sub)), "")
			wantAnswer(t, status, raw, 401, "UNAUTHORIZED", "The token's subject (sub) cannot be used: at most 255 characters, none of them control characters.")
		}
		// Claims the store cleans: a bad email is dropped, a long name cut.
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations",
			op.Token(claimsWith(good, "sub", "odd-claims", "email", "not an email\x00", "name", strings.Repeat("n", 5000)+"\x00")), "")
		wantAnswer(t, status, raw, 200, "", "")
		var email, name string
		if err := pe.st.DB().QueryRow(`SELECT u.email, u.name FROM users u JOIN user_identities i ON i.user_id = u.id WHERE i.subject = 'odd-claims'`).Scan(&email, &name); err != nil {
			t.Fatal(err)
		}
		if email != "" || len(name) != 200 {
			t.Fatalf("stored email %q and a name of %d bytes", email, len(name))
		}
	})
}

// Opaque session tokens keep working beside provider tokens, and a server
// without a provider treats JWTs as unknown tokens.
func TestProviderBesideSessionTokens(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		local := pe.person("Local")
		status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", local.Token, "")
		wantAnswer(t, status, raw, 200, "", "")
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", "kid_"+strings.Repeat("A", 43), "")
		wantAnswer(t, status, raw, 401, "UNAUTHORIZED", "")
	})
	plain := newEnv(t, testdb.SQLite)
	op := idptest.New(t)
	r, err := plain.c.ListOwnedOrganizationsWithResponse(context.Background(), bearer(op.Token(op.Claims("x", "x@example.com"))))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, 401, "UNAUTHORIZED", "")
	if op.KeyFetches() != 0 {
		t.Fatal("a server without a provider fetched keys")
	}
}

// Rotation: a token signed with a new key is accepted after one fetch; the
// withdrawn key stops working; made-up kids cause at most one fetch per
// interval, over real HTTP.
func TestProviderKeyRotation(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		op := pe.op
		claims := op.Claims("rotating", "rotating@example.com")
		before := op.Token(claims)
		status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", before, "")
		wantAnswer(t, status, raw, 200, "", "")
		if op.KeyFetches() != 1 {
			t.Fatalf("key set fetched %d times, want 1", op.KeyFetches())
		}
		pe.clk.Advance(idp.DefaultMinRefreshInterval)
		op.Rotate()
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.Token(claims), "")
		wantAnswer(t, status, raw, 200, "", "")
		if op.KeyFetches() != 2 {
			t.Fatalf("after rotation: key set fetched %d times, want 2", op.KeyFetches())
		}
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", before, "")
		wantAnswer(t, status, raw, 401, "UNAUTHORIZED", idp.Hint(idp.CheckUnknownKey))

		// A made-up kid is refused (401) once the key set has been fetched
		// without it; while another request's fetch is under way it is
		// answered at once with 503 and Retry-After (whether the provider
		// publishes the key is not known yet).
		flood := func(n int, tag string) {
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := &idptest.Key{ID: fmt.Sprintf("%s-%d", tag, i), Algorithm: jose.RS256, Private: op.Signer().Private}
					status, hdr, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.SignWith(k, claims), "")
					if status != 401 && (status != 503 || hdr.Get("Retry-After") == "") {
						t.Errorf("made-up kid: %d %s", status, raw)
					}
				}()
			}
			wg.Wait()
			k := &idptest.Key{ID: tag + "-after", Algorithm: jose.RS256, Private: op.Signer().Private}
			status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", op.SignWith(k, claims), "")
			wantAnswer(t, status, raw, 401, "UNAUTHORIZED", idp.Hint(idp.CheckUnknownKey))
		}
		flood(100, "made-up")
		if op.KeyFetches() != 2 {
			t.Fatalf("a flood within the interval fetched the key set %d more times", op.KeyFetches()-2)
		}
		pe.clk.Advance(idp.DefaultMinRefreshInterval)
		flood(100, "later")
		if op.KeyFetches() != 3 {
			t.Fatalf("a flood after the interval: key set fetched %d times, want 3", op.KeyFetches())
		}
	})
}

// With keys cached and the key set hanging, one request (the one whose
// made-up kid started the fetch) waits; every other made-up kid is answered
// 503 with Retry-After at once, and session tokens and cached provider keys
// are served meanwhile. Had they waited on the running fetch, they would be
// answered only at their request deadline, after the first request.
func TestProviderHangingFetchHoldsOneRequest(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		op := pe.op
		local := pe.person("Local")
		known := func() string { return op.Token(op.Claims("hanging-"+string(pe.kind), "hanging@example.com")) }
		madeUp := func(kid string) string {
			return op.SignWith(&idptest.Key{ID: kid, Algorithm: jose.RS256, Private: op.Signer().Private}, op.Claims("x", "x@example.com"))
		}
		status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", known(), "")
		wantAnswer(t, status, raw, 200, "", "")
		pe.clk.Advance(idp.DefaultMinRefreshInterval)
		op.SetMode(idptest.Hang)
		first := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("GET", pe.srv.URL+"/v1/auth/account/owned-organizations", nil)
			req.Header.Set("Authorization", "Bearer "+madeUp("starts-the-fetch"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				first <- 0
				return
			}
			resp.Body.Close()
			first <- resp.StatusCode
		}()
		for op.KeyFetches() < 2 { // its fetch has reached the provider
			time.Sleep(5 * time.Millisecond)
		}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, hdr, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", madeUp(fmt.Sprintf("flood-%d", i)), "")
				if status != 503 || hdr.Get("Retry-After") == "" {
					t.Errorf("made-up kid during the fetch: %d %s", status, raw)
				}
			}()
		}
		wg.Wait()
		for _, tok := range []string{local.Token, known()} {
			status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok, "")
			wantAnswer(t, status, raw, 200, "", "")
		}
		select {
		case s := <-first:
			t.Fatalf("the request that started the fetch was answered (%d) before the others: they waited on its fetch", s)
		default:
		}
		if op.KeyFetches() != 2 {
			t.Fatalf("key set requested %d times during one hanging fetch, want 2", op.KeyFetches())
		}
		op.SetMode(idptest.Up)
		if s := <-first; s != 503 {
			t.Fatalf("the request whose fetch failed: %d, want 503", s)
		}
	}, func(s *server.Config, i *idp.Config) { s.RequestTimeout, i.FetchTimeout = 10*time.Second, time.Hour })
}

// The provider down: 503 with Retry-After within the request's deadline,
// never 401, never a hang; /readyz reports the key set; session tokens
// are unaffected; cached keys keep verifying while the provider is away.
func TestProviderDown(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		op := pe.op
		local := pe.person("Local")
		tok := func() string { return op.Token(op.Claims("down-user", "down@example.com")) }
		readyz := func(want int, state string) {
			t.Helper()
			status, _, raw := pe.call(t, "GET", "/readyz", "", "")
			var body struct {
				Status           string
				IdentityProvider *idp.State
			}
			if err := json.Unmarshal(raw, &body); err != nil || status != want || body.IdentityProvider == nil || body.IdentityProvider.Status != state {
				t.Fatalf("/readyz: %d %s, want %d with key set %s", status, raw, want, state)
			}
			// Anyone may ask: the answer is a state, never the provider's
			// error text or its addresses (those are in the log).
			var fields struct{ IdentityProvider map[string]any }
			_ = json.Unmarshal(raw, &fields)
			if _, ok := fields.IdentityProvider["error"]; ok || strings.Contains(string(raw), strings.TrimPrefix(op.Issuer, "http://")) || strings.Contains(string(raw), "discovery") {
				t.Fatalf("/readyz shows the fetch error: %s", raw)
			}
		}
		unavailable := func(mode string) {
			t.Helper()
			start := time.Now()
			status, hdr, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok(), "")
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("%s: answered after %s", mode, d)
			}
			wantAnswer(t, status, raw, 503, "SERVICE_UNAVAILABLE", "")
			if hdr.Get("Retry-After") == "" {
				t.Fatalf("%s: 503 without Retry-After", mode)
			}
			// Session tokens do not depend on the provider.
			status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", local.Token, "")
			wantAnswer(t, status, raw, 200, "", "")
		}

		for _, m := range []struct {
			name string
			mode idptest.Mode
		}{{"refused", idptest.Refuse}, {"failing", idptest.Failing}, {"hanging", idptest.Hang}} {
			op.SetMode(m.mode)
			pe.clk.Advance(idp.DefaultRetryInterval)
			unavailable(m.name)
			readyz(503, "unavailable")
		}
		op.SetMode(idptest.Up)
		pe.clk.Advance(idp.DefaultRetryInterval)
		status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok(), "")
		wantAnswer(t, status, raw, 200, "", "")
		readyz(200, "fresh")

		// Keys cached, provider gone: known keys still verify (the set is
		// stale, the server ready); a key it never saw cannot be checked.
		op.SetMode(idptest.Refuse)
		pe.clk.Advance(idp.DefaultMaxAge + time.Second)
		status, _, raw = pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok(), "")
		wantAnswer(t, status, raw, 200, "", "")
		readyz(200, "stale")
		pe.clk.Advance(idp.DefaultMinRefreshInterval)
		op.Rotate()
		unavailable("unknown kid while down")
		op.SetMode(idptest.Up)
	}, func(s *server.Config, _ *idp.Config) { s.RequestTimeout = 2 * time.Second })
}

// The walkthrough: people signed in at the provider create an
// organization, invite, accept and leave, with no CLI step; the active
// organization lives per provider session.
func TestProviderSignInWalkthrough(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		ctx := context.Background()
		op, c := pe.op, pe.c
		ada := op.Token(claimsWith(op.Claims("ada-"+string(pe.kind), "ada@example.com"), "sid", "ada-laptop", "name", "Ada Lovelace"))
		grace := op.Token(claimsWith(op.Claims("grace-"+string(pe.kind), "grace@example.com"), "sid", "grace-phone", "name", "Grace Hopper"))

		org, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Acme", Slug: "acme-" + string(pe.kind)}, bearer(ada))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, org, 200)
		orgID := uuid.MustParse(org.JSON200.Data.Id)
		inv, err := c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail("grace@example.com"), Role: api.MemberRoleMember}, bearer(ada))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, inv, 200)
		acc, err := c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(grace))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, acc, 200)
		if acc.JSON200.Data.OrganizationId != orgID {
			t.Fatalf("accepted into %s, want %s", acc.JSON200.Data.OrganizationId, orgID)
		}
		members, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(grace))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, members, 200)
		names := map[string]api.MemberRole{}
		for _, m := range members.JSON200.Data {
			names[m.Email+" "+m.Name] = m.Role
		}
		if len(names) != 2 || names["ada@example.com Ada Lovelace"] != api.MemberRoleOwner || names["grace@example.com Grace Hopper"] != api.MemberRoleMember {
			t.Fatalf("members: %s", members.Body)
		}
		leave, err := c.LeaveOrganizationWithResponse(ctx, bearer(grace))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, leave, 200)
		leave, err = c.LeaveOrganizationWithResponse(ctx, bearer(grace))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, leave, 403, "FORBIDDEN", "You are not a member of this organization.")
		leave, err = c.LeaveOrganizationWithResponse(ctx, bearer(ada))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, leave, 409, "LAST_OWNER", "")
		logs, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, bearer(ada))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, logs, 200)
		var events []string
		for _, l := range logs.JSON200.Data {
			events = append(events, l.Event)
		}
		if got := strings.Join(events, ","); got != "member.left,member.joined,member.invited,organization.ownership.assigned,organization.created" {
			t.Fatalf("audit events: %s", got)
		}

		// A new token of the same provider session keeps its organization;
		// another provider session of the same person has its own.
		later := op.Token(claimsWith(op.Claims("ada-"+string(pe.kind), "ada@example.com"), "sid", "ada-laptop", "exp", pe.clk.Now().Add(time.Hour).Unix()))
		members, err = c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(later))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, members, 200)
		phone := op.Token(claimsWith(op.Claims("ada-"+string(pe.kind), "ada@example.com"), "sid", "ada-phone"))
		leave, err = c.LeaveOrganizationWithResponse(ctx, bearer(phone))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, leave, 403, "FORBIDDEN", "Select an organization to manage members.")
		org2, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Side", Slug: "side-" + string(pe.kind)}, bearer(phone))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, org2, 200)
		active, err := c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, bearer(phone))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, active, 200)
		active, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: uuid.MustParse(org2.JSON200.Data.Id)}, bearer(ada))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, active, 200)
		count := func(token string) int {
			t.Helper()
			r, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, bearer(token))
			if err != nil || r.JSON200 == nil {
				t.Fatalf("members: %v %s", err, r.Body)
			}
			return len(r.JSON200.Data)
		}
		if a, b := count(ada), count(phone); a != 1 || b != 2 {
			t.Fatalf("laptop session sees %d members (want 1, the side organization), phone %d (want 2, Acme)", a, b)
		}

		// Without sid: one session per person at the provider.
		nosid := func() string { return op.Token(op.Claims("ada-"+string(pe.kind), "ada@example.com")) }
		active, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, bearer(nosid()))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, active, 200)
		if n := count(nosid()); n != 2 {
			t.Fatalf("a later token without sid sees %d members, want Acme's 2", n)
		}
		var users, sessions int
		if err := pe.st.DB().QueryRow(`SELECT COUNT(DISTINCT u.id), COUNT(s.id) FROM users u JOIN user_identities i ON i.user_id = u.id
			JOIN sessions s ON s.user_id = u.id WHERE i.subject = $1`, "ada-"+string(pe.kind)).Scan(&users, &sessions); err != nil {
			t.Fatal(err)
		}
		if users != 1 || sessions != 3 {
			t.Fatalf("Ada has %d users and %d sessions, want 1 and 3 (laptop, phone, no sid)", users, sessions)
		}
	})
}

// Linking: a verified email links to the existing user (audited in their
// organizations); an unverified one links to nobody, is not stored, and
// accepts no invitation; a later verified email is taken on.
func TestProviderIdentityLinking(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		ctx := context.Background()
		op, c := pe.op, pe.c
		lin := pe.person("Lin")
		orgID := pe.org(lin, "linking-"+string(pe.kind))
		userOf := func(sub string) (id uuid.UUID, email string) {
			t.Helper()
			if err := pe.st.DB().QueryRow(`SELECT u.id, u.email FROM users u JOIN user_identities i ON i.user_id = u.id WHERE i.subject = $1`, sub).Scan(&id, &email); err != nil {
				t.Fatalf("user of %s: %v", sub, err)
			}
			return id, email
		}
		selectOrg := func(token string) int {
			t.Helper()
			r, err := c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, bearer(token))
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode()
		}

		// Unverified, with Lin's address: a new user without an email.
		squatter := op.Token(claimsWith(op.Claims("squatter", lin.User.Email), "email_verified", false))
		if s := selectOrg(squatter); s != 404 {
			t.Fatalf("an unverified email reached Lin's organization: %d", s)
		}
		if id, email := userOf("squatter"); id == lin.User.ID || email != "" {
			t.Fatalf("unverified email: user %s email %q (Lin is %s)", id, email, lin.User.ID)
		}
		// Cognito's string form counts as unverified unless "true".
		if s := selectOrg(op.Token(claimsWith(op.Claims("squatter-2", lin.User.Email), "email_verified", "yes"))); s != 404 {
			t.Fatalf("email_verified \"yes\" linked: %d", s)
		}
		if s := selectOrg(op.Token(claimsWith(op.Claims("squatter-3", lin.User.Email), "email_verified", nil))); s != 404 {
			t.Fatalf("no email_verified linked: %d", s)
		}

		// An invitation addressed to an unverified email is not accepted.
		inv, err := c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail("newbie@example.com"), Role: api.MemberRoleAdmin}, bearer(lin.Token))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, inv, 200)
		unverified := op.Token(claimsWith(op.Claims("newbie", "newbie@example.com"), "email_verified", false))
		acc, err := c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(unverified))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, acc, 403, "EMAIL_NOT_VERIFIED", "Your identity provider has not verified your email address, so it cannot accept invitations.")
		var accepted *time.Time
		if err := pe.st.DB().QueryRow(`SELECT accepted_at FROM invitations WHERE id = $1`, inv.JSON200.Data.Id).Scan(&accepted); err != nil || accepted != nil {
			t.Fatalf("invitation after a refused accept: %v %v", accepted, err)
		}
		// Verified now (the same subject): the email is taken on, the
		// invitation accepted.
		verified := op.Token(op.Claims("newbie", "newbie@example.com"))
		acc, err = c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(verified))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, acc, 200)
		if _, email := userOf("newbie"); email != "newbie@example.com" {
			t.Fatalf("verified email not taken on: %q", email)
		}

		// Verified, with Lin's address: Lin's own user, in her organization.
		linAtProvider := op.Token(op.Claims("lin-at-provider", lin.User.Email))
		if s := selectOrg(linAtProvider); s != 200 {
			t.Fatalf("verified email did not link: %d", s)
		}
		if id, _ := userOf("lin-at-provider"); id != lin.User.ID {
			t.Fatalf("linked to %s, want Lin %s", id, lin.User.ID)
		}
		logs, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, bearer(linAtProvider))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, logs, 200)
		found := false
		for _, l := range logs.JSON200.Data {
			if l.Event == "user.identity.linked" {
				found = l.Metadata["subject"] == "lin-at-provider" && l.Metadata["issuer"] == op.Issuer && l.Actor.Id != nil && *l.Actor.Id == lin.User.ID.String()
			}
		}
		if !found {
			t.Fatalf("no user.identity.linked audit row for the link: %s", logs.Body)
		}
		// The squatter later verifies Lin's address at the provider: an
		// existing identity is never merged into another user.
		if s := selectOrg(op.Token(op.Claims("squatter", lin.User.Email))); s != 404 {
			t.Fatalf("a later verified email merged accounts: %d", s)
		}
		if _, email := userOf("squatter"); email != "" {
			t.Fatalf("the squatter took Lin's email: %q", email)
		}
	})
}

// Two first requests at once make one user, one identity, one session;
// two identities with the same verified email at once make one user.
func TestProviderFirstSightRace(t *testing.T) {
	forEachDBWithProvider(t, func(t *testing.T, pe *provEnv) {
		op := pe.op
		// Keys loaded first, as kayleid serve does at start-up: while they
		// never were, only the request that fetches them waits, and the
		// others are 503 at once (not the race this test is about).
		if err := pe.v.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		const n = 12
		for trial := range 3 {
			sub := fmt.Sprintf("racer-%d", trial)
			claims := op.Claims(sub, sub+"@example.com")
			if trial%2 == 1 {
				claims["sid"] = "shared-session"
			}
			tok := op.Token(claims)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok, "")
					if status != 200 {
						t.Errorf("%s: %d %s", sub, status, raw)
					}
				}()
			}
			wg.Wait()
			var users, identities, sessions int
			if err := pe.st.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM users WHERE email = $1), (SELECT COUNT(*) FROM user_identities WHERE subject = $2),
				(SELECT COUNT(*) FROM sessions s JOIN user_identities i ON i.user_id = s.user_id WHERE i.subject = $2)`, sub+"@example.com", sub).Scan(&users, &identities, &sessions); err != nil {
				t.Fatal(err)
			}
			if users != 1 || identities != 1 || sessions != 1 {
				t.Fatalf("%s: %d users, %d identities, %d sessions; want 1 each", sub, users, identities, sessions)
			}
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := op.Token(op.Claims(fmt.Sprintf("twin-%d", i%2), "twin@example.com"))
				status, _, raw := pe.call(t, "GET", "/v1/auth/account/owned-organizations", tok, "")
				if status != 200 {
					t.Errorf("twin: %d %s", status, raw)
				}
			}()
		}
		wg.Wait()
		var users, identities int
		if err := pe.st.DB().QueryRow(`SELECT COUNT(DISTINCT user_id), COUNT(*) FROM user_identities WHERE subject IN ('twin-0', 'twin-1')`).Scan(&users, &identities); err != nil {
			t.Fatal(err)
		}
		if users != 1 || identities != 2 {
			t.Fatalf("twins: %d users for %d identities, want 1 for 2", users, identities)
		}
	})
}

// Tokens never reach the logs, whatever the outcome.
func TestProviderTokensNeverLogged(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			pe := newProviderEnv(t, kind, func(s *server.Config, i *idp.Config) { s.Logger, i.Logger = logger, logger })
			op := pe.op
			good := op.Claims("logged", "logged@example.com")
			var sent []string
			send := func(tok string, want int) {
				t.Helper()
				sent = append(sent, tok)
				status, _, raw := pe.call(t, "POST", "/v1/auth/orgs/members/leave", tok, "")
				if status != want {
					t.Fatalf("got %d %s, want %d", status, raw, want)
				}
			}
			op.SetMode(idptest.Failing)
			send(op.Token(good), 503)
			op.SetMode(idptest.Up)
			pe.clk.Advance(idp.DefaultRetryInterval)
			send(op.Token(good), 403)
			parts := strings.Split(op.Token(good), ".")
			send(parts[0]+"."+segment(claimsWith(good, "sub", "x"))+"."+parts[2], 401)
			send(op.Token(claimsWith(good, "exp", pe.clk.Now().Add(-time.Hour).Unix())), 401)
			send(op.Token(claimsWith(good, "aud", "elsewhere")), 401)
			out := logs.String()
			if !strings.Contains(out, "identity provider keys not fetched") || !strings.Contains(out, `"status":503`) {
				t.Fatalf("the log lacks the provider failure: %s", out)
			}
			for _, tok := range sent {
				for _, seg := range strings.Split(tok, ".") {
					if len(seg) > 8 && strings.Contains(out, seg) {
						t.Fatalf("a token reached the log: %s", out)
					}
				}
			}
		})
	}
}
