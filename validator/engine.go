package validator

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
)

// The fast path (kin-openapi's built-in schema validator instead of its JSON
// Schema 2020-12 engine, and the compiled response scanner) is proved equal
// to stock openapi3filter by validator/differential_test.go over every
// operation upstream publishes. That proof covers the keywords those
// schemas use. A keyword outside that set, which the built-in validator
// ignores or reads the 3.0 way, could make the two disagree: an operation
// using one is judged by stock openapi3filter against the document as
// published (see New), and a response schema using one is never compiled.

// unproven reports whether s itself uses a keyword the fast path is not
// proved to judge as JSON Schema 2020-12 does.
func unproven(s *openapi3.Schema) bool {
	if s == nil {
		return false
	}
	return s.Always != nil || s.Const != nil || len(s.PrefixItems) > 0 || s.Contains != nil ||
		s.MinContains != nil || s.MaxContains != nil || len(s.PatternProperties) > 0 ||
		len(s.DependentSchemas) > 0 || len(s.DependentRequired) > 0 || s.PropertyNames != nil ||
		s.UnevaluatedItems.Has != nil || s.UnevaluatedItems.Schema != nil ||
		s.UnevaluatedProperties.Has != nil || s.UnevaluatedProperties.Schema != nil ||
		s.If != nil || s.Then != nil || s.Else != nil || len(s.Defs) > 0 ||
		s.SchemaID != "" || s.Anchor != "" || s.DynamicRef != "" || s.DynamicAnchor != "" ||
		s.ContentMediaType != "" || s.ContentEncoding != "" || s.ContentSchema != nil ||
		s.ExclusiveMin.Value != nil || s.ExclusiveMax.Value != nil ||
		// 3.0-only: 3.1 ignores it, the built-in validator honours it.
		s.Nullable || s.Discriminator != nil
}

var errUnprovenKeyword = errors.New("unproven keyword")

// schemaUnproven reports whether any schema reachable from ref is unproven.
func schemaUnproven(ref *openapi3.SchemaRef) bool {
	if ref == nil || ref.Value == nil {
		return false
	}
	err := ref.WalkSubtree(func(_ string, r *openapi3.SchemaRef) error {
		if unproven(r.Value) {
			return errUnprovenKeyword
		}
		return nil
	})
	return errors.Is(err, errUnprovenKeyword)
}

// operationUnproven reports whether any schema of the operation (parameters,
// request body, responses and their headers) is unproven.
func operationUnproven(op *openapi3.Operation) bool {
	for _, p := range op.Parameters {
		if p.Value == nil {
			continue
		}
		if schemaUnproven(p.Value.Schema) {
			return true
		}
		for _, mt := range p.Value.Content {
			if schemaUnproven(mt.Schema) {
				return true
			}
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		for _, mt := range op.RequestBody.Value.Content {
			if schemaUnproven(mt.Schema) {
				return true
			}
		}
	}
	if op.Responses != nil {
		for _, r := range op.Responses.Map() {
			if r.Value == nil {
				continue
			}
			for _, mt := range r.Value.Content {
				if schemaUnproven(mt.Schema) {
					return true
				}
			}
			for _, h := range r.Value.Headers {
				if h.Value != nil && schemaUnproven(h.Value.Schema) {
					return true
				}
			}
		}
	}
	return false
}
