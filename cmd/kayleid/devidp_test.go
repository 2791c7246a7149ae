package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/internal/testdb"
)

// The OpenID provider the end-to-end tests sign in at: internal/tools/devidp,
// zitadel/oidc's provider in a module of its own, built once and kept in the
// user's cache directory under a hash of its sources and the toolchain, so
// later runs start it at once.
var devIDPBuild struct {
	once sync.Once
	bin  string
	err  error
}

func devIDPBinary(t *testing.T) string {
	t.Helper()
	devIDPBuild.once.Do(func() { devIDPBuild.bin, devIDPBuild.err = buildDevIDP() })
	if err := devIDPBuild.err; err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the OpenID provider the tests sign in at could not be built (required in CI): %v", err)
		}
		t.Skipf("OpenID provider tests skipped: it could not be built (%v); with CI=true this fails", err)
	}
	return devIDPBuild.bin
}

func buildDevIDP() (string, error) {
	src, err := filepath.Abs(filepath.Join("..", "..", "internal", "tools", "devidp"))
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(raw))
		h.Write(raw)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "kayleid-tests")
	bin := filepath.Join(dir, "devidp-"+sum)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	// No VCS stamp: the binary is a test fixture, and stamping can fail
	// where git refuses the checkout (another owner).
	cmd := exec.Command(goCmd, "build", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = src
	// Its own module: no workspace may pull it into another build list.
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	// Builds of older sources are of no further use.
	old, _ := filepath.Glob(filepath.Join(dir, "devidp-*"))
	for _, o := range old {
		if o != bin && !strings.Contains(o, ".tmp-") {
			os.Remove(o)
		}
	}
	return bin, nil
}

// devIDP is a running provider process.
type devIDP struct {
	t                           *testing.T
	bin, addr, users, keys, log string
	issuer                      string
	cmd                         *exec.Cmd
	exited                      chan struct{}
}

// startDevIDP starts the provider on addr with the users file ("": its
// built-in users), its keys kept in a file so that a restart signs with
// the same ones.
func startDevIDP(t *testing.T, addr, audience, users string) *devIDP {
	t.Helper()
	dir := t.TempDir()
	p := &devIDP{t: t, bin: devIDPBinary(t), addr: addr, users: users, keys: filepath.Join(dir, "keys.json"),
		log: filepath.Join(dir, "devidp.log"), issuer: "http://" + addr}
	p.start(audience)
	t.Cleanup(p.stop)
	return p
}

func (p *devIDP) start(audience string) {
	p.t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	args := []string{"-addr", p.addr, "-audience", audience, "-client-id", "kayle-web",
		"-redirect-uri", "http://127.0.0.1/callback", "-keys", p.keys}
	if p.users != "" {
		args = append(args, "-users", p.users)
	}
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(p.cmd, p.exited)
	for i := 0; ; i++ {
		resp, err := http.Get(p.issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.exited:
			raw, _ := os.ReadFile(p.log)
			p.t.Fatalf("the provider exited at start:\n%s", raw)
		default:
		}
		if i > 200 {
			raw, _ := os.ReadFile(p.log)
			p.t.Fatalf("the provider did not come up:\n%s", raw)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop ends the provider as an operator would (SIGTERM) and waits for it.
func (p *devIDP) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// rotate has the provider sign with a new key and withdraw the old one.
func (p *devIDP) rotate() string {
	p.t.Helper()
	resp, err := http.Post(p.issuer+"/dev/rotate-keys", "", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Kid string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Kid == "" {
		p.t.Fatalf("rotate keys: %d %v", resp.StatusCode, err)
	}
	return out.Kid
}

// frontEnd signs people in the way a browser application does, with no
// browser: the authorization code flow with PKCE, the provider's login
// form filled in and posted, the code exchanged at the token endpoint.
type frontEnd struct {
	t                     *testing.T
	http                  *http.Client
	authorize, token      string
	clientID, redirectURI string
}

type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func newFrontEnd(t *testing.T, issuer string) *frontEnd {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil || disc.Issuer != issuer {
		t.Fatalf("discovery: %v, issuer %q", err, disc.Issuer)
	}
	return &frontEnd{
		t: t,
		// Redirects are the protocol's steps here: each is looked at.
		http: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		authorize: disc.AuthorizationEndpoint, token: disc.TokenEndpoint,
		clientID: "kayle-web", redirectURI: "http://127.0.0.1:49152/callback",
	}
}

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	formID     = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]*)"`)
)

// signIn runs the flow for username; a wrong password answers the login
// form again, which is returned as an error.
func (f *frontEnd) signIn(username, password string) (tokenSet, error) {
	f.t.Helper()
	verifier, state := randomB64(32), randomB64(16)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {f.clientID}, "response_type": {"code"}, "redirect_uri": {f.redirectURI},
		"scope": {"openid email profile offline_access"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	loginURL := f.redirect(f.get(f.authorize + "?" + q.Encode()))
	page := f.get(loginURL.String())
	body := readAll(f.t, page)
	action, id := formAction.FindStringSubmatch(body), formID.FindStringSubmatch(body)
	if page.StatusCode != 200 || action == nil || id == nil {
		f.t.Fatalf("login page %s: %d %s", loginURL, page.StatusCode, body)
	}
	postTo, err := loginURL.Parse(action[1])
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.http.PostForm(postTo.String(), url.Values{"id": {id[1]}, "username": {username}, "password": {password}})
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		return tokenSet{}, fmt.Errorf("login form answered %d: %s", resp.StatusCode, readAll(f.t, resp))
	}
	back := f.redirect(f.get(f.redirect(resp).String()))
	if got := back.Scheme + "://" + back.Host + back.Path; got != f.redirectURI || back.Query().Get("state") != state || back.Query().Get("code") == "" {
		f.t.Fatalf("redirect back to the application: %s", back)
	}
	return f.exchange(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {f.redirectURI}, "code_verifier": {verifier}}), nil
}

// refresh trades a refresh token for new tokens of the same provider session.
func (f *frontEnd) refresh(refreshToken string) tokenSet {
	return f.exchange(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

func (f *frontEnd) exchange(form url.Values) tokenSet {
	f.t.Helper()
	form.Set("client_id", f.clientID)
	resp, err := f.http.PostForm(f.token, form)
	if err != nil {
		f.t.Fatal(err)
	}
	raw := readAll(f.t, resp)
	var ts tokenSet
	if err := json.Unmarshal([]byte(raw), &ts); err != nil || resp.StatusCode != 200 || ts.AccessToken == "" || !strings.EqualFold(ts.TokenType, "bearer") || ts.ExpiresIn <= 0 {
		f.t.Fatalf("token endpoint (%s): %d %s", form.Get("grant_type"), resp.StatusCode, raw)
	}
	return ts
}

func (f *frontEnd) get(u string) *http.Response {
	f.t.Helper()
	resp, err := f.http.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

func (f *frontEnd) redirect(resp *http.Response) *url.URL {
	f.t.Helper()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || err != nil {
		f.t.Fatalf("%s: want a redirect, got %d %s", resp.Request.URL, resp.StatusCode, readAll(f.t, resp))
	}
	resp.Body.Close()
	return loc
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// jwtPart decodes a JWT's header (0) or payload (1), unverified: what the
// test wants to know about a token it was given.
func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	var out map[string]any
	if err != nil || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("JWT part %d does not decode", i)
	}
	return out
}

// kayleidProcess is `kayleid serve` as a process of its own (this test
// binary re-executed as the command).
type kayleidProcess struct {
	t    *testing.T
	base string
	log  string
	cmd  *exec.Cmd
}

func startKayleid(t *testing.T, env ...string) *kayleidProcess {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	k := &kayleidProcess{t: t, base: "http://" + addr, log: filepath.Join(dir, "serve.log")}
	logf, err := os.Create(k.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	k.cmd = exec.Command(os.Args[0], "serve")
	k.cmd.Env = append(append(os.Environ(), "KAYLE_TEST_RUN_MAIN=1", "KAYLE_ADDR="+addr, "KAYLE_MAIL_DIR="+filepath.Join(dir, "mail"),
		"KAYLE_PURGE_INTERVAL=0", "KAYLE_LOG_FORMAT=json", "KAYLE_CREATE_DB=true", "KAYLE_STORAGE_URL="+filepath.Join(dir, "objects")), env...)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = k.cmd.Process.Kill()
		}
	})
	waitReady(t, k.base, k.log)
	return k
}

// answer is one API response, its envelope decoded.
type answer struct {
	status int
	header http.Header
	raw    string
	data   json.RawMessage
	err    *struct{ Code, Message, Hint, Docs string }
}

func (k *kayleidProcess) call(method, path, token, body string) answer {
	k.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, k.base+path, rd)
	if err != nil {
		k.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: readAll(k.t, resp)}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct{ Code, Message, Hint, Docs string }
	}
	if err := json.Unmarshal([]byte(a.raw), &env); err != nil {
		k.t.Fatalf("%s %s: not the envelope: %d %s", method, path, a.status, a.raw)
	}
	a.data, a.err = env.Data, env.Error
	return a
}

// ok calls and wants 200, decoding data into out (when not nil).
func (k *kayleidProcess) ok(method, path, token, body string, out any) {
	k.t.Helper()
	a := k.call(method, path, token, body)
	if a.status != 200 || a.err != nil {
		k.t.Fatalf("%s %s: %d %s", method, path, a.status, a.raw)
	}
	if out != nil {
		if err := json.Unmarshal(a.data, out); err != nil {
			k.t.Fatalf("%s %s: data %s: %v", method, path, a.data, err)
		}
	}
}

// refused calls and wants status with the error code (and hint, when given)
// in a complete envelope.
func (k *kayleidProcess) refused(method, path, token, body string, status int, code, hint string) answer {
	k.t.Helper()
	a := k.call(method, path, token, body)
	if a.status != status || a.err == nil || a.err.Code != code || a.err.Message == "" || a.err.Hint == "" || a.err.Docs == "" || string(a.data) != "null" {
		k.t.Fatalf("%s %s: got %d %s, want %d %s", method, path, a.status, a.raw, status, code)
	}
	if hint != "" && a.err.Hint != hint {
		k.t.Fatalf("%s %s: hint %q, want %q", method, path, a.err.Hint, hint)
	}
	return a
}

// The server behind a real OpenID provider (zitadel/oidc's, as a process),
// driven as a deployment is: people sign in at the provider with the
// authorization code flow and PKCE, and the server, a process started
// with --oidc-issuer and --oidc-audience, takes the provider's access
// tokens. Ada creates an organization and invites Grace, who accepts and
// leaves, with no CLI step; Mallory, whose email the provider has not
// verified, cannot accept her invitation. A refreshed token keeps its
// session's organization, a second sign-in has its own. The provider
// rotates its keys: the new key verifies after one fetch, the withdrawn
// one no more. The provider stopped: cached keys still verify, a key not
// seen yet answers 503 with Retry-After; the provider back: it verifies.
func TestSignInAtOpenIDProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	// Mostly waiting (the key set's refresh interval): alongside the others.
	t.Parallel()
	devIDPBinary(t) // built (or found) once, before the parallel subtests
	const audience = "https://orgs.kayle.test"
	users := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(users, []byte(`[
		{"username": "ada", "password": "ada-secret", "subject": "248289761001", "email": "ada@example.com", "emailVerified": true, "name": "Ada Lovelace"},
		{"username": "grace", "password": "grace-secret", "subject": "248289761002", "email": "Grace@Example.com", "emailVerified": true, "name": "Grace Hopper"},
		{"username": "mallory", "password": "mallory-secret", "subject": "248289761003", "email": "mallory@example.com", "emailVerified": false, "name": "Mallory"}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			op := startDevIDP(t, freeAddr(t), audience, users)
			k := startKayleid(t, "DATABASE_URL="+testdb.URL(t, kind), "KAYLE_OIDC_ISSUER="+op.issuer, "KAYLE_OIDC_AUDIENCE="+audience)
			var ready struct {
				IdentityProvider struct {
					Status string
					Keys   int
				}
			}
			if a := k.call("GET", "/readyz", "", ""); a.status != 200 || json.Unmarshal([]byte(a.raw), &ready) != nil ||
				ready.IdentityProvider.Status != "fresh" || ready.IdentityProvider.Keys != 1 {
				t.Fatalf("/readyz: %d %s", a.status, a.raw)
			}
			fe := newFrontEnd(t, op.issuer)
			if _, err := fe.signIn("ada", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("a wrong password must answer the login form again, got %v", err)
			}
			ada, err := fe.signIn("ada", "ada-secret")
			if err != nil {
				t.Fatal(err)
			}
			// What the provider issued is what the server is documented to
			// take: an RS256 JWT for this API, with the claims it reads.
			if h, c := jwtPart(t, ada.AccessToken, 0), jwtPart(t, ada.AccessToken, 1); h["alg"] != "RS256" || h["kid"] == "" ||
				c["iss"] != op.issuer || fmt.Sprint(c["aud"]) != "["+audience+"]" || c["sub"] != "248289761001" ||
				c["email"] != "ada@example.com" || c["email_verified"] != true || c["name"] != "Ada Lovelace" || c["sid"] == nil {
				t.Fatalf("access token header %v claims %v", h, c)
			}

			// The ID token the provider issued beside it names this API in
			// its audience too, but it is the client's, not a credential.
			if ada.IDToken == "" {
				t.Fatal("the provider issued no ID token")
			}
			k.refused("GET", "/v1/auth/account/owned-organizations", ada.IDToken, "", 401, "UNAUTHORIZED", idp.Hint(idp.CheckIDToken))

			var org struct{ ID string }
			k.ok("POST", "/v1/auth/orgs", ada.AccessToken, `{"name":"Acme","slug":"acme"}`, &org)
			var invGrace, invMallory struct{ ID string }
			k.ok("POST", "/v1/auth/orgs/invitations", ada.AccessToken, `{"email":"grace@example.com","role":"member"}`, &invGrace)
			k.ok("POST", "/v1/auth/orgs/invitations", ada.AccessToken, `{"email":"mallory@example.com","role":"member"}`, &invMallory)

			grace, err := fe.signIn("grace", "grace-secret")
			if err != nil {
				t.Fatal(err)
			}
			var accepted struct{ OrganizationID string }
			k.ok("POST", "/v1/auth/orgs/invitations/"+invGrace.ID+"/accept", grace.AccessToken, "", &accepted)
			if accepted.OrganizationID != org.ID {
				t.Fatalf("accepted into %s, want %s", accepted.OrganizationID, org.ID)
			}
			var members []struct{ Email, Name, Role string }
			k.ok("GET", "/v1/auth/orgs/members", grace.AccessToken, "", &members)
			got := map[string]string{}
			for _, m := range members {
				got[m.Email+" "+m.Name] = m.Role
			}
			if len(got) != 2 || got["ada@example.com Ada Lovelace"] != "owner" || got["grace@example.com Grace Hopper"] != "member" {
				t.Fatalf("members: %v", members)
			}
			k.ok("POST", "/v1/auth/orgs/members/leave", grace.AccessToken, "", nil)
			k.refused("POST", "/v1/auth/orgs/members/leave", grace.AccessToken, "", 403, "FORBIDDEN", "")

			mallory, err := fe.signIn("mallory", "mallory-secret")
			if err != nil {
				t.Fatal(err)
			}
			k.refused("POST", "/v1/auth/orgs/invitations/"+invMallory.ID+"/accept", mallory.AccessToken, "", 403, "EMAIL_NOT_VERIFIED", "")

			// The provider session outlives its access tokens: a refreshed
			// token has the organization Ada's session selected. A second
			// sign-in is another session, with none until it selects one.
			renewed := fe.refresh(ada.RefreshToken)
			if renewed.AccessToken == ada.AccessToken || jwtPart(t, renewed.AccessToken, 1)["sid"] != jwtPart(t, ada.AccessToken, 1)["sid"] {
				t.Fatal("a refresh must issue a new access token of the same provider session")
			}
			var logs []struct{ Event string }
			k.ok("GET", "/v1/auth/orgs/audit-logs", renewed.AccessToken, "", &logs)
			var events []string
			for _, l := range logs {
				events = append(events, l.Event)
			}
			if got := strings.Join(events, ","); got != "member.left,member.joined,member.invited,member.invited,organization.ownership.assigned,organization.created" {
				t.Fatalf("audit events: %s", got)
			}
			ada2, err := fe.signIn("ada", "ada-secret")
			if err != nil {
				t.Fatal(err)
			}
			k.refused("GET", "/v1/auth/orgs/members", ada2.AccessToken, "", 403, "FORBIDDEN", "")
			k.ok("POST", "/v1/auth/orgs/active", ada2.AccessToken, `{"organizationId":"`+org.ID+`"}`, nil)
			k.ok("GET", "/v1/auth/orgs/members", ada2.AccessToken, "", nil)

			// Rotation: a token of the new key verifies once the server has
			// fetched the key set again (an unknown kid triggers that, at
			// most once per refresh interval: until then the key is
			// unknown); the withdrawn key no longer verifies.
			before := renewed
			kidB := op.rotate()
			rotated := fe.refresh(renewed.RefreshToken)
			if jwtPart(t, rotated.AccessToken, 0)["kid"] != kidB {
				t.Fatal("the provider does not sign with its new key")
			}
			unknownKey := idp.Hint(idp.CheckUnknownKey)
			untilAccepted(t, k, rotated.AccessToken, 401, unknownKey)
			k.refused("GET", "/v1/auth/account/owned-organizations", before.AccessToken, "", 401, "UNAUTHORIZED", unknownKey)

			// The provider stopped after signing with a key the server has
			// not seen: cached keys keep verifying; the new one cannot be
			// checked, which is 503 with Retry-After, not 401.
			kidC := op.rotate()
			unseen := fe.refresh(rotated.RefreshToken)
			if jwtPart(t, unseen.AccessToken, 0)["kid"] != kidC {
				t.Fatal("the provider does not sign with its new key")
			}
			op.stop()
			k.ok("GET", "/v1/auth/account/owned-organizations", rotated.AccessToken, "", nil)
			deadline := time.Now().Add(idp.DefaultMinRefreshInterval + 10*time.Second)
			for {
				start := time.Now()
				a := k.call("GET", "/v1/auth/account/owned-organizations", unseen.AccessToken, "")
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("answered after %s with the provider down", took)
				}
				if a.status == 503 {
					if a.err == nil || a.err.Code != "SERVICE_UNAVAILABLE" || a.header.Get("Retry-After") == "" {
						t.Fatalf("provider down: %s, Retry-After %q", a.raw, a.header.Get("Retry-After"))
					}
					break
				}
				// Until the refresh interval has passed, the server does not
				// ask the provider and the key is unknown.
				if a.status != 401 || a.err == nil || a.err.Hint != unknownKey {
					t.Fatalf("provider down: got %d %s, want 503 (or 401 unknown key before the refresh interval)", a.status, a.raw)
				}
				if time.Now().After(deadline) {
					t.Fatal("no 503 with the provider down")
				}
				time.Sleep(200 * time.Millisecond)
			}
			if a := k.call("GET", "/readyz", "", ""); a.status != 200 {
				t.Fatalf("/readyz with cached keys and the provider down: %d %s", a.status, a.raw)
			}

			// Back, with the keys it had: the token verifies.
			op.start(audience)
			untilAccepted(t, k, unseen.AccessToken, 503, "")
			k.refused("GET", "/v1/auth/account/owned-organizations", rotated.AccessToken, "", 401, "UNAUTHORIZED", unknownKey)

			k.cmd.Process.Signal(syscall.SIGTERM)
			k.cmd.Wait()
			log, err := os.ReadFile(k.log)
			if err != nil {
				t.Fatal(err)
			}
			for _, ts := range []tokenSet{ada, ada2, grace, mallory, renewed, rotated, unseen} {
				for _, tok := range []string{ts.AccessToken, ts.RefreshToken} {
					if seg := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(string(log), seg) {
						t.Fatal("a token reached the server's log")
					}
				}
			}
		})
	}
}

// untilAccepted polls with token until the server accepts it; meanwhile
// it must answer status (with hint, when given), nothing else.
func untilAccepted(t *testing.T, k *kayleidProcess, token string, status int, hint string) {
	t.Helper()
	deadline := time.Now().Add(idp.DefaultMinRefreshInterval + 10*time.Second)
	for {
		a := k.call("GET", "/v1/auth/account/owned-organizations", token, "")
		if a.status == 200 {
			return
		}
		if a.status != status || a.err == nil || (hint != "" && a.err.Hint != hint) {
			t.Fatalf("got %d %s, want 200 or, until then, %d", a.status, a.raw, status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %s", a.status, a.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
