package server_test

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/kayle-id/orgs-api/server"
)

// conformance counts every answer of every test server in this package.
var conformance = server.NewMetrics()

type pair struct {
	op     string
	status int
}

// checkConformance lists every (operation, documented status) pair of the
// served spec with how many test answers produced it, and fails unless each
// was produced or is in api/conformance-allowlist.txt with a reason. It runs
// after the whole package's tests, when no -run filter narrowed them.
func checkConformance(w io.Writer) bool {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return true
	}
	if f := flag.Lookup("test.short"); f != nil && f.Value.String() == "true" {
		return true
	}
	// The sandbox's document: every operation, the sandbox's included.
	spec, err := server.SandboxSpec()
	if err != nil {
		fmt.Fprintln(w, "conformance:", err)
		return false
	}
	produced, err := conformance.Produced()
	if err != nil {
		fmt.Fprintln(w, "conformance:", err)
		return false
	}
	allowed, err := readAllowlist(filepath.Join("..", "api", "conformance-allowlist.txt"))
	if err != nil {
		fmt.Fprintln(w, "conformance:", err)
		return false
	}
	pairs := documentedPairs(spec)
	ok := true
	fmt.Fprintln(w, "conformance: operation status count")
	for _, p := range pairs {
		n := produced[p.op][p.status]
		note := ""
		switch reason, listed := allowed[p]; {
		case n > 0 && listed:
			note = "  (allowlisted, but produced: remove it from the allowlist)"
			ok = false
		case n == 0 && listed:
			note = "  allowlisted: " + reason
		case n == 0:
			note = "  NOT PRODUCED by any test"
			ok = false
		}
		fmt.Fprintf(w, "conformance: %-28s %d %5d%s\n", p.op, p.status, n, note)
	}
	for p := range allowed {
		found := false
		for _, q := range pairs {
			found = found || q == p
		}
		if !found {
			fmt.Fprintf(w, "conformance: allowlist names %s %d, which the spec does not document\n", p.op, p.status)
			ok = false
		}
	}
	fmt.Fprintf(w, "conformance: %d documented pairs, all produced or allowlisted: %v\n", len(pairs), ok)
	return ok
}

// documentedPairs are the (operation, status) pairs the conformance
// coverage expects a test to produce: every documented numeric status of
// every served operation.
func documentedPairs(spec *openapi3.T) []pair {
	var pairs []pair
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			for code := range op.Responses.Map() {
				if status, err := strconv.Atoi(code); err == nil {
					pairs = append(pairs, pair{op.OperationID, status})
				}
			}
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].op != pairs[j].op {
			return pairs[i].op < pairs[j].op
		}
		return pairs[i].status < pairs[j].status
	})
	return pairs
}

func readAllowlist(path string) (map[pair]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[pair]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.SplitN(text, " ", 3)
		status, err := strconv.Atoi(fieldAt(fields, 1))
		if len(fields) < 3 || err != nil || strings.TrimSpace(fields[2]) == "" {
			return nil, fmt.Errorf("%s:%d: want 'operationId status reason'", path, line)
		}
		out[pair{fields[0], status}] = strings.TrimSpace(fields[2])
	}
	return out, sc.Err()
}

func fieldAt(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
