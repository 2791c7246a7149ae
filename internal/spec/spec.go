// Package spec makes the served document out of a fuller one: only the
// operations this server serves, with only the components they use. The
// generator makes the same cut when it generates gen/api (the served list is
// output-options.include-operation-ids in oapi-codegen.yaml); the server
// uses this package to drop the paths the generator leaves empty, and
// internal/specfile uses it to make the same document from files.
package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Served cuts doc down to the operations whose ids are listed (all of them
// when served is nil), drops paths left without an operation and the
// webhooks, and prunes components nothing references any more. It returns
// a new document; doc is not changed.
func Served(doc *openapi3.T, served []string) (*openapi3.T, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, id := range served {
		keep[id] = true
	}
	paths, _ := m["paths"].(map[string]any)
	for p, v := range paths {
		item, _ := v.(map[string]any)
		ops := 0
		for method, op := range item {
			if !isMethod(method) {
				continue
			}
			id, _ := op.(map[string]any)["operationId"].(string)
			if served != nil && !keep[id] {
				delete(item, method)
				continue
			}
			ops++
		}
		if ops == 0 {
			delete(paths, p)
		}
	}
	delete(m, "webhooks")
	prune(m)
	raw, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("served document: %w", err)
	}
	return out, nil
}

// Validate checks doc as the server does at start-up. Upstream's published
// document names some components with spaces ("Webhook Event"), which
// kin-openapi's identifier rule refuses; the served document contains none
// of them, but the full one does, so the rule is widened for that check only.
func Validate(doc *openapi3.T) error {
	return doc.Validate(context.Background(), openapi3.DisableExamplesValidation())
}

// ValidateFull is Validate for a document that may carry upstream's
// space-separated component names.
func ValidateFull(doc *openapi3.T) error {
	saved := openapi3.IdentifierRegExp
	openapi3.IdentifierRegExp = spacedIdentifier
	defer func() { openapi3.IdentifierRegExp = saved }()
	return Validate(doc)
}

var spacedIdentifier = regexp.MustCompile(`^[a-zA-Z0-9._ -]+$`)

func isMethod(k string) bool {
	switch strings.ToLower(k) {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// prune removes components that no $ref reaches, until none is left to
// remove (a component referenced only by a removed one goes next round), as
// the generator does. Security schemes are referenced by name, not $ref,
// and are kept.
func prune(m map[string]any) {
	comps, _ := m["components"].(map[string]any)
	for {
		refs := map[string]bool{}
		collectRefs(m, refs)
		removed := 0
		for section, entries := range comps {
			if section == "securitySchemes" {
				continue
			}
			es, _ := entries.(map[string]any)
			for name := range es {
				if !refs["#/components/"+section+"/"+escape(name)] {
					delete(es, name)
					removed++
				}
			}
			if len(es) == 0 {
				delete(comps, section)
			}
		}
		if removed == 0 {
			return
		}
	}
}

// escape is the JSON-pointer form of a component name.
func escape(name string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}

func collectRefs(v any, refs map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "$ref" {
				refs[s] = true
				continue
			}
			collectRefs(c, refs)
		}
	case []any:
		for _, c := range x {
			collectRefs(c, refs)
		}
	}
}
