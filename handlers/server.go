// Package handlers implements the generated strict server interface: it
// translates HTTP requests into store calls and store outcomes into the
// API's typed responses. Rules live in store; wording lives in errors.go.
package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/kayle-id/orgs-api/dnstxt"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/store"
)

// Server implements api.StrictServerInterface over a store.
type Server struct {
	store  *store.Store
	mailer mail.Mailer
	// dns answers domain verification's TXT lookups (see WithDNS).
	dns           dnstxt.Looker
	lookupTimeout time.Duration
	// verifier checks identity provider tokens; nil when no provider is
	// configured (only session tokens are accepted then).
	verifier idp.Verifier
	logos    *logo.Library
	// sessions configures the relying-party API (see WithSessions).
	sessions SessionOptions
	// webhooks configures the webhook API (see WithWebhooks).
	webhooks WebhookOptions
	// attest verifies App Attest registrations (see WithAttestVerifier);
	// nil refuses every one.
	attest AttestVerifier
	// VerifySocketHandler serves the verify WebSocket once an upgrade of GET
	// /v1/verify/session/{id} is handed to it (see SocketHandover); nil
	// answers every request there 426.
	VerifySocketHandler http.Handler
}

var _ api.StrictServerInterface = (*Server)(nil)

// Option configures the handlers.
type Option func(*Server)

// WithLogos is where logos are stored and how they are named; without it
// every upload fails (500), as upstream does without its bucket.
func WithLogos(l *logo.Library) Option {
	return func(s *Server) {
		if l != nil {
			s.logos = l
		}
	}
}

// New builds the handlers. verifier may be nil: no identity provider.
func New(st *store.Store, mailer mail.Mailer, verifier idp.Verifier, opts ...Option) *Server {
	s := &Server{store: st, mailer: mailer, verifier: verifier, logos: &logo.Library{},
		dns: noResolver{}, lookupTimeout: DefaultLookupTimeout, sessions: defaultSessionOptions()}
	for _, o := range opts {
		o(s)
	}
	return s
}

type principalKey struct{}

// WithPrincipal stores the authenticated caller in the request context.
func WithPrincipal(ctx context.Context, p store.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller, if any.
func PrincipalFrom(ctx context.Context) (store.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(store.Principal)
	return p, ok
}

// defaultResponse is the shape oapi-codegen gives every operation's
// "default" response: the error envelope with any status. Every operation
// declares it (see api/overlay.yaml), so one helper answers every error.
type defaultResponse interface {
	~struct {
		Body       api.ErrorEnvelope
		StatusCode int
	}
}

// fail renders e as operation T's error response.
func fail[T defaultResponse](e *APIError) T {
	return T{Body: e.Envelope(), StatusCode: e.Status}
}

// failList is fail for list operations, whose errors also carry an empty
// pagination object.
func failList[T defaultResponse](e *APIError, limit int) T {
	env := e.Envelope()
	env.Pagination = &api.Pagination{Limit: float32(limit), HasMore: false, NextCursor: nil}
	return T{Body: env, StatusCode: e.Status}
}

// outcome maps a store error to one API error.
type outcome struct {
	err error
	api *APIError
}

// translate picks the API error for err from the table; ok is false for
// errors the table does not name, which the caller returns as unexpected.
// Input the store refused is a 400 saying why, for every operation, unless
// the table names the precise error it is (an organization name).
func translate(err error, table ...outcome) (*APIError, bool) {
	for _, o := range table {
		if errors.Is(err, o.err) {
			return o.api, true
		}
	}
	var bad *store.InvalidInputError
	if errors.As(err, &bad) {
		return BadRequest(bad.Reason), true
	}
	return nil, false
}

// caller is the authenticated principal; the validator middleware has
// already refused unauthenticated calls to secured operations.
func caller(ctx context.Context) (store.Principal, *APIError) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return p, ErrUnauthorized
	}
	return p, nil
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// jsTimestamp writes a time as upstream does (JavaScript's toISOString):
// UTC, always three fraction digits.
func jsTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// jsTimestampPtr is jsTimestamp for a time that may be absent (null).
func jsTimestampPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := jsTimestamp(*t)
	return &s
}

// pageLimit applies the list endpoints' default and bounds: the contract
// rejects values outside 1..100, and with its check off they are clamped,
// as the store does, so the answer reports the limit applied.
func pageLimit(l *int) int {
	if l == nil {
		return store.DefaultPageLimit
	}
	return store.ClampPageLimit(*l)
}

// pageOf is a list's pagination object: when more rows follow, next_cursor
// is the id of the last row returned.
func pageOf[T any](limit int, more bool, rows []T, id func(T) string) api.Pagination {
	page := api.Pagination{Limit: float32(limit), HasMore: more}
	if more && len(rows) > 0 {
		last := id(rows[len(rows)-1])
		page.NextCursor = &last
	}
	return page
}
