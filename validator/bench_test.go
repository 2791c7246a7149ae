package validator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/kayle-id/orgs-api/validator"
)

// The request and response of one call, judged by stock openapi3filter (as
// it treats this 3.1 document) and by the middleware's validator.
type call struct {
	op, method, path, query string
	status                  int
	body                    []byte
}

func leaveCall() call {
	return call{"leaveOrganization", "POST", "/v1/auth/orgs/members/leave", "", 200,
		[]byte(`{"data":{"message":"You left the organization.","status":"success"},"error":null}`)}
}

func auditPageCall() call {
	type actor struct {
		ID         *string `json:"id"`
		Type       string  `json:"type"`
		Name       *string `json:"name"`
		Email      *string `json:"email"`
		APIKeyID   *string `json:"apiKeyId"`
		APIKeyName *string `json:"apiKeyName"`
	}
	type row struct {
		ID         string         `json:"id"`
		Event      string         `json:"event"`
		Actor      actor          `json:"actor"`
		TargetID   *string        `json:"targetId"`
		TargetType *string        `json:"targetType"`
		Metadata   map[string]any `json:"metadata"`
		CreatedAt  string         `json:"createdAt"`
	}
	id, name, email, target, ttype := "8f14e45f-ceea-467f-a8d5-4c6b1b3a9c11", "Ada", "ada@example.com", "5b1e2c3d-1111-4222-8333-944455556666", "member"
	rows := make([]row, 50)
	for i := range rows {
		rows[i] = row{fmt.Sprintf("aud_%024d", i), "member.left", actor{&id, "user", &name, &email, nil, nil}, &target, &ttype,
			map[string]any{"user_id": id, "role": "member"}, "2026-11-26T10:00:00.123456Z"}
	}
	next := rows[49].ID
	body, _ := json.Marshal(map[string]any{"data": rows, "error": nil, "pagination": map[string]any{"limit": 50, "has_more": true, "next_cursor": next}})
	return call{"listAuditLogs", "GET", "/v1/auth/orgs/audit-logs", "?limit=50&event=member.left,member.joined", 200, body}
}

func membersPageCall() call {
	type member struct {
		ID          string  `json:"id"`
		UserID      string  `json:"userId"`
		Email       string  `json:"email"`
		Name        string  `json:"name"`
		Role        string  `json:"role"`
		CreatedAt   string  `json:"createdAt"`
		SuspendedAt *string `json:"suspendedAt"`
		SuspendedBy *string `json:"suspendedBy"`
	}
	rows := make([]member, 50)
	for i := range rows {
		rows[i] = member{fmt.Sprintf("8f14e45f-ceea-467f-a8d5-4c6b1b3a%04d", i), "5b1e2c3d-1111-4222-8333-944455556666",
			fmt.Sprintf("u%d@example.com", i), "User", "member", "2026-11-26T10:00:00.123456Z", nil, nil}
	}
	body, _ := json.Marshal(map[string]any{"data": rows, "error": nil, "pagination": map[string]any{"limit": 50, "has_more": false, "next_cursor": nil}})
	return call{"listMembers", "GET", "/v1/auth/orgs/members", "?limit=50", 200, body}
}

func stockRouteFor(spec *openapi3.T, c call) *routers.Route {
	item := spec.Paths.Value(c.path)
	return &routers.Route{Spec: spec, Path: c.path, PathItem: item, Method: c.method, Operation: item.GetOperation(c.method)}
}

func judgeStock(b *testing.B, spec *openapi3.T, opts *openapi3filter.Options, c call) {
	route := stockRouteFor(spec, c)
	hdr := http.Header{"Content-Type": {"application/json"}}
	for b.Loop() {
		req := httptest.NewRequest(c.method, c.path+c.query, nil)
		req.Header.Set("Authorization", "Bearer kid_x")
		in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: c.status, Header: hdr, Options: opts}
		rin.SetBodyBytes(c.body)
		if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
			b.Fatal(err)
		}
	}
}

func judgeMiddleware(b *testing.B, v *validator.Validator, c call) {
	hdr := http.Header{"Content-Type": {"application/json"}}
	for b.Loop() {
		req := httptest.NewRequest(c.method, c.path+c.query, nil)
		req.Header.Set("Authorization", "Bearer kid_x")
		if err := v.CheckRequest(req, c.op, nil); err != nil {
			b.Fatal(err)
		}
		if err := v.CheckResponse(req, c.op, nil, c.status, hdr, c.body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	spec := enforcedSpec(b)
	v, err := validator.New(spec, validator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		call call
	}{{"leave", leaveCall()}, {"auditPage", auditPageCall()}, {"membersPage", membersPageCall()}} {
		b.Run(c.name+"/stock", func(b *testing.B) {
			b.ReportAllocs()
			judgeStock(b, spec, v.Filter(), c.call)
		})
		b.Run(c.name+"/middleware", func(b *testing.B) {
			b.ReportAllocs()
			judgeMiddleware(b, v, c.call)
		})
	}
}

// The same calls with upstream's whole document loaded (every operation,
// served or not), as a server serving all of it would hold it: the
// per-call cost must not depend on how much else the document holds.
func BenchmarkValidateFullDocument(b *testing.B) {
	spec := upstreamSpec(b)
	v, err := validator.New(spec, validator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		call call
	}{{"leave", leaveCall()}, {"auditPage", auditPageCall()}, {"membersPage", membersPageCall()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			judgeMiddleware(b, v, c.call)
		})
	}
}

// Start-up: indexing and compiling the served document and upstream's whole
// document.
func BenchmarkNew(b *testing.B) {
	for _, d := range []struct {
		name string
		spec *openapi3.T
	}{{"served", enforcedSpec(b)}, {"upstream", upstreamSpec(b)}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := validator.New(d.spec, validator.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
