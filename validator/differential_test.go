package validator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	specpkg "github.com/kayle-id/orgs-api/internal/spec"
	"github.com/kayle-id/orgs-api/internal/specfile"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

func enforcedSpec(t testing.TB) *openapi3.T {
	t.Helper()
	// The document the server serves (upstream's space-named components
	// renamed), as it builds it.
	spec, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	return spec
}

// sample builds a value that satisfies the schema.
func sample(s *openapi3.Schema) any {
	if s == nil {
		return nil
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("object") || s.Type.Includes("object") || (s.Type == nil && len(s.Properties) > 0):
		out := map[string]any{}
		for _, name := range s.Required {
			if p := s.Properties[name]; p != nil {
				out[name] = sample(p.Value)
			}
		}
		return out
	case s.Type.Includes("array"):
		if s.Items != nil {
			return []any{sample(s.Items.Value)}
		}
		return []any{}
	case s.Type.Includes("string"):
		switch s.Format {
		case "uuid":
			return "8f14e45f-ceea-467f-a8d5-4c6b1b3a9c11"
		case "email":
			return "ada@example.com"
		case "date-time":
			return "2026-11-26T10:00:00Z"
		}
		if s.Pattern != "" {
			return patternSample(s.Pattern)
		}
		return "text"
	case s.Type.Includes("integer"):
		if s.Min != nil {
			return int(*s.Min)
		}
		return 1
	case s.Type.Includes("number"):
		return 1.5
	case s.Type.Includes("boolean"):
		return true
	case s.Type.Includes("null"):
		return nil
	}
	return nil
}

// patternSample is a string the pattern accepts: the first of a few shapes
// the contract's patterns take (slugs, fixed-length tokens and ids).
func patternSample(pattern string) string {
	re, err := regexp.Compile(pattern)
	if err != nil || re.MatchString("acme-1") {
		return "acme-1"
	}
	for _, n := range []int{43, 48, 64} {
		for _, prefix := range []string{"", "vs_", "vc_"} {
			if c := prefix + strings.Repeat("a", n); re.MatchString(c) {
				return c
			}
		}
	}
	return "acme-1"
}

// wrongFor returns a value of the wrong JSON type for the schema.
func wrongFor(s *openapi3.Schema) any {
	switch {
	case s.Type.Includes("string"):
		return 42
	case s.Type.Includes("object"), s.Type.Includes("array"):
		return "not a structure"
	case s.Type.Includes("null"):
		return "not null"
	default:
		return map[string]any{"x": 1}
	}
}

// mutations lists variants of a valid object: each required field dropped,
// each field given the wrong type, arrays one past and at their length
// bounds, an unknown field, and odd scalars.
func mutations(s *openapi3.Schema, valid any) []struct {
	name  string
	value any
} {
	var out []struct {
		name  string
		value any
	}
	add := func(name string, v any) {
		out = append(out, struct {
			name  string
			value any
		}{name, v})
	}
	obj, ok := valid.(map[string]any)
	if !ok {
		add("wrong type", wrongFor(s))
		return out
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := s.Properties[n].Value
		c := clone(obj)
		delete(c, n)
		add("without "+n, c)
		c = clone(obj)
		c[n] = wrongFor(p)
		add("wrong type for "+n, c)
		if p.Type.Includes("string") && (p.Format != "" || p.Pattern != "" || len(p.Enum) > 0 || p.MinLength > 0) {
			c = clone(obj)
			c[n] = ""
			add("empty "+n, c)
			c = clone(obj)
			c[n] = "Not Valid!"
			add("bad "+n, c)
		}
		if p.Type.Includes("array") && (p.MaxItems != nil || p.MinItems > 0) {
			item := sample(p.Items.Value)
			if p.MaxItems != nil {
				long := make([]any, *p.MaxItems+1)
				for i := range long {
					long[i] = item
				}
				c = clone(obj)
				c[n] = long
				add("too many "+n, c)
				c = clone(obj)
				c[n] = long[1:]
				add("most "+n, c)
			}
			if p.MinItems > 0 {
				c = clone(obj)
				c[n] = []any{}
				add("too few "+n, c)
			}
		}
		if len(p.Properties) > 0 {
			inner, _ := sample(p).(map[string]any)
			for _, m := range mutations(p, inner) {
				c = clone(obj)
				c[n] = m.value
				add(n+": "+m.name, c)
			}
		}
	}
	c := clone(obj)
	c["unexpectedField"] = true
	add("unknown field", c)
	add("null", nil)
	add("array", []any{obj})
	return out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type reqCase struct {
	name   string
	op     *openapi3.Operation
	path   string
	params map[string]string
	query  url.Values
	ctype  string
	body   []byte
}

type respCase struct {
	name   string
	op     *openapi3.Operation
	path   string
	status int
	body   []byte
}

func corpus(t testing.TB, spec *openapi3.T) ([]reqCase, []respCase) {
	var reqs []reqCase
	var resps []respCase
	paths := spec.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := spec.Paths.Value(path)
		methods := make([]string, 0)
		for m := range item.Operations() {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, method := range methods {
			op := item.GetOperation(method)
			params := map[string]string{}
			query := url.Values{}
			var paramDefs []*openapi3.Parameter
			for _, p := range op.Parameters {
				paramDefs = append(paramDefs, p.Value)
				v := fmt.Sprint(sample(p.Value.Schema.Value))
				if p.Value.In == "path" {
					params[p.Value.Name] = v
				}
			}
			base := reqCase{name: op.OperationID + " valid", op: op, path: path, params: params, query: query}
			var bodySchema *openapi3.Schema
			if op.RequestBody != nil {
				bodySchema = op.RequestBody.Value.Content.Get("application/json").Schema.Value
				b, _ := json.Marshal(sample(bodySchema))
				base.ctype, base.body = "application/json", b
			}
			reqs = append(reqs, base)
			// Parameters: each one given bad values, and the optional ones good values.
			for _, p := range paramDefs {
				for _, bad := range []string{"", "not-valid", "0", "101", "-1", "1.5", "99999999999999999999", "8f14e45f-ceea-467f-a8d5"} {
					c := base
					c.name = fmt.Sprintf("%s %s %s=%q", op.OperationID, p.In, p.Name, bad)
					c.params, c.query = clone2(base.params), cloneQ(base.query)
					if p.In == "path" {
						c.params[p.Name] = bad
					} else {
						c.query.Set(p.Name, bad)
					}
					reqs = append(reqs, c)
				}
				if p.In == "query" {
					c := base
					c.name = fmt.Sprintf("%s query %s valid", op.OperationID, p.Name)
					c.query = cloneQ(base.query)
					c.query.Set(p.Name, fmt.Sprint(sample(p.Schema.Value)))
					reqs = append(reqs, c)
				}
			}
			if bodySchema != nil {
				valid := sample(bodySchema)
				for _, m := range mutations(bodySchema, valid) {
					c := base
					c.name = op.OperationID + " body " + m.name
					c.body, _ = json.Marshal(m.value)
					reqs = append(reqs, c)
				}
				for _, raw := range []string{`{"a":`, ``, `"just a string"`, `{"name":"x","slug":"x"}garbage`} {
					c := base
					c.name = op.OperationID + " raw body " + strconv.Quote(raw)
					c.body = []byte(raw)
					reqs = append(reqs, c)
				}
				c := base
				c.name = op.OperationID + " text/plain"
				c.ctype = "text/plain"
				reqs = append(reqs, c)
			}
			// Responses: every documented status, valid and mutated.
			codes := make([]string, 0)
			for code := range op.Responses.Map() {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			for _, code := range codes {
				status, err := strconv.Atoi(code)
				if err != nil {
					status = 503 // the default response stands for any other status
				}
				content := op.Responses.Value(code).Value.Content.Get("application/json")
				if content == nil {
					continue
				}
				s := content.Schema.Value
				valid := sample(s)
				b, _ := json.Marshal(valid)
				resps = append(resps, respCase{op.OperationID + " " + code + " valid", op, path, status, b})
				for _, m := range mutations(s, valid) {
					b, _ := json.Marshal(m.value)
					resps = append(resps, respCase{op.OperationID + " " + code + " " + m.name, op, path, status, b})
				}
				resps = append(resps, respCase{op.OperationID + " " + code + " not JSON", op, path, status, []byte("<html>")})
			}
			resps = append(resps, respCase{op.OperationID + " undocumented 299", op, path, 299, []byte(`{}`)})
		}
	}
	return reqs, resps
}

func clone2(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneQ(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (c reqCase) request() *http.Request {
	p := c.path
	for k, v := range c.params {
		p = strings.ReplaceAll(p, "{"+k+"}", url.PathEscape(v))
	}
	if len(c.query) > 0 {
		p += "?" + c.query.Encode()
	}
	req := httptest.NewRequest(methodOf(c.op, c.path), p, bytes.NewReader(c.body))
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	req.Header.Set("Authorization", "Bearer kid_x")
	return req
}

var opMethods = map[*openapi3.Operation]string{}

func methodOf(op *openapi3.Operation, _ string) string { return opMethods[op] }

// where names the failing location of a verdict: the parameter or body (or
// response), and the set of JSON pointers of the innermost schema errors.
// A missing required property is located at the object that requires it:
// the engines differ on whether the pointer names the property itself or
// stops at the object (the 2020-12 engine does either, depending on $refs).
func where(err error) string {
	if err == nil {
		return "accepted"
	}
	loc := "other"
	var re *openapi3filter.RequestError
	var rsp *openapi3filter.ResponseError
	switch {
	case errors.As(err, &re) && re.Parameter != nil:
		loc = re.Parameter.In + ":" + re.Parameter.Name
	case errors.As(err, &re) && re.RequestBody != nil:
		loc = "body"
	case errors.As(err, &rsp):
		loc = "response"
	}
	var viol *validator.Violation
	if errors.As(err, &viol) {
		return loc + "/" + strings.Join(viol.Pointer, "/")
	}
	var found []*openapi3.SchemaError
	leaves(err, &found)
	set := map[string]bool{}
	for _, se := range found {
		ptr := se.JSONPointer()
		if se.SchemaField == "required" && len(ptr) > 0 && se.Schema != nil && slices.Contains(se.Schema.Required, ptr[len(ptr)-1]) {
			ptr = ptr[:len(ptr)-1]
		}
		set["/"+strings.Join(ptr, "/")] = true
	}
	ptrs := make([]string, 0, len(set))
	for p := range set {
		ptrs = append(ptrs, p)
	}
	sort.Strings(ptrs)
	return loc + strings.Join(ptrs, ",")
}

func leaves(err error, out *[]*openapi3.SchemaError) {
	switch e := err.(type) {
	case nil:
	case openapi3.MultiError:
		for _, x := range e {
			leaves(x, out)
		}
	case *openapi3.SchemaError:
		var inner []*openapi3.SchemaError
		leaves(e.Origin, &inner)
		if len(inner) == 0 {
			*out = append(*out, e)
		} else {
			*out = append(*out, inner...)
		}
	default:
		if u, ok := err.(interface{ Unwrap() []error }); ok {
			for _, x := range u.Unwrap() {
				leaves(x, out)
			}
			return
		}
		leaves(errors.Unwrap(err), out)
	}
}

// The middleware's verdicts equal stock openapi3filter's (its JSON Schema
// 2020-12 engine, as it judges a 3.1 document) on every case of a corpus
// generated from the spec: every operation, every documented status, valid
// and mutated bodies, parameters and content types. It runs on the served
// document, where every response schema must take the compiled path, and on
// upstream's whole published document (overlay applied, served or not), so
// the fast path is proved on every schema upstream publishes.
func TestDifferentialVerdicts(t *testing.T) {
	t.Run("served", func(t *testing.T) {
		spec := enforcedSpec(t)
		v, err := validator.New(spec, validator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		distinct := map[*openapi3.MediaType]bool{}
		for _, item := range spec.Paths.Map() {
			for _, op := range item.Operations() {
				for _, r := range op.Responses.Map() {
					for _, mt := range r.Value.Content {
						distinct[mt] = true
					}
				}
			}
		}
		if v.CompiledResponses() != len(distinct) {
			t.Fatalf("%d of %d responses compiled: the comparison would not exercise the compiled path", v.CompiledResponses(), len(distinct))
		}
		if s := v.StockOperations(); len(s) > 0 {
			t.Errorf("served operations %v leave the fast path", s)
		}
		compare(t, spec, v)
	})
	t.Run("upstream", func(t *testing.T) {
		spec := upstreamSpec(t)
		v, err := validator.New(spec, validator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ops := 0
		for _, item := range spec.Paths.Map() {
			ops += len(item.Operations())
		}
		t.Logf("%d operations, %d response bodies compiled, %d operations judged by stock openapi3filter", ops, v.CompiledResponses(), len(v.StockOperations()))
		compare(t, spec, v)
	})
}

// upstreamSpec is openapi.json as published, every operation of it, with the
// overlay applied. Operations the overlay does not name get an id from their
// method and path, so the validator can be asked about them.
func upstreamSpec(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := specfile.Full(filepath.Join("..", "openapi.json"), filepath.Join("..", "api", "overlay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			if op.OperationID == "" {
				op.OperationID = strings.ToLower(m) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(path)
			}
		}
	}
	if err := specpkg.ValidateFull(doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// compare runs the corpus generated from spec through the middleware and
// through stock openapi3filter and fails on any verdict or location that
// differs.
func compare(t *testing.T, spec *openapi3.T, v *validator.Validator) {
	reqs, resps := corpus(t, spec)
	for path, item := range spec.Paths.Map() {
		for m, op := range item.Operations() {
			opMethods[op] = m
			_ = path
		}
	}
	stockRoute := func(c *openapi3.Operation, path string) *routers.Route {
		return &routers.Route{Spec: spec, Path: path, PathItem: spec.Paths.Value(path), Method: opMethods[c], Operation: c}
	}
	if n := len(reqs) + len(resps); n < 200 {
		t.Fatalf("corpus has %d cases, want at least 200", n)
	}
	var accepted, rejected int
	for _, c := range reqs {
		stockErr := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: c.request(), PathParams: c.params, Route: stockRoute(c.op, c.path), Options: v.Filter(),
		})
		ours := v.CheckRequest(c.request(), c.op.OperationID, c.params)
		var vre *validator.RequestError
		if errors.As(ours, &vre) && vre.Status == http.StatusUnsupportedMediaType {
			// The middleware refuses non-JSON bodies before openapi3filter
			// sees them; stock must reject them too.
			if stockErr == nil {
				t.Errorf("%s: middleware says 415, stock accepts", c.name)
			}
			rejected++
			continue
		}
		if got, want := where(ours), where(stockErr); got != want {
			t.Errorf("request %s: middleware %s, stock %s (%v)", c.name, got, want, stockErr)
		}
		if stockErr == nil {
			accepted++
		} else {
			rejected++
		}
	}
	for _, c := range resps {
		req := httptest.NewRequest(opMethods[c.op], c.path, nil)
		hdr := http.Header{"Content-Type": {"application/json"}}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: stockRoute(c.op, c.path), Options: v.Filter()},
			Status:                 c.status, Header: hdr, Options: v.Filter(),
		}
		in.SetBodyBytes(c.body)
		stockErr := openapi3filter.ValidateResponse(context.Background(), in)
		ours := v.CheckResponse(req, c.op.OperationID, nil, c.status, hdr, c.body)
		if got, want := where(ours), where(stockErr); got != want {
			t.Errorf("response %s: middleware %s, stock %s (%v)", c.name, got, want, stockErr)
		}
		if stockErr == nil {
			accepted++
		} else {
			rejected++
		}
	}
	t.Logf("%d requests and %d responses compared: %d accepted, %d rejected", len(reqs), len(resps), accepted, rejected)
	if accepted < 30 || rejected < 100 {
		t.Errorf("a lopsided corpus proves little: %d accepted, %d rejected", accepted, rejected)
	}
}

// An operation whose schemas use a keyword the fast path is not proved on
// (here dependentRequired, which kin-openapi's built-in validator ignores)
// is judged by stock openapi3filter: the fallback is taken and it matters.
func TestFallbackToStock(t *testing.T) {
	const doc = `{
	  "openapi": "3.1.0",
	  "info": {"title": "t", "version": "1"},
	  "paths": {"/things": {"post": {
	    "operationId": "makeThing",
	    "requestBody": {"required": true, "content": {"application/json": {"schema": {
	      "type": "object",
	      "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
	      "dependentRequired": {"a": ["b"]}
	    }}}},
	    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
	      "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]
	    }}}}}
	  }}, "/plain": {"get": {
	    "operationId": "getPlain",
	    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
	      "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]
	    }}}}}
	  }}}
	}`
	load := func(version string) *openapi3.T {
		d, err := openapi3.NewLoader().LoadFromData([]byte(strings.Replace(doc, "3.1.0", version, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	spec := load("3.1.0")
	v, err := validator.New(spec, validator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.StockOperations(); !slices.Equal(got, []string{"makeThing"}) {
		t.Fatalf("stock operations %v, want [makeThing]", got)
	}
	post := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	if err := v.CheckRequest(post(`{"a":"x"}`), "makeThing", nil); err == nil {
		t.Error("a body missing a dependent field was accepted")
	}
	if err := v.CheckRequest(post(`{"a":"x","b":"y"}`), "makeThing", nil); err != nil {
		t.Errorf("a valid body was refused: %v", err)
	}
	// Without the fallback, the fast path would have let it through.
	fast, err := validator.New(load("3.0.3"), validator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fast.CheckRequest(post(`{"a":"x"}`), "makeThing", nil); err != nil {
		t.Errorf("the built-in validator now checks dependentRequired (%v): this test no longer shows the fallback mattering; pick another unproven keyword", err)
	}
}

// A map whose values are one of several kinds (anyOf with nothing beside
// it, as upstream's API-key metadata) is judged on the compiled path, with
// the same verdict and place as stock openapi3filter.
func TestCompiledAnyOf(t *testing.T) {
	const doc = `{
	  "openapi": "3.1.0",
	  "info": {"title": "t", "version": "1"},
	  "paths": {"/things": {"get": {
	    "operationId": "listThings",
	    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
	      "type": "object",
	      "properties": {"meta": {"type": "object", "additionalProperties": {"anyOf": [
	        {"type": "string", "maxLength": 3}, {"type": "number"}, {"type": "boolean"}
	      ]}}},
	      "required": ["meta"]
	    }}}}}
	  }}}
	}`
	spec, err := openapi3.NewLoader().LoadFromData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := validator.New(spec, validator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.CompiledResponses() != 1 {
		t.Fatal("the anyOf response was not compiled")
	}
	req := httptest.NewRequest(http.MethodGet, "/things", nil)
	hdr := http.Header{"Content-Type": {"application/json"}}
	for body, want := range map[string]string{
		`{"meta":{}}`: "accepted",
		`{"meta":{"a":"abc","b":1.5,"c":true,"d":-2}}`: "accepted",
		`{"meta":{"a":"abcd"}}`:                        "response/meta/a",
		`{"meta":{"a":null}}`:                          "response/meta/a",
		`{"meta":{"ok":1,"a":[1]}}`:                    "response/meta/a",
		`{"meta":{"a":{"b":1}}}`:                       "response/meta/a",
	} {
		ours := v.CheckResponse(req, "listThings", nil, 200, hdr, []byte(body))
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: &routers.Route{Spec: spec, Path: "/things",
				PathItem: spec.Paths.Value("/things"), Method: http.MethodGet, Operation: spec.Paths.Value("/things").Get}, Options: v.Filter()},
			Status: 200, Header: hdr, Options: v.Filter(),
		}
		in.SetBodyBytes([]byte(body))
		stock := openapi3filter.ValidateResponse(context.Background(), in)
		if where(ours) != want || where(stock) != want {
			t.Errorf("%s: middleware %s, stock %s, want %s", body, where(ours), where(stock), want)
		}
	}
}
