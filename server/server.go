// Package server assembles the HTTP server: echo, the generated routes, the
// contract validator, authentication, error rendering, health endpoints and
// the served spec.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/dnstxt"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/internal/spec"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

// Config is what the HTTP layer needs; cmd/kayleid fills it from flags and env.
type Config struct {
	Validation     validator.Mode
	BodyLimit      string        // e.g. "2M"; a body limit sits before the validator
	RequestTimeout time.Duration // bounds every request, database waits included
	Logger         *slog.Logger
	// OnResponseInvalid is told of each response that broke the contract.
	OnResponseInvalid func(c echo.Context, err *validator.ResponseError)
	// Metrics, when set, are recorded and served; nil makes a fresh set.
	Metrics *Metrics
	// PublicMetrics serves /metrics on the main address too. Off by
	// default: the series describe the server's load and errors to anyone
	// who can reach the API (KAYLE_METRICS_ADDR serves them elsewhere).
	PublicMetrics bool
	// RateLimit sets the abuse limits; the zero value is off.
	RateLimit RateLimit
	// DNS answers domain verification's TXT lookups; nil means upstream's
	// resolvers (dnstxt.DefaultResolvers).
	DNS dnstxt.Looker
	// DNSLookupTimeout bounds a verification's lookup; 0 means
	// handlers.DefaultLookupTimeout.
	DNSLookupTimeout time.Duration
	// MaxInFlight caps the requests served at once; beyond it the answer
	// is 503 with Retry-After. 0 means no cap.
	MaxInFlight int
	// MaxInFlightPerAddress caps the requests one client address (an IPv4
	// address, an IPv6 /64) has in flight before they are authenticated;
	// MaxInFlightPerCredential, the requests one user has in flight. Beyond
	// them the answer is 429 with Retry-After. 0 means no cap.
	MaxInFlightPerAddress    int
	MaxInFlightPerCredential int
	// MaxConns caps the connections open at once, MaxConnsPerAddress those
	// of one client address (see App.Listener). 0 means no cap.
	MaxConns           int
	MaxConnsPerAddress int
	// IdentityProvider, when set, verifies bearer tokens that are JWTs of
	// the team's identity provider, beside the opaque session tokens.
	IdentityProvider *idp.Provider
	// TrustedProxies are the proxies in front of the server. Empty: the
	// client's address is the connection's.
	TrustedProxies []*net.IPNet
	// Logos is where logos are stored; nil makes every upload fail (500).
	Logos *logo.Library
	// ServeLogos serves the stored logos at /logos/<id> (no CDN in front
	// of the storage).
	ServeLogos bool
	// Sessions configures the relying-party API: the verification web app
	// people are sent to, and production (no loopback redirects).
	Sessions handlers.SessionOptions
	// Sandbox serves the sandbox's completion of sessions (and says so on
	// every answer, in /readyz and in the served document). Refused with
	// Sessions.Production.
	Sandbox bool
	// Webhooks configures the webhook API (loopback receivers).
	Webhooks handlers.WebhookOptions
	// TrustStoreRequired makes /readyz unavailable while the document trust
	// store is empty (nothing imported). Off, an empty store is reported
	// and the server stays ready (nothing verifies documents yet).
	TrustStoreRequired bool
	// TrustStatusTTL is how long /readyz reuses the trust store's status
	// before reading it again; 0 means 10s.
	TrustStatusTTL time.Duration
	// VerifySocket serves the verify WebSocket (GET /v1/verify/session/{id}
	// upgrades); nil answers there 426 WEBSOCKET_REQUIRED.
	VerifySocket http.Handler
	// AttestVerifier verifies App Attest registrations; nil refuses them all.
	AttestVerifier handlers.AttestVerifier
	// VerifyRateLimit and VerifyBurst are each client address's budget on
	// the public /v1/verify routes: 0 means DefaultVerifyRate and
	// DefaultVerifyBurst, a negative rate turns it off. App Attest
	// challenges keep upstream's 20 per 60 seconds whatever this says.
	VerifyRateLimit rate.Limit
	VerifyBurst     int
}

// SandboxOperations are generated always but routed and advertised only in
// sandbox mode.
var SandboxOperations = []string{"completeSandboxSession"}

// SandboxHeader is on every answer of a sandbox server.
const SandboxHeader = "Kayle-Sandbox"

// sandboxNote opens the served document's description in sandbox mode.
const sandboxNote = "SANDBOX: this server runs with KAYLE_SANDBOX=true. Sessions are completed by POST /v1/sessions/{id}/complete, not by verifying anyone; nothing it answers is a verification.\n\n"

// App is the assembled HTTP server.
type App struct {
	*echo.Echo
	Metrics  *Metrics
	draining *atomic.Bool
	cfg      Config
}

// Drain makes /readyz answer 503 from now on while every other endpoint
// keeps answering, so that a load balancer polling it stops sending
// requests here before the listener closes.
func (a *App) Drain() { a.draining.Store(true) }

// Spec loads the contract the server enforces and advertises: the served
// operations of upstream's openapi.json (oapi-codegen.yaml lists them) with
// the overlay applied, as embedded in the generated package. The generator
// leaves the paths of operations it did not keep behind, empty; they are
// dropped here so nothing unserved is advertised.
func Spec() (*openapi3.T, error) { return specFor(false) }

// SandboxSpec is the document a sandbox server serves: Spec's, with the
// sandbox operations and a description that says so.
func SandboxSpec() (*openapi3.T, error) { return specFor(true) }

func specFor(sandbox bool) (*openapi3.T, error) {
	embedded, err := api.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("loading embedded spec: %w", err)
	}
	var ids []string
	for _, item := range embedded.Paths.Map() {
		for _, op := range item.Operations() {
			if sandbox || !slices.Contains(SandboxOperations, op.OperationID) {
				ids = append(ids, op.OperationID)
			}
		}
	}
	served, err := spec.Served(embedded, ids)
	if err != nil {
		return nil, err
	}
	if sandbox && served.Info != nil {
		served.Info.Description = sandboxNote + served.Info.Description
	}
	// Upstream's own examples break its schemas (an example 500 without hint
	// and docs), so examples are not held to them; everything else is.
	if err := spec.Validate(served); err != nil {
		return nil, fmt.Errorf("embedded spec is invalid: %w", err)
	}
	return served, nil
}

// New builds the echo server.
func New(cfg Config, st *store.Store, mailer mail.Mailer) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyLimit == "" {
		// The largest valid body is an organization with a logo at its
		// maxLength (1,398,108 base64 characters): 2M leaves room for it.
		cfg.BodyLimit = "2M"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.Sandbox && cfg.Sessions.Production {
		return nil, errors.New("server: the sandbox cannot run in production")
	}
	spec, err := specFor(cfg.Sandbox)
	if err != nil {
		return nil, err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding spec: %w", err)
	}
	metrics := cfg.Metrics
	if metrics == nil {
		metrics = NewMetrics()
		metrics.WatchDB(st.DB())
	}
	if cfg.DNS == nil {
		r, err := dnstxt.New(dnstxt.DefaultResolvers, dnstxt.Options{})
		if err != nil {
			return nil, err
		}
		cfg.DNS = r
	}
	var verifier idp.Verifier
	if cfg.IdentityProvider != nil {
		verifier = cfg.IdentityProvider
	}
	h := handlers.New(st, mailer, verifier, handlers.WithLogos(cfg.Logos), handlers.WithDNS(metrics.CountDNS(cfg.DNS), cfg.DNSLookupTimeout),
		handlers.WithSessions(cfg.Sessions), handlers.WithWebhooks(cfg.Webhooks), handlers.WithAttestVerifier(cfg.AttestVerifier))
	h.VerifySocketHandler = cfg.VerifySocket
	// The socket's per-address cap names clients as every other limit does.
	if a, ok := cfg.VerifySocket.(interface {
		SetClientAddress(func(*http.Request) string)
	}); ok {
		a.SetClientAddress(clientAddress(cfg.TrustedProxies))
	}
	limits := newLimits(cfg)
	v, err := validator.New(spec, validator.Options{
		Mode: cfg.Validation,
		// The operations' own checks that upstream makes before looking at
		// the request run once the caller is known (and limited).
		Authenticate: h.Prechecked(limits.guard(h.Authenticate)),
		ReadBody:     readBody,
		OnResponseInvalid: func(c echo.Context, err *validator.ResponseError) {
			metrics.responseRejected(c, err)
			if cfg.OnResponseInvalid != nil {
				cfg.OnResponseInvalid(c, err)
			}
		},
		OnRequestInvalid: metrics.requestRejected,
	})
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger, listOperations(spec))
	// Limits and the request log read the client's address through
	// c.RealIP(): see clientAddress.
	e.IPExtractor = clientAddress(cfg.TrustedProxies)
	e.Use(requestID())
	if cfg.Sandbox {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.Response().Header().Set(SandboxHeader, "true")
				return next(c)
			}
		})
	}
	// The routes the metrics may name; filled once every route is registered.
	routes := map[string]bool{}
	e.Use(observe(cfg.Logger, metrics, routes))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		cfg.Logger.Error("panic", "request_id", RequestIDFrom(c), "error", err, "stack", string(stack))
		return err
	}}))
	e.Use(limits.addresses())
	verifyLimits := newVerifyLimiters(cfg)
	e.Use(verifyLimits.limit(true))
	e.Use(verifyLimits.malformed(v))
	// A socket lives past the request timeout and holds no in-flight
	// slot; it is handed over here, before both (and the validator).
	e.Use(h.SocketHandover())
	e.Use(limits.limitInFlight(cfg.MaxInFlight))
	e.Use(timeout(cfg.RequestTimeout))
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(rejectNULQuery())
	// Authenticates, then reads the body (readBody), then validates.
	e.Use(v.Middleware())
	e.Use(verifyLimits.limit(false))

	// Only the served document's operations are routed (the sandbox's are
	// generated always).
	api.RegisterHandlers(servedRoutes{e, routesOf(spec)}, api.NewStrictHandler(h, nil))

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	draining := &atomic.Bool{}
	e.GET("/readyz", readyz(st, draining, cfg.IdentityProvider, cfg.Sandbox, cfg.TrustStoreRequired, cfg.TrustStatusTTL))
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(specJSON))
	e.GET("/openapi.json", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		c.Response().Header().Set("ETag", etag)
		if c.Request().Header.Get("If-None-Match") == etag {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, "application/json", specJSON)
	})
	mountDocs(e)
	if cfg.ServeLogos && cfg.Logos != nil {
		mountLogos(e, cfg.Logos)
	}
	if cfg.PublicMetrics {
		e.GET("/metrics", echo.WrapHandler(metrics.Handler()))
	}
	for _, r := range e.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	return &App{Echo: e, Metrics: metrics, draining: draining, cfg: cfg}, nil
}

// servedRoutes registers the generated routes the served document has,
// and no others.
type servedRoutes struct {
	*echo.Echo
	served map[string]bool // "METHOD /echo/:path"
}

func (r servedRoutes) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	if !r.served[method+" "+path] {
		return &echo.Route{Method: method, Path: path}
	}
	return r.Echo.Add(method, path, h, m...)
}

func (r servedRoutes) GET(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, p, h, m)
}
func (r servedRoutes) POST(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, p, h, m)
}
func (r servedRoutes) PUT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, p, h, m)
}
func (r servedRoutes) PATCH(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, p, h, m)
}
func (r servedRoutes) DELETE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, p, h, m)
}
func (r servedRoutes) HEAD(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, p, h, m)
}
func (r servedRoutes) OPTIONS(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, p, h, m)
}
func (r servedRoutes) CONNECT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, p, h, m)
}
func (r servedRoutes) TRACE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, p, h, m)
}

// routesOf are the document's operations as echo routes ("{id}" as ":id").
func routesOf(doc *openapi3.T) map[string]bool {
	out := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		p := pathParam.ReplaceAllString(path, ":$1")
		for method := range item.Operations() {
			out[strings.ToUpper(method)+" "+p] = true
		}
	}
	return out
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// clientAddress is how c.RealIP() (the per-address limit, the request log)
// finds the client. Without trusted proxies it is the connection's address:
// X-Forwarded-For is anyone's to write, and a caller could dodge the limit
// by making one up. With them, X-Forwarded-For is read from the right, hop
// by hop, for as long as the hop is a trusted proxy: the first address that
// is not one is the client (what a client wrote further left is never
// reached). echo's own defaults would also trust every private and
// loopback address; only the configured ranges are.
func clientAddress(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// readiness is /readyz's answer; identityProvider is there when one is configured.
type readiness struct {
	Status           string     `json:"status"`
	Reason           string     `json:"reason,omitempty"`
	IdentityProvider *idp.State `json:"identityProvider,omitempty"`
	// Sandbox is true on a sandbox server, so no one takes it for a verifier.
	Sandbox bool `json:"sandbox,omitempty"`
	// TrustStore is the document trust store's age and stalest CRL.
	TrustStore *truststore.Status `json:"trustStore,omitempty"`
}

// trustStatus is the trust store's status as /readyz reports it, read at
// most every ttl: the probe is anonymous and polled, and the
// status changes only with an import, so a flood of probes costs the
// database nothing more than the ping every probe makes.
type trustStatus struct {
	ts  *truststore.Store
	ttl time.Duration
	mu  sync.Mutex
	at  time.Time
	st  truststore.Status
}

const defaultTrustStatusTTL = 10 * time.Second

func (t *trustStatus) get(ctx context.Context) (truststore.Status, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.at.IsZero() && time.Since(t.at) < t.ttl {
		return t.st, nil
	}
	st, err := t.ts.Status(ctx)
	if err != nil {
		return st, err
	}
	t.st, t.at = st, time.Now()
	return st, nil
}

func readyz(st *store.Store, draining *atomic.Bool, provider *idp.Provider, sandbox, trustRequired bool, trustTTL time.Duration) echo.HandlerFunc {
	if trustTTL <= 0 {
		trustTTL = defaultTrustStatusTTL
	}
	trust := &trustStatus{ts: truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{}), ttl: trustTTL}
	// The schema only moves forward: once this process has seen its
	// migrations complete, probes stop asking (goose's status is several
	// queries, and a replica of an older release writing the old way during
	// a rolling deploy must not take the newer ones out of rotation).
	var migrated atomic.Bool
	return func(c echo.Context) error {
		unavailable := func(reason string) error {
			return c.JSON(http.StatusServiceUnavailable, readiness{Status: "unavailable", Reason: reason})
		}
		if draining.Load() {
			return unavailable("shutting down")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			return unavailable("database unreachable")
		}
		if !migrated.Load() {
			n, err := st.MigrationsPending(ctx)
			if err != nil {
				return unavailable("migration status unknown")
			}
			if n > 0 {
				return unavailable(strconv.Itoa(n) + " migrations pending")
			}
			migrated.Store(true)
		}
		out := readiness{Status: "ready", Sandbox: sandbox}
		// A stale CRL is reported, not fatal: passive authentication
		// answers revocation_unknown for its issuer.
		if ts, err := trust.get(ctx); err == nil {
			out.TrustStore = &ts
			if ts.Empty && trustRequired {
				out.Status, out.Reason = "unavailable", "trust store empty"
				return c.JSON(http.StatusServiceUnavailable, out)
			}
		} else if trustRequired {
			return unavailable("trust store unreadable")
		}
		if provider != nil {
			// Keys never fetched: provider tokens cannot be checked at all.
			// Stale keys (the provider is down, the cached ones still
			// verify) keep the server ready.
			state := provider.State(ctx)
			out.IdentityProvider = &state
			if state.Status == "unavailable" {
				out.Status, out.Reason = "unavailable", "identity provider keys not loaded"
				return c.JSON(http.StatusServiceUnavailable, out)
			}
		}
		return c.JSON(http.StatusOK, out)
	}
}

// listOperations are the operations whose answers carry a pagination
// object (the list endpoints), with their default page size: their errors
// carry an empty one too, as upstream's do.
func listOperations(spec *openapi3.T) map[string]int {
	out := map[string]int{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			ok := op.Responses.Status(http.StatusOK)
			if ok == nil || ok.Value == nil {
				continue
			}
			if mt := ok.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil && mt.Schema.Value.Properties["pagination"] != nil {
				out[op.OperationID] = defaultLimit(op)
			}
		}
	}
	return out
}

// defaultLimit is the default of the operation's limit parameter, 50 when
// the spec states none.
func defaultLimit(op *openapi3.Operation) int {
	if p := op.Parameters.GetByInAndName("query", "limit"); p != nil && p.Schema != nil && p.Schema.Value != nil {
		if d, ok := p.Schema.Value.Default.(float64); ok && d >= 1 {
			return int(d)
		}
	}
	return 50
}

// errorHandler is the one place errors become answers: expected ones in the
// vocabulary, everything else as a logged 500 (or 503 when the database is
// unreachable) that reveals nothing of the internals.
func errorHandler(log *slog.Logger, lists map[string]int) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		apiErr := toAPIError(err)
		if v, ok := verifyRequestError(c, err); ok {
			apiErr = v
		}
		if apiErr.Status >= 500 {
			log.Error("request failed", "request_id", RequestIDFrom(c), "method", c.Request().Method,
				"route", c.Path(), "status", apiErr.Status, "error", err.Error())
		}
		env := apiErr.Envelope()
		if route, ok := validator.RouteFrom(c.Request().Context()); ok && lists[route.Operation.OperationID] > 0 {
			limit := lists[route.Operation.OperationID]
			if l, err := strconv.Atoi(c.QueryParam("limit")); err == nil && l >= 1 && l <= 100 {
				limit = l
			}
			env.Pagination = &api.Pagination{Limit: float32(limit)}
		}
		hdr := c.Response().Header()
		if bodyUnread(c) {
			dropBody(c)
		}
		if apiErr.Status == http.StatusTooManyRequests || apiErr.Status == http.StatusServiceUnavailable {
			if _, ok := handlers.PrincipalFrom(c.Request().Context()); !ok {
				// A refused client that is not known to be anyone does not
				// keep its connection (a slot under the connection cap) for
				// the next try.
				hdr.Set(echo.HeaderConnection, "close")
			}
		}
		if apiErr.Status == http.StatusUnauthorized && !isVerifyRoute(c) {
			hdr.Set(echo.HeaderWWWAuthenticate, handlers.AuthChallenge)
		}
		if apiErr.RetryAfter > 0 {
			hdr.Set("Retry-After", handlers.RetryAfterHeader(apiErr.RetryAfter))
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(apiErr.Status)
			return
		}
		_ = c.JSON(apiErr.Status, env)
	}
}

func toAPIError(err error) *handlers.APIError {
	var (
		apiErr  *handlers.APIError
		reqErr  *validator.RequestError
		respErr *validator.ResponseError
		httpErr *echo.HTTPError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &reqErr):
		if reqErr.Status == http.StatusUnsupportedMediaType {
			return &handlers.APIError{Status: reqErr.Status, Code: "UNSUPPORTED_MEDIA_TYPE", Message: reqErr.Reason,
				Hint: "Send the body as JSON with 'Content-Type: application/json'.", Docs: handlers.DocsBase + "bad_request"}
		}
		return handlers.BadRequest(reqErr.Reason)
	case errors.As(err, &respErr):
		return handlers.ErrInternal
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return handlers.ErrUnavailable
	case errors.As(err, &httpErr):
		return fromHTTPError(httpErr)
	default:
		return handlers.ErrInternal
	}
}

func fromHTTPError(he *echo.HTTPError) *handlers.APIError {
	switch he.Code {
	case http.StatusNotFound:
		return &handlers.APIError{Status: he.Code, Code: "NOT_FOUND", Message: "No such endpoint.",
			Hint: "Check the method and path against the API reference at /openapi.json.", Docs: handlers.DocsBase + "not_found"}
	case http.StatusMethodNotAllowed:
		return &handlers.APIError{Status: he.Code, Code: "METHOD_NOT_ALLOWED", Message: "This endpoint does not support that method.",
			Hint: "Check the method against the API reference at /openapi.json.", Docs: handlers.DocsBase + "not_found"}
	case http.StatusRequestEntityTooLarge:
		return &handlers.APIError{Status: he.Code, Code: "PAYLOAD_TOO_LARGE", Message: "The request body is too large.",
			Hint: "Send a smaller body.", Docs: handlers.DocsBase + "bad_request"}
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		msg := "The request is malformed."
		if s, ok := he.Message.(string); ok && s != "" {
			msg = s
		}
		return handlers.BadRequest(msg)
	}
	if he.Code >= 500 {
		return handlers.ErrInternal
	}
	return &handlers.APIError{Status: he.Code, Code: strings.ToUpper(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")),
		Message: http.StatusText(he.Code) + ".", Hint: "See the API reference at /openapi.json.", Docs: handlers.DocsBase + "bad_request"}
}

const requestIDKey = "request_id"

// requestID takes X-Request-Id when it is a sane token, generates one
// otherwise, and echoes it back.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !saneRequestID(id) {
				b := make([]byte, 12)
				_, _ = rand.Read(b)
				id = hex.EncodeToString(b)
			}
			c.Set(requestIDKey, id)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= 0x20 || r >= 0x7f {
			return false
		}
	}
	return true
}

// RequestIDFrom returns the request id the middleware assigned.
func RequestIDFrom(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// observe writes one log line per request and records its metrics. It
// never logs headers, so tokens cannot reach the log.
func observe(log *slog.Logger, m *Metrics, routes map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			elapsed := time.Since(start)
			m.observe(c, routes, elapsed)
			attrs := []any{
				"method", c.Request().Method,
				"route", c.Path(),
				"status", c.Response().Status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000,
				"request_id", RequestIDFrom(c),
				"client_ip", c.RealIP(),
			}
			if route, ok := validator.RouteFrom(c.Request().Context()); ok {
				attrs = append(attrs, "operation", route.Operation.OperationID)
			}
			if p, ok := handlers.PrincipalFrom(c.Request().Context()); ok {
				switch {
				case p.APIKey != nil:
					attrs = append(attrs, "organization_id", p.APIKey.OrganizationID.String(), "api_key_id", p.APIKey.ID.String())
				case p.Session.ActiveOrganizationID != nil:
					attrs = append(attrs, "organization_id", p.Session.ActiveOrganizationID.String())
				}
			}
			log.Info("request", attrs...)
			return nil
		}
	}
}
