package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/spec"
	"github.com/kayle-id/orgs-api/internal/specfile"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

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

// readLock reads api/upstream.lock: the version and SHA-256 of the upstream
// document openapi.json must be.
func readLock(t *testing.T) (version, sum string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "api", "upstream.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "sha256":
			sum = strings.TrimSpace(v)
		}
	}
	if version == "" || len(sum) != 64 {
		t.Fatalf("api/upstream.lock must give a version and a sha256, got %q %q", version, sum)
	}
	return version, sum
}

// openapi.json is upstream's published document, byte for byte: its hash and
// version are pinned in the repository, and where upstream's file sits beside
// the repository the bytes are compared too.
func TestOpenAPIIsUpstream(t *testing.T) {
	version, sum := readLock(t)
	raw, err := os.ReadFile(filepath.Join("..", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(raw)
	if got := hex.EncodeToString(h[:]); got != sum {
		t.Errorf("openapi.json has SHA-256 %s; api/upstream.lock pins %s: it must be upstream's file unchanged", got, sum)
	}
	var doc struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Info.Version != version {
		t.Errorf("openapi.json is version %q (%v); api/upstream.lock pins %q", doc.Info.Version, err, version)
	}
	shared := filepath.Join("..", "..", "shared", "upstream", "kayle-id-openapi-"+version+".json")
	up, err := os.ReadFile(shared)
	if err != nil {
		t.Logf("no upstream copy beside the repository (%v); the pinned hash stands", err)
		return
	}
	if !bytes.Equal(raw, up) {
		t.Errorf("openapi.json differs from %s", shared)
	}
}

// exported turns an operation id into the strict interface's method name.
func exported(id string) string {
	r := []rune(id)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The served operations are one set, wherever they are counted: the
// document the server enforces and advertises, the same document made from
// the repository's files, the routes echo registers, the methods of the
// generated strict interface and the pairs the conformance coverage expects.
// Nothing else of upstream's document is served or advertised.
func TestServedOperations(t *testing.T) {
	served, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}     // operation ids
	routes := map[string]bool{}  // "METHOD /echo/:path"
	methods := map[string]bool{} // strict interface method names
	for path, item := range served.Paths.Map() {
		if len(item.Operations()) == 0 {
			t.Errorf("served document lists %s without an operation", path)
		}
		for m, op := range item.Operations() {
			if op.OperationID == "" || ops[op.OperationID] {
				t.Errorf("%s %s: operation id %q missing or repeated", m, path, op.OperationID)
			}
			ops[op.OperationID] = true
			routes[m+" "+validator.EchoPath(path)] = true
			methods[exported(op.OperationID)] = true
		}
	}
	if served.Webhooks != nil {
		t.Error("the served document advertises upstream's webhooks")
	}

	// Made from files (openapi.json + overlay + oapi-codegen.yaml) as
	// `make breaking` makes it: the same document as the embedded one.
	// The sandbox's operations are generated (listed) but not served here.
	cfg, err := specfile.ReadConfig("..")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	var unsandboxed []string
	for _, id := range cfg.Served {
		if !slices.Contains(server.SandboxOperations, id) {
			listed[id] = true
			unsandboxed = append(unsandboxed, id)
		}
	}
	full, err := specfile.Full(filepath.Join("..", "openapi.json"), filepath.Join("..", cfg.Overlay))
	if err != nil {
		t.Fatal(err)
	}
	fromFiles, err := spec.Served(full, unsandboxed)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(served)
	b, _ := json.Marshal(fromFiles)
	if !bytes.Equal(a, b) {
		t.Error("the document made from openapi.json, the overlay and oapi-codegen.yaml differs from the embedded one: run make generate")
	}
	if !reflect.DeepEqual(listed, ops) {
		t.Errorf("oapi-codegen.yaml lists %v, the served document has %v", sortedKeys(listed), sortedKeys(ops))
	}

	// Echo's routes under /v1.
	app, err := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, newEnv(t, testdb.SQLite).st, &mail.Outbox{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, r := range app.Routes() {
		if strings.HasPrefix(r.Path, "/v1/") && r.Method != "echo_route_any" {
			registered[r.Method+" "+r.Path] = true
		}
	}
	if !reflect.DeepEqual(registered, routes) {
		t.Errorf("echo routes %v, served operations %v", sortedKeys(registered), sortedKeys(routes))
	}

	// The generated strict interface.
	iface := reflect.TypeFor[api.StrictServerInterface]()
	got := map[string]bool{}
	for i := range iface.NumMethod() {
		if name := iface.Method(i).Name; !slices.Contains(server.SandboxOperations, strings.ToLower(name[:1])+name[1:]) {
			got[name] = true
		}
	}
	if !reflect.DeepEqual(got, methods) {
		t.Errorf("strict interface methods %v, served operations %v", sortedKeys(got), sortedKeys(methods))
	}

	// The conformance coverage.
	expected := map[string]bool{}
	for _, p := range documentedPairs(served) {
		expected[p.op] = true
	}
	if !reflect.DeepEqual(expected, ops) {
		t.Errorf("conformance expects %v, served operations %v", sortedKeys(expected), sortedKeys(ops))
	}

	// Operations outside the served set (all of upstream's are served; the
	// sandbox's is not, here) are in the generated code but nowhere else.
	for _, unserved := range []string{"/v1/sessions/{id}/complete"} {
		if served.Paths.Value(unserved) != nil {
			t.Errorf("served document advertises %s", unserved)
		}
	}
	if len(ops) < 9 || !ops["leaveOrganization"] {
		t.Errorf("served operations %v lack upstream's", sortedKeys(ops))
	}
}

// The served spec is the enforced one (upstream plus the overlay, served
// operations only), cacheable, and what it does not list is not served:
// the sandbox's completion answers 404 in the envelope when not in sandbox mode.
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
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") == "" {
		t.Fatalf("GET /openapi.json: %d, ETag %q, Cache-Control %q", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
	}
	var servedDoc, want any
	wantRaw, _ := json.Marshal(spec)
	if err := json.Unmarshal(body, &servedDoc); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(wantRaw, &want)
	if !reflect.DeepEqual(servedDoc, want) {
		t.Error("GET /openapi.json is not the enforced spec")
	}
	paths := servedDoc.(map[string]any)["paths"].(map[string]any)
	if paths["/v1/webhooks/endpoints"] == nil || paths["/v1/sessions/{id}/complete"] != nil || servedDoc.(map[string]any)["webhooks"] != nil {
		t.Error("GET /openapi.json advertises operations that are not served")
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

	// An operation this server does not serve (the sandbox's, here).
	r, err := http.Post(e.srv.URL+"/v1/sessions/vs_"+strings.Repeat("a", 64)+"/complete", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var env struct {
		Data  any             `json:"data"`
		Error api.ErrorObject `json:"error"`
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || r.StatusCode != 404 || env.Error.Code != "NOT_FOUND" || env.Error.Docs == "" {
		t.Errorf("POST /v1/sessions/{id}/complete: %d %+v %v", r.StatusCode, env, err)
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
