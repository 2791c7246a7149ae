package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/server"
)

// upstreamOperations are the upstream operations openapi.json carries.
var upstreamOperations = map[string][]string{
	"/v1/auth/orgs/members/leave":          {"post"},
	"/v1/auth/orgs/members/{id}":           {"delete"},
	"/v1/auth/orgs/members/{id}/reinstate": {"post"},
	"/v1/auth/orgs/audit-logs":             {"get"},
	"/v1/auth/orgs":                        {"post"},
	"/v1/auth/orgs/request-delete":         {"post"},
	"/v1/auth/orgs/confirm-delete":         {"post"},
	"/v1/auth/orgs/cancel-delete":          {"post"},
	"/v1/auth/account/owned-organizations": {"get"},
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return v
}

// openapi.json is upstream's, unchanged: each operation, info, servers,
// security and every component it keeps equal the shared upstream file's.
func TestOpenAPIIsUpstream(t *testing.T) {
	upstreamPath := filepath.Join("..", "..", "shared", "upstream", "kayle-id-openapi-1.5.0.json")
	if _, err := os.Stat(upstreamPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared upstream spec must sit beside the repository: %v", err)
		}
		t.Skipf("no shared upstream spec beside the repository (%v)", err)
	}
	up := readJSON(t, upstreamPath)
	ours := readJSON(t, filepath.Join("..", "openapi.json"))
	for _, key := range []string{"openapi", "info", "servers", "security"} {
		if !reflect.DeepEqual(ours[key], up[key]) {
			t.Errorf("%s differs from upstream", key)
		}
	}
	upPaths, ourPaths := up["paths"].(map[string]any), ours["paths"].(map[string]any)
	if len(ourPaths) != len(upstreamOperations) {
		t.Errorf("openapi.json has %d paths, want %d", len(ourPaths), len(upstreamOperations))
	}
	for path, methods := range upstreamOperations {
		for _, m := range methods {
			want := upPaths[path].(map[string]any)[m]
			got, _ := ourPaths[path].(map[string]any)
			if got == nil || !reflect.DeepEqual(got[m], want) {
				t.Errorf("%s %s differs from upstream", m, path)
			}
		}
	}
	upComp, ourComp := up["components"].(map[string]any), ours["components"].(map[string]any)
	for section, entries := range ourComp {
		for name, v := range entries.(map[string]any) {
			if !reflect.DeepEqual(v, upComp[section].(map[string]any)[name]) {
				t.Errorf("components.%s.%s differs from upstream", section, name)
			}
		}
	}
}

// The served spec is the enforced one: upstream plus the overlay.
func TestServedSpec(t *testing.T) {
	e := newEnv(t, "sqlite")
	spec, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	leave := spec.Paths.Find("/v1/auth/orgs/members/leave").Post
	if leave.OperationID != "leaveOrganization" || leave.Responses.Default() == nil {
		t.Fatalf("overlay not applied: %+v", leave)
	}
	slug := spec.Paths.Find("/v1/auth/orgs").Post.RequestBody.Value.Content.Get("application/json").Schema.Value.Properties["slug"].Value
	if slug.Pattern != "^[a-z0-9-]+$" {
		t.Fatalf("slug pattern not fixed: %q", slug.Pattern)
	}
	resp, err := http.Get(e.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&served); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") == "" {
		t.Error("served spec is not cacheable")
	}
	paths := served["paths"].(map[string]any)
	for _, p := range []string{"/v1/auth/orgs/members/leave", "/v1/auth/orgs/invitations", "/v1/auth/orgs/active", "/v1/auth/orgs/members"} {
		if paths[p] == nil {
			t.Errorf("served spec lacks %s", p)
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/openapi.json", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	again, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", again.StatusCode)
	}
}

// Upgrading the spec is a file drop: an upstream change regenerates and
// builds with one command, and an overlay action whose target vanished
// fails generation naming the action.
func TestSpecBumpIsAFileDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator and the compiler")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(paths map[string]any)) string {
		spec := readJSON(t, filepath.Join(root, "openapi.json"))
		fn(spec["paths"].(map[string]any))
		out := filepath.Join(t.TempDir(), "openapi.json")
		b, _ := json.MarshalIndent(spec, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The generated package goes under testdata (never part of ./...) so it
	// can be compiled inside the module.
	pkgDir, err := os.MkdirTemp(filepath.Join(root, "server", "testdata"), "regen-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pkgDir)
	generate := func(spec string) ([]byte, error) {
		cfg := filepath.Join(t.TempDir(), "cfg.yaml")
		raw, _ := os.ReadFile(filepath.Join(root, "oapi-codegen.yaml"))
		conf := strings.Replace(string(raw), "output: gen/api/api.gen.go", "output: "+filepath.Join(pkgDir, "api.gen.go"), 1)
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "tool", "oapi-codegen", "-config", cfg, spec)
		cmd.Dir = root
		return cmd.CombinedOutput()
	}

	added := edit(func(paths map[string]any) {
		data := paths["/v1/auth/orgs/members/leave"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["data"].(map[string]any)
		data["properties"].(map[string]any)["leftAt"] = map[string]any{"type": "string"}
	})
	if out, err := generate(added); err != nil {
		t.Fatalf("generation with an added optional field: %v\n%s", err, out)
	}
	build := exec.Command("go", "build", "./"+filepath.ToSlash(filepath.Join("server", "testdata", filepath.Base(pkgDir))))
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the regenerated package does not build: %v\n%s", err, out)
	}

	removed := edit(func(paths map[string]any) { delete(paths, "/v1/auth/orgs/members/leave") })
	out, err := generate(removed)
	if err == nil {
		t.Fatal("generation succeeded although an overlay action's target vanished")
	}
	if !strings.Contains(string(out), `$.paths['/v1/auth/orgs/members/leave'].post`) || !strings.Contains(string(out), "did not match any targets") {
		t.Fatalf("the failure does not say which action and why:\n%s", out)
	}
}

// Removing a required response field is a breaking change that the
// breaking-change report (specbuild + oasdiff, as `make breaking` runs them)
// names in readable words and fails on.
func TestBreakingChangeReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the spec builder and oasdiff")
	}
	root, _ := filepath.Abs("..")
	spec := readJSON(t, filepath.Join(root, "openapi.json"))
	data := spec["paths"].(map[string]any)["/v1/auth/orgs/members/leave"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["data"].(map[string]any)
	delete(data["properties"].(map[string]any), "status")
	data["required"] = []any{"message"}
	dir := t.TempDir()
	edited := filepath.Join(dir, "openapi.json")
	b, _ := json.MarshalIndent(spec, "", "  ")
	if err := os.WriteFile(edited, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		return cmd.CombinedOutput()
	}
	base, head := filepath.Join(dir, "base.json"), filepath.Join(dir, "head.json")
	if out, err := run("run", "./internal/tools/specbuild", "-o", base); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := run("run", "./internal/tools/specbuild", "-spec", edited, "-o", head); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := run("tool", "oasdiff", "breaking", base, head, "--fail-on", "ERR")
	if err == nil {
		t.Fatalf("oasdiff accepted a removed required response field:\n%s", out)
	}
	if !strings.Contains(string(out), "removed the required property `data/status` from the response with the `200` status") ||
		!strings.Contains(string(out), "POST /v1/auth/orgs/members/leave") {
		t.Fatalf("the report does not say what broke:\n%s", out)
	}
	if out, err := run("tool", "oasdiff", "breaking", base, base, "--fail-on", "ERR"); err != nil {
		t.Fatalf("an unchanged spec is reported as breaking: %v\n%s", err, out)
	}
}
