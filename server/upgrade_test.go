package server_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoCopy copies the repository's files (tracked and new, not ignored) into
// a fresh git repository in a temporary folder, committed, so the
// upgrade procedure (CONTRIBUTING.md) can be run on it as a person would.
func repoCopy(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ls := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "copy"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dst
}

// run runs a command in dir and returns its combined output and whether it
// succeeded.
func run(t *testing.T, dir string, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func editJSON(t *testing.T, path string, fn func(doc map[string]any)) {
	t.Helper()
	doc := readJSON(t, path)
	fn(doc)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editText(t *testing.T, path string, fn func(s string) string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := fn(string(raw))
	if out == string(raw) {
		t.Fatalf("%s: the edit changed nothing", path)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// CONTRIBUTING.md's "Upgrading the spec" procedure, run on a copy of the
// repository: upstream's pinned document drops in and regenerates to the
// committed code; an added optional response field regenerates, builds and
// is not breaking; a removed served operation stops generation at the
// overlay action that named it, then the compiler points at its handler and
// `make breaking` fails naming the path; serving one more upstream
// operation makes the compiler ask for its handler method.
func TestUpgradeProcedure(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the repository, runs the generator, the compiler and oasdiff")
	}
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := repoCopy(t)
	specPath := filepath.Join(dir, "openapi.json")

	// 1. Drop in the pinned upstream document (where it sits beside the
	// repository; otherwise openapi.json, which TestOpenAPIIsUpstream pins
	// to it): generation reproduces the committed gen/, and it builds.
	version, _ := readLock(t)
	if up, err := os.ReadFile(filepath.Join("..", "..", "shared", "upstream", "kayle-id-openapi-"+version+".json")); err == nil {
		if err := os.WriteFile(specPath, up, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, ok := run(t, dir, "make", "generate"); !ok {
		t.Fatalf("make generate on upstream's document: %s", out)
	}
	if out, ok := run(t, dir, "git", "status", "--porcelain"); !ok || out != "" {
		t.Fatalf("upstream's document does not regenerate to the committed code:\n%s", out)
	}
	if out, ok := run(t, dir, "go", "build", "./..."); !ok {
		t.Fatalf("go build: %s", out)
	}

	// 2. A bump that adds an optional response field: regenerates, builds,
	// and the breaking-change report finds nothing that breaks clients.
	editJSON(t, specPath, func(doc map[string]any) {
		data := doc["paths"].(map[string]any)["/v1/auth/orgs/members/leave"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["data"].(map[string]any)
		data["properties"].(map[string]any)["leftAt"] = map[string]any{"type": "string"}
	})
	if out, ok := run(t, dir, "make", "generate"); !ok {
		t.Fatalf("make generate with an added optional field: %s", out)
	}
	if gen, _ := os.ReadFile(filepath.Join(dir, "gen", "api", "api.gen.go")); !regexp.MustCompile(`LeftAt\s+\*string`).Match(gen) {
		t.Fatal("the added field is not in the generated code")
	}
	if out, ok := run(t, dir, "go", "build", "./..."); !ok {
		t.Fatalf("go build after an added optional field: %s", out)
	}
	if out, ok := run(t, dir, "make", "breaking"); !ok || !strings.Contains(out, "none that break clients") {
		t.Fatalf("make breaking on an added optional field:\n%s", out)
	}
	if out, ok := run(t, dir, "git", "checkout", "--", "."); !ok {
		t.Fatal(out)
	}

	// 3. A bump that removes an operation the server serves.
	editJSON(t, specPath, func(doc map[string]any) {
		delete(doc["paths"].(map[string]any), "/v1/auth/orgs/members/leave")
	})
	out, ok := run(t, dir, "make", "generate")
	if ok || !strings.Contains(out, `$.paths['/v1/auth/orgs/members/leave'].post`) || !strings.Contains(out, "did not match any targets") {
		t.Fatalf("generation must stop at the overlay action naming the removed operation:\n%s", out)
	}
	// As CONTRIBUTING.md says: drop the action and the id from the served list.
	editText(t, filepath.Join(dir, "api", "overlay.yaml"), func(s string) string {
		return regexp.MustCompile(`(?m)^  - target: \$\.paths\['/v1/auth/orgs/members/leave'\]\.post\n(    .*\n)+`).ReplaceAllString(s, "")
	})
	editText(t, filepath.Join(dir, "oapi-codegen.yaml"), func(s string) string {
		return strings.Replace(s, "    - leaveOrganization\n", "", 1)
	})
	if out, ok := run(t, dir, "make", "generate"); !ok {
		t.Fatalf("make generate once the action is dropped: %s", out)
	}
	out, ok = run(t, dir, "go", "build", "./...")
	if ok || !strings.Contains(out, "handlers/members.go") || !strings.Contains(out, "LeaveOrganization") {
		t.Fatalf("the compiler must point at the removed operation's handler:\n%s", out)
	}
	out, ok = run(t, dir, "make", "breaking")
	if ok || !strings.Contains(out, "/v1/auth/orgs/members/leave") || !strings.Contains(out, "api-path-removed-without-deprecation") {
		t.Fatalf("make breaking must fail naming the removed path:\n%s", out)
	}
	if out, ok := run(t, dir, "git", "checkout", "--", "."); !ok {
		t.Fatal(out)
	}

	// 4. Serving one more upstream operation (every one is served, so one is
	// taken out first, handler and all): list its id again and the compiler
	// asks for its handler.
	editText(t, filepath.Join(dir, "oapi-codegen.yaml"), func(s string) string {
		return strings.Replace(s, "    - listEvents\n", "", 1)
	})
	editText(t, filepath.Join(dir, "handlers", "webhooks.go"), func(s string) string {
		return regexp.MustCompile(`(?s)// ListEvents is GET /v1/events,.*?\n}\n`).ReplaceAllString(s, "")
	})
	editText(t, filepath.Join(dir, "internal", "scenario", "webhooks.go"), func(s string) string {
		return regexp.MustCompile(`(?m)^.*ListEventsWithResponse.*\n.*"listEvents".*\n`).ReplaceAllString(s, "")
	})
	if out, ok := run(t, dir, "make", "generate"); !ok {
		t.Fatalf("make generate without listEvents: %s", out)
	}
	if out, ok := run(t, dir, "go", "build", "./..."); !ok {
		t.Fatalf("build without listEvents: %s", out)
	}
	editText(t, filepath.Join(dir, "oapi-codegen.yaml"), func(s string) string {
		return strings.Replace(s, "  include-operation-ids:\n", "  include-operation-ids:\n    - listEvents\n", 1)
	})
	if out, ok := run(t, dir, "make", "generate"); !ok {
		t.Fatalf("make generate with one more served operation: %s", out)
	}
	out, ok = run(t, dir, "go", "build", "./...")
	if ok || !strings.Contains(out, "missing method ListEvents") {
		t.Fatalf("the compiler must ask for the new operation's handler:\n%s", out)
	}
}
