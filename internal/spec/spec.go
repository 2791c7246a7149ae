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
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Served cuts doc down to the operations whose ids are listed (all of them
// when served is nil), drops paths left without an operation and the
// webhooks, and prunes components nothing references any more, then says
// what is served in the document's info (Describe). It returns a new
// document; doc is not changed.
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
	renameComponents(m)
	raw, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("served document: %w", err)
	}
	Describe(out)
	return out, nil
}

// renameComponents gives the components whose names break OpenAPI's
// identifier rule (upstream's "Webhook Event" and the like) the name without
// the characters it refuses ("WebhookEvent", the generator's Go name), and
// points every $ref at the new name: the served document is a valid one.
// A name that would collide is left as it is (and fails validation).
func renameComponents(m map[string]any) {
	comps, _ := m["components"].(map[string]any)
	renamed := map[string]string{}
	for section, entries := range comps {
		es, _ := entries.(map[string]any)
		for name, v := range es {
			if openapi3.ValidateIdentifier(name) == nil {
				continue
			}
			fixed := invalidIdentifierChars.ReplaceAllString(name, "")
			if _, taken := es[fixed]; taken || fixed == "" {
				continue
			}
			delete(es, name)
			es[fixed] = v
			renamed["#/components/"+section+"/"+escape(name)] = "#/components/" + section + "/" + fixed
		}
	}
	if len(renamed) > 0 {
		rewriteRefs(m, renamed)
	}
}

var invalidIdentifierChars = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

func rewriteRefs(v any, renamed map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "$ref" {
				if to, ok := renamed[s]; ok {
					x[k] = to
				}
				continue
			}
			rewriteRefs(c, renamed)
		}
	case []any:
		for _, c := range x {
			rewriteRefs(c, renamed)
		}
	}
}

// Validate checks doc as the server does at start-up. Upstream's published
// document names some components with spaces ("Webhook Event"), which
// kin-openapi's identifier rule refuses; the served document renames them
// (renameComponents), but the full one has them, so the rule is widened for
// that check only.
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

// ExtensionKey marks, in the overlay, an operation this server adds to
// upstream's document.
const ExtensionKey = "x-kayle-extension"

// Title is the served document's title: this server, not upstream's API.
const Title = "Kayle ID organizations server"

// Describe gives doc this server's title and a description (what the
// reference page at /docs opens with) that says what is served: how many
// of upstream's operations, the extensions (every operation marked with
// ExtensionKey, listed from doc itself), and how to get a token.
// Upstream's own description is kept at the end.
func Describe(doc *openapi3.T) {
	if doc.Info == nil {
		doc.Info = &openapi3.Info{}
	}
	type op struct{ method, path, summary string }
	var ext []op
	upstream := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			o := item.GetOperation(method)
			if o == nil {
				continue
			}
			if marked, _ := o.Extensions[ExtensionKey].(bool); marked {
				ext = append(ext, op{method, path, o.Summary})
			} else {
				upstream++
			}
		}
	}
	sort.Slice(ext, func(i, j int) bool {
		if ext[i].path != ext[j].path {
			return ext[i].path < ext[j].path
		}
		return ext[i].method < ext[j].method
	})
	var b strings.Builder
	fmt.Fprintf(&b, "This is the **%s** (`github.com/kayle-id/orgs-api`), not Kayle ID's hosted service. "+
		"It serves %d operations of upstream Kayle ID's API, version %s: organizations and memberships, "+
		"verification sessions and analytics, webhooks and events, with upstream's paths, bodies and error envelope.\n\n",
		Title, upstream, doc.Info.Version)
	fmt.Fprintf(&b, "## Extensions\n\nThese %d operations are this server's own, not in upstream's document:\n\n", len(ext))
	for _, o := range ext {
		fmt.Fprintf(&b, "- `%s %s`", o.method, o.path)
		if o.summary != "" {
			fmt.Fprintf(&b, ": %s", o.summary)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Getting a token\n\n" +
		"Every operation takes `Authorization: Bearer <token>`, where the token is either\n\n" +
		"- a session token an operator makes with the server's command line: " +
		"`kayleid users create --email E --name N`, then `kayleid tokens create --email E`, " +
		"which prints `{\"token\":\"kid_…\",\"expiresAt\":…}`; or\n" +
		"- when the server is configured with an identity provider (`KAYLE_OIDC_ISSUER`), " +
		"an access token from that provider for this API's audience (`KAYLE_OIDC_AUDIENCE`).\n\n" +
		"API keys (`kk_…`) are for Kayle ID's verification API; the operations here answer them with 401.\n")
	if up := strings.TrimSpace(doc.Info.Description); up != "" && !strings.Contains(up, Title) {
		fmt.Fprintf(&b, "\n## Upstream\n\nUpstream's description of its API: %s\n", up)
	}
	doc.Info.Title = Title
	doc.Info.Description = b.String()
}
