package docs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The documents a reader follows, in the order they read them: the quick
// start, then the API consumer's walkthroughs.
var walkthroughDocs = []string{"README.md", "docs/api.md"}

// A block is one shell block of a walkthrough, as marked in a document:
//
//	<!-- walkthrough: NAME server READY_URL -->   a terminal of its own that
//	                                             keeps running (make run);
//	                                             READY_URL answers once it is up
//	<!-- walkthrough: NAME -->                    run in the walkthrough's shell;
//	                                             the next ```text block is what
//	                                             it prints, … standing for
//	                                             anything
type block struct {
	where  string // file:line, for messages
	name   string
	server bool
	ready  string
	script string
	want   []string
}

type walkthrough struct {
	name    string
	servers []block
	clients []block
}

var markerRE = regexp.MustCompile(`^<!-- walkthrough: (\S+)(?: server (\S+))? -->$`)

// readWalkthroughs parses the marked blocks of the documents under root and
// groups them by walkthrough, in reading order. A walkthrough's blocks must
// follow one another: a reader who has moved on to the next one has stopped
// the previous one's servers.
func readWalkthroughs(t *testing.T, root string) []walkthrough {
	t.Helper()
	var out []walkthrough
	seen := map[string]bool{}
	for _, doc := range walkthroughDocs {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i := 0; i < len(lines); i++ {
			m := markerRE.FindStringSubmatch(lines[i])
			if m == nil {
				if strings.HasPrefix(lines[i], "<!-- walkthrough") {
					t.Fatalf("%s:%d: malformed marker %q", doc, i+1, lines[i])
				}
				continue
			}
			b := block{where: fmt.Sprintf("%s:%d", doc, i+1), name: m[1], server: m[2] != "", ready: m[2]}
			if i+1 >= len(lines) || lines[i+1] != "```sh" {
				t.Fatalf("%s: the marker is not followed by a ```sh block", b.where)
			}
			body, end := fenced(lines, i+1)
			if end < 0 {
				t.Fatalf("%s: unclosed block", b.where)
			}
			b.script = body
			i = end
			if !b.server {
				// The expected output: the next fenced block, which must be
				// ```text and come before any heading or marker.
				j := i + 1
				for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
					if strings.HasPrefix(lines[j], "#") || strings.HasPrefix(lines[j], "<!--") {
						j = len(lines)
					}
				}
				if j >= len(lines) || lines[j] != "```text" {
					t.Fatalf("%s: no ```text block of expected output after the walkthrough block", b.where)
				}
				want, end := fenced(lines, j)
				if end < 0 {
					t.Fatalf("%s: unclosed expected output", b.where)
				}
				b.want = strings.Split(strings.TrimRight(want, "\n"), "\n")
				if want == "" {
					b.want = nil
				}
				i = end
			}
			if len(out) == 0 || out[len(out)-1].name != b.name {
				if seen[b.name] {
					t.Fatalf("%s: walkthrough %q goes on after another one started", b.where, b.name)
				}
				seen[b.name] = true
				out = append(out, walkthrough{name: b.name})
			}
			w := &out[len(out)-1]
			if b.server {
				if len(w.clients) > 0 {
					t.Fatalf("%s: a server block after the walkthrough's commands started", b.where)
				}
				w.servers = append(w.servers, b)
			} else {
				w.clients = append(w.clients, b)
			}
		}
	}
	return out
}

// fenced returns the text of the fenced block opening at lines[open] and
// the index of its closing line (-1 when it is not closed).
func fenced(lines []string, open int) (string, int) {
	var b strings.Builder
	for k := open + 1; k < len(lines); k++ {
		if lines[k] == "```" {
			return b.String(), k
		}
		b.WriteString(lines[k])
		b.WriteByte('\n')
	}
	return "", -1
}

// matchLine reports whether got is what the document's line want says,
// where … stands for any text.
func matchLine(want, got string) bool {
	parts := strings.Split(want, "…")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(`^` + strings.Join(parts, `.*`) + `$`).MatchString(got)
}

// Every walkthrough block of README.md and docs/api.md, run as written, in
// the order a reader would, twice in a row in the same working directory (a
// copy of the repository): each walkthrough makes its own starting state,
// so the second run prints what the first did. Server blocks run in the
// background as a second terminal would; every other block runs in the
// walkthrough's shell under `set -euo pipefail` and must print the
// document's expected output, line for line.
//
// The documents name fixed addresses (127.0.0.1:8787, :9998, dnsmasq on
// :5300) as a reader uses them, so the whole run happens in a network
// namespace of its own (unshare: only a loopback there, nothing of the
// machine's ports), and a PID namespace that ends every process the blocks
// started, dnsmasq's daemon included, when the run ends.
func TestWalkthroughs(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	need := func(what string, err error) {
		if err == nil {
			return
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (.ci/run installs it): %v", what, err)
		}
		t.Skipf("%s: %v", what, err)
	}
	for _, tool := range []string{"bash", "make", "curl", "jq", "openssl", "unshare", "ip", "setsid", "base64"} {
		_, err := exec.LookPath(tool)
		need(tool, err)
	}
	_, err := os.Stat("/usr/sbin/dnsmasq")
	need("dnsmasq in /usr/sbin (Debian: dnsmasq-base)", err)
	unshare := []string{"--net", "--pid", "--fork", "--kill-child"}
	if os.Geteuid() != 0 {
		unshare = append([]string{"--map-root-user"}, unshare...)
	}
	need("a network namespace (unshare "+strings.Join(unshare, " ")+")", exec.Command("unshare", append(unshare, "true")...).Run())

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	walks := readWalkthroughs(t, root)
	if len(walks) < 3 {
		t.Fatalf("found %d walkthroughs, want the quick start, domains and the provider at least", len(walks))
	}
	dir := repoCopy(t, root)

	// The namespace has no route out: fetch the modules the blocks build
	// with first (nothing to do when they are in the module cache).
	for _, mod := range []string{".", "internal/tools/devidp", "examples/goclient"} {
		cmd := exec.Command("go", "mod", "download")
		cmd.Dir = filepath.Join(dir, mod)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("go mod download in %s: %v\n%s", mod, err, out)
		}
	}

	work := t.TempDir()
	const runs = 2
	driver := driverScript(t, work, dir, walks, runs)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append(unshare, "bash", driver)...)
	cmd.Dir = dir
	cmd.Env = readerEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthroughs failed: %v\n%s", err, out)
	}
	for r := 1; r <= runs; r++ {
		for _, w := range walks {
			for i, b := range w.clients {
				got, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("run%d", r), w.name, fmt.Sprintf("%d.out", i)))
				if err != nil {
					t.Fatalf("run %d, %s: %v", r, b.where, err)
				}
				gotLines := strings.Split(strings.TrimRight(string(got), "\n"), "\n")
				if len(got) == 0 {
					gotLines = nil
				}
				ok := len(gotLines) == len(b.want)
				for k := 0; ok && k < len(gotLines); k++ {
					ok = matchLine(b.want[k], gotLines[k])
				}
				if !ok {
					t.Errorf("run %d, %s prints\n%s\nwhere the document says\n%s", r, b.where, strings.Join(gotLines, "\n"), strings.Join(b.want, "\n"))
				}
			}
		}
	}
}

// readerEnv is this process's environment without the server's settings
// and the walkthroughs' variables, which a developer may have set: the
// documents' commands must work from a plain shell.
func readerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KAYLE_") || k == "DATABASE_URL" || k == "API" || k == "IDP" || k == "TOKEN" || k == "MAKEFLAGS" || k == "MFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// driverScript writes the script the namespace runs: for each run, each
// walkthrough's server blocks in the background (each in a session of its
// own, stopped with SIGINT as Ctrl-C stops it), then its other blocks in one
// shell, each block's output in work/runN/NAME/I.out.
func driverScript(t *testing.T, work, dir string, walks []walkthrough, runs int) string {
	t.Helper()
	var d strings.Builder
	d.WriteString(`set -u
ip link set lo up
cd ` + shellQuote(dir) + `
PIDS=""
fail() { echo "walkthrough: $*" >&2; stop; exit 1; }
stop() {
  local p i
  for p in $PIDS; do kill -INT -- "-$p" 2>/dev/null; done
  for p in $PIDS; do
    for i in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=""
}
`)
	for r := 1; r <= runs; r++ {
		for _, w := range walks {
			out := filepath.Join(work, fmt.Sprintf("run%d", r), w.name)
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, s := range w.servers {
				script := filepath.Join(out, fmt.Sprintf("server%d.sh", i))
				if err := os.WriteFile(script, []byte("set -euo pipefail\n"+s.script), 0o644); err != nil {
					t.Fatal(err)
				}
				logf := filepath.Join(out, fmt.Sprintf("server%d.log", i))
				fmt.Fprintf(&d, `echo "run %d: %s (%s)"
setsid bash %s >%s 2>&1 &
pid=$!; PIDS="$PIDS $pid"
for i in $(seq 1200); do
  curl -sf -o /dev/null %s && break
  kill -0 "$pid" 2>/dev/null || { tail -n 40 %s >&2; fail "run %d: the server block at %s stopped"; }
  [ "$i" = 1200 ] && { tail -n 40 %s >&2; fail "run %d: %s not ready"; }
  sleep 0.25
done
`, r, w.name, s.where, shellQuote(script), shellQuote(logf), shellQuote(s.ready), shellQuote(logf), r, s.where, shellQuote(logf), r, s.ready)
			}
			var c strings.Builder
			c.WriteString("set -euo pipefail\n")
			for i, b := range w.clients {
				fmt.Fprintf(&c, "exec >%s\n", shellQuote(filepath.Join(out, fmt.Sprintf("%d.out", i))))
				c.WriteString(b.script)
			}
			client := filepath.Join(out, "client.sh")
			if err := os.WriteFile(client, []byte(c.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			errf := filepath.Join(out, "stderr")
			fmt.Fprintf(&d, `bash %s 2>%s || { rc=$?; cat %s >&2; for f in %s/server*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done; fail "run %d: walkthrough %s exited $rc"; }
stop
`, shellQuote(client), shellQuote(errf), shellQuote(errf), shellQuote(out), r, w.name)
		}
	}
	path := filepath.Join(work, "driver.sh")
	if err := os.WriteFile(path, []byte(d.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// repoCopy copies the repository's files (tracked and new, not ignored)
// into a temporary folder, so the walkthroughs' make targets build and
// keep their state there rather than in the checkout.
func repoCopy(t *testing.T, root string) string {
	t.Helper()
	ls := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git ls-files: %v", err)
		}
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
	return dst
}
