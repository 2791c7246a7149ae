package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/dnstxt"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
	"github.com/kayle-id/orgs-api/verify/flow"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

// env is a real server on a real database, called over real HTTP through
// the generated client, with response validation on: a response that
// breaks the contract fails the test.
type env struct {
	t      testing.TB
	kind   testdb.Kind
	st     *store.Store
	srv    *httptest.Server
	c      *api.ClientWithResponses
	clock  *clock
	outbox string
	// dns is the authoritative test DNS server the resolver asks.
	dns      *dnstest.Server
	resolver *dnstxt.Resolver
	logos    *logo.Library
	logs     *syncBuffer
	dbPath   string // the database's URL; for SQLite, its file
	// sockets is the verify socket server, when envOptions.verify set one.
	sockets *flow.Server
}

// envOptions vary what the test server runs on.
type envOptions struct {
	store      func(*store.Options) // adjusts the store's options
	dnsTimeout time.Duration        // per resolver attempt; 0 means 1s
	// verify, when set, configures the verify socket over the store.
	verify func(*store.Store) (*flow.Config, flow.Limits)
}

// newEnv starts the server; opts adjust its configuration.
func newEnv(t testing.TB, kind testdb.Kind, opts ...func(*server.Config)) *env {
	t.Helper()
	return newEnvWith(t, kind, envOptions{}, opts...)
}

// newEnvWithStore is newEnv with the store's options adjusted by tune.
func newEnvWithStore(t testing.TB, kind testdb.Kind, tune func(*store.Options), opts ...func(*server.Config)) *env {
	t.Helper()
	return newEnvWith(t, kind, envOptions{store: tune}, opts...)
}

// newEnvWith is newEnv with the store and the resolver adjusted.
func newEnvWith(t testing.TB, kind testdb.Kind, o envOptions, opts ...func(*server.Config)) *env {
	t.Helper()
	if o.dnsTimeout == 0 {
		o.dnsTimeout = time.Second
	}
	ctx := context.Background()
	clk := &clock{}
	stOpts := store.Options{Now: clk.Now, MaxOpenConns: 20}
	if o.store != nil {
		o.store(&stOpts)
	}
	dbURL := testdb.URL(t, kind)
	st, err := store.Open(ctx, dbURL, stOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	outbox := filepath.Join(t.TempDir(), "outbox")
	// A real DNS server on loopback answers domain verification.
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	resolver, err := dnstxt.New(dns.Addr, dnstxt.Options{Timeout: o.dnsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	var out io.Writer = logs
	if testing.Verbose() {
		out = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	bucket, err := blobstore.Open(ctx, filepath.Join(t.TempDir(), "objects"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	logos := &logo.Library{Bucket: bucket}
	cfg := server.Config{
		Validation: validator.Full,
		Logger:     log,
		Metrics:    conformance,
		OnResponseInvalid: func(c echo.Context, err *validator.ResponseError) {
			t.Errorf("%s %s: response broke the contract: %v", c.Request().Method, c.Request().URL, err)
		},
		DNS:        resolver,
		Logos:      logos,
		ServeLogos: true,
	}
	var sockets *flow.Server
	if o.verify != nil {
		fc, lim := o.verify(st)
		sockets = flow.NewServer(fc, lim)
		cfg.VerifySocket = sockets
	}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := server.New(cfg, st, &mail.Outbox{Dir: outbox, From: "Kayle ID <no-reply@kayle.id>"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	logos.Base = srv.URL // logo URLs name this test server, which serves them
	c, err := api.NewClientWithResponses(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, kind: kind, st: st, srv: srv, c: c, clock: clk, outbox: outbox, dns: dns, resolver: resolver,
		logos: logos, logs: logs, dbPath: dbURL, sockets: sockets}
}

// forEachDB runs the test once per database.
func forEachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, kind))
		})
	}
}

func bearer(token string) api.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

type person struct {
	User  store.User
	Token string
}

var seq struct {
	sync.Mutex
	n int
}

// person creates a user with a fresh session (no active organization).
func (e *env) person(name string) person {
	e.t.Helper()
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	u, err := e.st.CreateUser(context.Background(), fmt.Sprintf("%s-%d@example.com", strings.ToLower(strings.ReplaceAll(name, " ", ".")), n), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return person{User: u, Token: e.token(u.Email, nil)}
}

func (e *env) token(email string, org *uuid.UUID) string {
	e.t.Helper()
	tok, err := e.st.CreateSession(context.Background(), email, org, 30*24*time.Hour)
	if err != nil {
		e.t.Fatalf("token for %s: %v", email, err)
	}
	return tok.Token
}

// org creates an organization owned by p through the API; p's session
// selects it.
func (e *env) org(p person, slug string) uuid.UUID {
	e.t.Helper()
	r, err := e.c.CreateOrganizationWithResponse(context.Background(), api.CreateOrganizationJSONRequestBody{Name: "Org " + slug, Slug: slug}, bearer(p.Token))
	if err != nil || r.JSON200 == nil {
		e.t.Fatalf("create org %s: %v %d %s", slug, err, r.StatusCode(), r.Body)
	}
	return uuid.MustParse(r.JSON200.Data.Id)
}

// join invites p into the organization of the inviter's session with role,
// and accepts as p (so p's session selects it). It returns the membership id.
func (e *env) join(inviter person, p person, role api.MemberRole) uuid.UUID {
	e.t.Helper()
	ctx := context.Background()
	inv, err := e.c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapiEmail(p.User.Email), Role: role}, bearer(inviter.Token))
	if err != nil || inv.JSON200 == nil {
		e.t.Fatalf("invite %s: %v %d %s", p.User.Email, err, inv.StatusCode(), inv.Body)
	}
	acc, err := e.c.AcceptInvitationWithResponse(ctx, inv.JSON200.Data.Id, bearer(p.Token))
	if err != nil || acc.JSON200 == nil {
		e.t.Fatalf("accept: %v %d %s", err, acc.StatusCode(), acc.Body)
	}
	return acc.JSON200.Data.MemberId
}

// memberID finds p's active membership in the caller's active organization.
func (e *env) memberID(caller, p person) uuid.UUID {
	e.t.Helper()
	r, err := e.c.ListMembersWithResponse(context.Background(), &api.ListMembersParams{}, bearer(caller.Token))
	if err != nil || r.JSON200 == nil {
		e.t.Fatalf("list members: %v %d %s", err, r.StatusCode(), r.Body)
	}
	for _, m := range r.JSON200.Data {
		if m.UserId == p.User.ID && m.SuspendedAt == nil {
			return m.Id
		}
	}
	e.t.Fatalf("%s has no active membership", p.User.Email)
	return uuid.Nil
}

type envelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Hint    string `json:"hint"`
		Docs    string `json:"docs"`
	} `json:"error"`
	Pagination *api.Pagination `json:"pagination"`
}

type response interface {
	StatusCode() int
	GetBody() []byte
}

// wantError checks an error answer: status, code, and (when not empty) the
// exact message; every error carries all four fields.
func wantError(t *testing.T, r response, status int, code, message string) envelope {
	t.Helper()
	return wantErrorWithDocs(t, r, status, code, message, docsLink.MatchString)
}

// wantErrorWithDocs is wantError with the area's own rule for docs links.
func wantErrorWithDocs(t *testing.T, r response, status int, code, message string, docsOK func(string) bool) envelope {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(r.GetBody(), &env); err != nil {
		t.Fatalf("body is not the envelope: %v: %s", err, r.GetBody())
	}
	if r.StatusCode() != status || env.Error == nil || env.Error.Code != code {
		t.Fatalf("got %d %s, want %d %s", r.StatusCode(), r.GetBody(), status, code)
	}
	if message != "" && env.Error.Message != message {
		t.Fatalf("message %q, want %q", env.Error.Message, message)
	}
	if env.Error.Hint == "" || !docsOK(env.Error.Docs) || string(env.Data) != "null" {
		t.Fatalf("incomplete error envelope: %s", r.GetBody())
	}
	return env
}

// docsLink is the docs link of every error; upstream links one error (an
// organization frozen, on the API-key routes) to a page of its own.
var docsLink = regexp.MustCompile(`^https://kayle\.id/docs/(api/errors#[a-z_]+|errors/[a-z-]+)$`)

func wantStatus(t testing.TB, r response, status int) {
	t.Helper()
	if r.StatusCode() != status {
		t.Fatalf("got %d %s, want %d", r.StatusCode(), r.GetBody(), status)
	}
}

func openapiEmail(s string) openapi_types.Email { return openapi_types.Email(s) }
