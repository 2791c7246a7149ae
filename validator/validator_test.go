package validator_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/validator"
)

const spec = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "http://127.0.0.1:8787"}],
  "security": [{"bearerAuth": []}],
  "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
  "paths": {
    "/things/{id}": {
      "post": {
        "operationId": "makeThing",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"name": {"type": "string", "minLength": 1}}, "required": ["name"]}}}},
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
          "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}},
          "default": {"description": "error", "content": {"application/json": {"schema": {
          "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}}
      }
    }
  }
}`

// setup serves /things/:id with a handler answering body, behind the middleware.
func setup(t *testing.T, mode validator.Mode, body string) (*echo.Echo, *[]error) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	var reported []error
	v, err := validator.New(doc, validator.Options{
		Mode: mode,
		Authenticate: func(c echo.Context, op string) error {
			if c.Request().Header.Get("Authorization") != "Bearer ok" {
				return echo.NewHTTPError(http.StatusUnauthorized)
			}
			return nil
		},
		OnResponseInvalid: func(_ echo.Context, err *validator.ResponseError) { reported = append(reported, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		status := http.StatusInternalServerError
		var re *validator.RequestError
		var he *echo.HTTPError
		switch {
		case errors.As(err, &re):
			status = re.Status
		case errors.As(err, &he):
			status = he.Code
		}
		_ = c.JSON(status, map[string]string{"error": err.Error()})
	}
	e.Use(v.Middleware())
	e.POST("/things/:id", func(c echo.Context) error { return c.JSONBlob(200, []byte(body)) })
	e.GET("/other", func(c echo.Context) error { return c.String(200, "not in the spec") })
	return e, &reported
}

func do(e *echo.Echo, method, path, auth, ctype, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

const id = "/things/8f14e45f-ceea-467f-a8d5-4c6b1b3a9c11"

func TestVerdicts(t *testing.T) {
	e, reported := setup(t, validator.Full, `{"ok":true}`)
	cases := []struct {
		name, path, auth, ctype, body string
		want                          int
	}{
		{"valid", id, "Bearer ok", "application/json", `{"name":"x"}`, 200},
		{"authentication before validation", id, "", "application/json", `{}`, 401},
		{"missing required field", id, "Bearer ok", "application/json", `{}`, 400},
		{"empty string", id, "Bearer ok", "application/json", `{"name":""}`, 400},
		{"malformed JSON", id, "Bearer ok", "application/json", `{"name":`, 400},
		{"not JSON", id, "Bearer ok", "text/plain", `name=x`, 415},
		{"no content type", id, "Bearer ok", "", `{"name":"x"}`, 415},
		{"no body and no content type: judged as {}", id, "Bearer ok", "", ``, 400},
		{"no body, another content type", id, "Bearer ok", "text/plain", ``, 415},
		{"bad uuid in path", "/things/nope", "Bearer ok", "application/json", `{"name":"x"}`, 400},
		{"route outside the spec passes", "/other", "", "", "", 200},
	}
	for _, c := range cases {
		method := http.MethodPost
		if c.path == "/other" {
			method = http.MethodGet
		}
		rec := do(e, method, c.path, c.auth, c.ctype, c.body)
		if rec.Code != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, rec.Code, rec.Body, c.want)
		}
	}
	if len(*reported) != 0 {
		t.Errorf("valid responses reported as invalid: %v", *reported)
	}
}

// A response that breaks the contract is never sent: it becomes a 500 and
// is reported.
func TestBrokenResponseIsReplaced(t *testing.T) {
	e, reported := setup(t, validator.Full, `{"ok":"yes"}`)
	rec := do(e, http.MethodPost, id, "Bearer ok", "application/json", `{"name":"x"}`)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), `{"ok":"yes"}`) {
		t.Fatalf("got %d %s, want a 500 without the broken body", rec.Code, rec.Body)
	}
	if len(*reported) != 1 || !strings.Contains((*reported)[0].Error(), "makeThing") {
		t.Fatalf("reported: %v", *reported)
	}
	// With requests-only validation the same response goes out as is.
	e, reported = setup(t, validator.Requests, `{"ok":"yes"}`)
	if rec := do(e, http.MethodPost, id, "Bearer ok", "application/json", `{"name":"x"}`); rec.Code != 200 || len(*reported) != 0 {
		t.Fatalf("requests mode: %d %v", rec.Code, *reported)
	}
	// Off still authenticates but checks nothing else.
	e, _ = setup(t, validator.Off, `{"ok":"yes"}`)
	if rec := do(e, http.MethodPost, "/things/nope", "Bearer ok", "application/json", `{}`); rec.Code != 200 {
		t.Fatalf("off mode: %d", rec.Code)
	}
	if rec := do(e, http.MethodPost, id, "", "application/json", `{}`); rec.Code != 401 {
		t.Fatalf("off mode must still authenticate: %d", rec.Code)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]validator.Mode{"": validator.Full, "FULL": validator.Full, "requests": validator.Requests, " off ": validator.Off} {
		if got, err := validator.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := validator.ParseMode("sometimes"); err == nil {
		t.Error("ParseMode accepted nonsense")
	}
}
