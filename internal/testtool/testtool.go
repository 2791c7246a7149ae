// Package testtool finds the programs the interoperability tests run
// (openssl, node, npm, java): implementations nobody here wrote. Without
// one a test is skipped, except under CI (CI=true), where a missing tool
// is a failure, so a CI run cannot pass by proving less.
package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of the program name.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// NPMCI installs the npm packages pinned in dir's package-lock.json
// (`npm ci`) unless dir/node_modules/pkg is there already.
func NPMCI(t testing.TB, dir, pkg string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err == nil {
		return
	}
	cmd := exec.Command(Require(t, "npm"), "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// Run runs the program bin in dir and returns its standard output; a
// failure ends the test with the program's standard error.
func Run(t testing.TB, dir, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // "read EC key" and the like, not the output
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, stderr.Bytes())
	}
	return out
}
