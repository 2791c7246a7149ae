// Package validator is an echo middleware that holds every request and
// response to the OpenAPI contract, using kin-openapi's openapi3filter.
//
// It runs after echo's routing: the route echo matched (its path template
// and method) names the spec operation, so there is no second router and
// the spec's servers (host 127.0.0.1:8787) play no part in matching.
package validator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// Mode says what is validated.
type Mode string

const (
	Full     Mode = "full"     // requests and responses
	Requests Mode = "requests" // requests only
	Off      Mode = "off"      // nothing (authentication still runs)
)

// ParseMode reads a KAYLE_VALIDATION value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Full, Requests, Off:
		return m, nil
	case "":
		return Full, nil
	default:
		return "", fmt.Errorf("validation mode must be full, requests or off, got %q", s)
	}
}

// RequestError is a request that breaks the contract.
type RequestError struct {
	Status int // 400, or 415 for a body that is not JSON
	Reason string
	Err    error
}

func (e *RequestError) Error() string { return e.Reason }
func (e *RequestError) Unwrap() error { return e.Err }

// ResponseError is a response the server was about to send that breaks the
// contract. It is never sent: the client gets a 500 instead.
type ResponseError struct {
	OperationID string
	Status      int
	Err         error
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("response %d of %s breaks the contract: %v", e.Status, e.OperationID, e.Err)
}
func (e *ResponseError) Unwrap() error { return e.Err }

// Options configures the middleware.
type Options struct {
	Mode Mode
	// Authenticate is called for operations whose contract requires a
	// security scheme, before the request is validated, so an
	// unauthenticated caller learns nothing about its request's shape.
	Authenticate func(c echo.Context, operationID string) error
	// ReadBody, when set, runs after Authenticate and before the request is
	// validated, in every mode: the server reads and screens the body here,
	// so nothing is buffered for a caller who is not authenticated.
	ReadBody func(c echo.Context) error
	// OnResponseInvalid, when set, is told of every response that broke the
	// contract (after it was replaced by a 500).
	OnResponseInvalid func(c echo.Context, err *ResponseError)
	// OnRequestInvalid, when set, is told of every request refused for
	// breaking the contract.
	OnRequestInvalid func(c echo.Context, err *RequestError)
}

// Validator holds the spec's operations, indexed by echo route.
type Validator struct {
	opts   Options
	routes map[string]*routers.Route // "METHOD /echo/:path"
	ops    map[string]*routers.Route // operationId
	filter *openapi3filter.Options
	// bodies are the response schemas compiled at start-up (compiled.go);
	// a response missing here is judged by openapi3filter.
	bodies map[*openapi3.MediaType]*node
	// secured are the operations whose contract requires a credential.
	secured map[*routers.Route]bool
	// stock are the operations judged by stock openapi3filter against the
	// document as published, because their schemas use a keyword the fast
	// path is not proved on (engine.go).
	stock []string
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// EchoPath turns an OpenAPI path template into echo's form: {id} -> :id.
func EchoPath(p string) string { return pathParam.ReplaceAllString(p, ":$1") }

func routeKey(method, echoPath string) string { return method + " " + echoPath }

// New indexes the spec's operations. The spec must already be validated.
//
// For an OpenAPI 3.1 document, openapi3filter compiles a JSON Schema
// 2020-12 validator for every schema it meets, on every call (about 150 µs
// for one request and its response). Its built-in schema validator gives
// the same verdicts on this contract (validator/differential_test.go proves
// it over a corpus generated from the spec) at a small fraction of the
// cost, and openapi3filter picks the engine by the route's document version.
// So the routes are indexed once, here, against a copy of the document
// marked 3.0: the choice of engine is made at start-up, not per request.
func New(spec *openapi3.T, opts Options) (*Validator, error) {
	if opts.Mode == "" {
		opts.Mode = Full
	}
	native := *spec
	if spec.IsOpenAPI31OrLater() {
		native.OpenAPI = "3.0.3"
	}
	v := &Validator{opts: opts, routes: map[string]*routers.Route{}, ops: map[string]*routers.Route{}, bodies: map[*openapi3.MediaType]*node{}, secured: map[*routers.Route]bool{}}
	memo := newMemo()
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			r := &routers.Route{Spec: &native, Path: path, PathItem: item, Method: method, Operation: op}
			if spec.IsOpenAPI31OrLater() && operationUnproven(op) {
				// A keyword the fast path is not proved on (engine.go):
				// stock openapi3filter judges this operation.
				r.Spec = spec
				v.stock = append(v.stock, op.OperationID)
			}
			v.routes[routeKey(method, EchoPath(path))] = r
			v.ops[op.OperationID] = r
			v.secured[r] = requiresAuth(r)
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil || len(resp.Value.Headers) > 0 {
					continue
				}
				for _, mt := range resp.Value.Content {
					if mt.Schema == nil {
						continue
					}
					if n, err := memo.compileTop(mt.Schema); err == nil {
						v.bodies[mt] = n
					}
				}
			}
		}
	}
	v.filter = &openapi3filter.Options{
		// Authentication is the Authenticate hook's job, run before validation.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Fail on statuses the operation does not document (there is always a
		// default, so this only bites when the overlay is missing).
		IncludeResponseStatus: true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.EnableFormatValidation(),
			openapi3.WithStringFormatValidators(formats),
		},
	}
	return v, nil
}

// Route returns the spec operation echo matched for c, if any.
func (v *Validator) Route(c echo.Context) (*routers.Route, bool) {
	r, ok := v.routes[routeKey(c.Request().Method, c.Path())]
	return r, ok
}

type routeKeyCtx struct{}

// WithRoute records route in ctx as the middleware does, for an answer
// given before the middleware runs (a rate limit's), so logs and metrics
// name its operation.
func WithRoute(ctx context.Context, route *routers.Route) context.Context {
	return context.WithValue(ctx, routeKeyCtx{}, route)
}

// RouteFrom returns the operation the middleware matched, for logs and metrics.
func RouteFrom(ctx context.Context) (*routers.Route, bool) {
	r, ok := ctx.Value(routeKeyCtx{}).(*routers.Route)
	return r, ok
}

// Middleware returns the echo middleware. Requests echo did not route to a
// spec operation pass through untouched.
func (v *Validator) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			route, ok := v.Route(c)
			if !ok {
				return next(c)
			}
			req := c.Request()
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), routeKeyCtx{}, route)))
			if v.opts.Mode != Full {
				if err := v.before(c, route, pathParams(c)); err != nil {
					return err
				}
				return next(c)
			}
			rec := &recorder{header: c.Response().Header(), status: http.StatusOK}
			orig := c.Response().Writer
			c.Response().Writer = rec
			params := pathParams(c)
			err := v.before(c, route, params)
			if err == nil {
				err = next(c)
			}
			if err != nil {
				// Render the error here, into the recorder, so error answers
				// are held to the contract like any other.
				c.Error(err)
			}
			c.Response().Writer = orig
			if verr := v.validateResponse(c, route, params, rec); verr != nil {
				if v.opts.OnResponseInvalid != nil {
					v.opts.OnResponseInvalid(c, verr)
				}
				rec.reset()
				c.Response().Writer = rec
				c.Response().Committed = false
				c.Error(verr)
				c.Response().Writer = orig
			}
			rec.flushTo(orig)
			return nil
		}
	}
}

// before authenticates (where the contract asks for it) and validates the request.
func (v *Validator) before(c echo.Context, route *routers.Route, params map[string]string) error {
	if v.opts.Authenticate != nil && v.secured[route] {
		if err := v.opts.Authenticate(c, route.Operation.OperationID); err != nil {
			return err
		}
	}
	if v.opts.ReadBody != nil {
		if err := v.opts.ReadBody(c); err != nil {
			return err
		}
	}
	if v.opts.Mode == Off {
		return nil
	}
	err := v.checkRequest(c.Request(), route, params)
	if re, ok := err.(*RequestError); ok && v.opts.OnRequestInvalid != nil {
		v.opts.OnRequestInvalid(c, re)
	}
	return err
}

func requiresAuth(route *routers.Route) bool {
	sec := route.Operation.Security
	if sec == nil {
		sec = &route.Spec.Security
	}
	for _, req := range *sec {
		if len(req) > 0 {
			return true
		}
	}
	return false
}

func pathParams(c echo.Context) map[string]string {
	names := c.ParamNames()
	out := make(map[string]string, len(names))
	for i, n := range names {
		out[n] = c.ParamValues()[i]
	}
	return out
}

// CheckRequest judges a request to the operation as the middleware does.
func (v *Validator) CheckRequest(req *http.Request, operationID string, params map[string]string) error {
	route, ok := v.ops[operationID]
	if !ok {
		return fmt.Errorf("no operation %q", operationID)
	}
	return v.checkRequest(req, route, params)
}

// CheckResponse judges a response of the operation as the middleware does.
func (v *Validator) CheckResponse(req *http.Request, operationID string, params map[string]string, status int, header http.Header, body []byte) error {
	route, ok := v.ops[operationID]
	if !ok {
		return fmt.Errorf("no operation %q", operationID)
	}
	return v.checkResponse(req, route, params, status, header, body)
}

// CompiledResponses reports how many response bodies are judged by a
// compiled schema (the rest go through openapi3filter).
func (v *Validator) CompiledResponses() int { return len(v.bodies) }

// StockOperations lists the operations judged by stock openapi3filter
// against the document as published, not by the fast path (engine.go).
func (v *Validator) StockOperations() []string { return slices.Clone(v.stock) }

// Filter returns the openapi3filter options the validator uses, so that a
// comparison with stock openapi3filter runs under the same options.
func (v *Validator) Filter() *openapi3filter.Options { return v.filter }

func (v *Validator) checkRequest(req *http.Request, route *routers.Route, params map[string]string) error {
	if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil {
		ct := req.Header.Get(echo.HeaderContentType)
		switch {
		case ct == "" && req.ContentLength == 0 && rb.Value.Required && rb.Value.Content.Get(jsonType) != nil:
			// No body and no type: judged as {}, as upstream does, so the
			// answer is a 400 naming what is missing rather than a 415. (The
			// handler binds nothing from an empty body: {} too.)
			req = asEmptyObject(req)
		case rb.Value.Required || req.ContentLength != 0:
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || rb.Value.Content.Get(mt) == nil {
				return &RequestError{Status: http.StatusUnsupportedMediaType, Reason: "Content-Type must be application/json.", Err: err}
			}
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    v.filter,
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return &RequestError{Status: http.StatusBadRequest, Reason: Describe(err), Err: err}
	}
	return nil
}

const jsonType = "application/json"

// asEmptyObject is req with the body {} sent as JSON, for validation only.
func asEmptyObject(req *http.Request) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set(echo.HeaderContentType, jsonType)
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{}")), 2
	return r
}

func (v *Validator) validateResponse(c echo.Context, route *routers.Route, params map[string]string, rec *recorder) *ResponseError {
	if err := v.checkResponse(c.Request(), route, params, rec.status, rec.header, rec.body.Bytes()); err != nil {
		return &ResponseError{OperationID: route.Operation.OperationID, Status: rec.status, Err: err}
	}
	return nil
}

func (v *Validator) checkResponse(req *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: v.filter,
		},
		Status:  status,
		Header:  header,
		Options: v.filter,
	}
	in.SetBodyBytes(body)
	if n, ok := v.compiledBody(req, route, status, header); ok {
		if n == nil {
			return nil
		}
		err := validateJSON(n, body)
		var syn *syntaxError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &syn):
			return &openapi3filter.ResponseError{Input: in, Reason: "failed to decode response body", Err: err}
		default:
			return &openapi3filter.ResponseError{Input: in, Reason: "response body doesn't match schema", Err: err}
		}
	}
	return openapi3filter.ValidateResponse(req.Context(), in)
}

// compiledBody finds the compiled schema for a response the way
// openapi3filter.ValidateResponse finds its schema. ok is false when the
// response is not one the compiled path handles exactly (undocumented
// status, wrong content type, headers to check, an uncompiled schema): then
// openapi3filter judges it. A nil node with ok means nothing to check.
func (v *Validator) compiledBody(req *http.Request, route *routers.Route, status int, header http.Header) (*node, bool) {
	if req.Method == http.MethodHead {
		return nil, true
	}
	switch status {
	case http.StatusNotModified, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusMovedPermanently:
		return nil, true
	}
	ref := route.Operation.Responses.Status(status)
	if ref == nil {
		ref = route.Operation.Responses.Default()
	}
	if ref == nil || ref.Value == nil || len(ref.Value.Headers) > 0 {
		return nil, false
	}
	if len(ref.Value.Content) == 0 {
		return nil, true
	}
	mt := ref.Value.Content.Get(header.Get(echo.HeaderContentType))
	if mt == nil {
		return nil, false
	}
	if mt.Schema == nil {
		return nil, true
	}
	n, ok := v.bodies[mt]
	return n, ok
}

// Describe turns a kin-openapi validation error into one short sentence
// naming where the request is wrong, without echoing the schema.
func Describe(err error) string {
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		var where string
		switch {
		case re.Parameter != nil:
			where = fmt.Sprintf("%s parameter %q", re.Parameter.In, re.Parameter.Name)
		case re.RequestBody != nil:
			where = "request body"
		default:
			where = "request"
		}
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) {
			if ptr := se.JSONPointer(); len(ptr) > 0 {
				where += " field /" + strings.Join(ptr, "/")
			}
			return where + ": " + lastCause(se.Reason)
		}
		if re.Err != nil {
			return where + ": " + shorten(re.Err.Error())
		}
		return where + ": " + shorten(re.Reason)
	}
	return shorten(err.Error())
}

// lastCause keeps the innermost complaint of a JSON Schema error report
// ("... failed with '...#'\n- at '/slug': 'x' does not match pattern ...").
func lastCause(reason string) string {
	lines := strings.Split(strings.TrimSpace(reason), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	last = strings.TrimPrefix(last, "- ")
	if strings.HasPrefix(last, "at '") {
		if i := strings.Index(last, "': "); i >= 0 {
			last = last[i+3:]
		}
	}
	return shorten(last)
}

func shorten(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// recorder holds a response until it has been validated.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func (r *recorder) reset() {
	r.status = http.StatusOK
	r.body.Reset()
	r.header.Del(echo.HeaderContentType)
	r.header.Del(echo.HeaderContentLength)
}

func (r *recorder) flushTo(w http.ResponseWriter) {
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}
