// Package docs_test checks the repository's Markdown documents: their links
// resolve, the code they show is the code in the repository, and their
// walkthroughs run (walkthrough_test.go).
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The documents whose links must resolve, relative to the repository root.
func documents(t *testing.T, root string) []string {
	t.Helper()
	docs := []string{"README.md", "CONTRIBUTING.md", "SECURITY.md", "BENCHMARKS.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(more) < 3 {
		t.Fatalf("docs/ holds %d documents, want operators.md, api.md and beyond-upstream.md at least", len(more))
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		docs = append(docs, rel)
	}
	return docs
}

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`^#{1,6} (.+)$`)
)

// anchors are the #fragments GitHub gives a document's headings: lower
// case, punctuation but - and _ dropped, spaces as -, repeats numbered.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if fence || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	return out
}

// Every relative link in the documents names a file or folder that exists,
// and every #anchor a heading of the document it points into.
func TestLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	read := func(rel string) (string, bool) {
		if s, ok := texts[rel]; ok {
			return s, true
		}
		raw, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "", false
		}
		texts[rel] = string(raw)
		return texts[rel], true
	}
	checked := 0
	for _, doc := range documents(t, root) {
		text, ok := read(doc)
		if !ok {
			t.Fatalf("%s is missing", doc)
		}
		fence := false
		for n, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, frag, _ := strings.Cut(target, "#")
				rel := doc
				if path != "" {
					rel = filepath.Clean(filepath.Join(filepath.Dir(doc), path))
					if strings.HasPrefix(rel, "..") {
						t.Errorf("%s:%d: %s leaves the repository", doc, n+1, target)
						continue
					}
					if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
						t.Errorf("%s:%d: %s: no such file", doc, n+1, target)
						continue
					}
				}
				checked++
				if frag == "" {
					continue
				}
				if !strings.HasSuffix(rel, ".md") {
					t.Errorf("%s:%d: %s: an anchor into a file that is not Markdown", doc, n+1, target)
					continue
				}
				into, _ := read(rel)
				if !anchors(into)[frag] {
					t.Errorf("%s:%d: %s: %s has no heading #%s", doc, n+1, target, rel, frag)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d links; the link pattern no longer matches the documents", checked)
	}
}

// The anchor rule itself, on headings of the kinds the documents use.
func TestAnchors(t *testing.T) {
	a := anchors("# Top\n## Verify a domain and add a redirect URI\n```sh\n# not a heading\n```\n## Object storage drivers: size and memory at start\n## Top\n")
	for _, want := range []string{"top", "verify-a-domain-and-add-a-redirect-uri", "object-storage-drivers-size-and-memory-at-start", "top-1"} {
		if !a[want] {
			t.Errorf("no anchor %q in %v", want, a)
		}
	}
	if a["not-a-heading"] {
		t.Error("a comment in a code block counted as a heading")
	}
}

// The Go client example shown in docs/api.md is the program in
// examples/goclient, byte for byte, and the go.mod lines it names are in
// the example's go.mod (walkthrough_test.go builds and runs it against a
// server).
func TestGoClientExampleIsTheFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("api.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	shown := func(marker, fence string) string {
		t.Helper()
		_, after, ok := strings.Cut(doc, marker+"\n"+fence+"\n")
		body, _, closed := strings.Cut(after, "\n```\n")
		if !ok || !closed {
			t.Fatalf("docs/api.md has no %s block after %q", fence, marker)
		}
		return body + "\n"
	}
	code := shown("<!-- file: examples/goclient/main.go -->", "```go")
	file, err := os.ReadFile(filepath.Join("..", "examples", "goclient", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if code != string(file) {
		t.Error("the Go client in docs/api.md differs from examples/goclient/main.go: copy the file into the document")
	}
	mod, err := os.ReadFile(filepath.Join("..", "examples", "goclient", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(mod), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(strings.TrimSpace(shown("<!-- lines of: examples/goclient/go.mod -->", "```text")), "\n") {
		if !lines[l] {
			t.Errorf("examples/goclient/go.mod lacks the line docs/api.md shows: %s", l)
		}
	}
}
