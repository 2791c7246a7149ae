package validator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/kayle-id/orgs-api/validator"
)

// The compiled response validator and openapi3filter accept and reject the
// same bodies, whatever the bytes. Seeds run in every `make test`.
func FuzzCompiledResponseVerdicts(f *testing.F) {
	spec := enforcedSpec(f)
	v, err := validator.New(spec, validator.Options{})
	if err != nil {
		f.Fatal(err)
	}
	calls := []call{leaveCall(), auditPageCall()}
	for i, c := range calls {
		f.Add(i, 200, c.body)
		f.Add(i, 409, []byte(`{"data":null,"error":{"code":"LAST_OWNER","message":"m","hint":"h","docs":"d"}}`))
		f.Add(i, 200, []byte(`{"data":{"message":"\u00e9\ud83d\ude00","status":"success"},"error":null} trailing`))
		f.Add(i, 200, []byte(`{"data":[{"id":1}],"error":null,"pagination":{"limit":1e2,"has_more":false,"next_cursor":null}}`))
		f.Add(i, 500, []byte(`{"data":null,"error":null}`))
		f.Add(i, 200, []byte(`[`))
	}
	f.Fuzz(func(t *testing.T, which, status int, body []byte) {
		if which < 0 || which >= len(calls) || status < 100 || status > 599 {
			return
		}
		c := calls[which]
		req := httptest.NewRequest(c.method, c.path, nil)
		hdr := http.Header{"Content-Type": {"application/json"}}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: stockRouteFor(spec, c), Options: v.Filter()},
			Status:                 status, Header: hdr, Options: v.Filter(),
		}
		in.SetBodyBytes(body)
		stock := openapi3filter.ValidateResponse(context.Background(), in)
		ours := v.CheckResponse(req, c.op, nil, status, hdr, body)
		if (stock == nil) != (ours == nil) {
			t.Fatalf("status %d body %q: stock %v, compiled %v", status, body, stock, ours)
		}
	})
}
