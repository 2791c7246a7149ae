package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// `documents check` end to end on both databases: the trust store imported with
// `trust import` from the synthetic PKD, a synthetic document signed by one
// of its DSCs passes (exit 0, every check passed in the JSON); a tampered AA
// signature fails (exit 1, the check named); the revoked DSC fails
// revocation; without a CA transcript the document passes with chip
// authentication skipped, and fails with --require-ca; bad flags and
// missing files are usage errors (exit 2).
func TestDocumentsCheck(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testDocumentsCheck(t, kind)
		})
	}
}

func testDocumentsCheck(t *testing.T, kind testdb.Kind) {
	dir := t.TempDir()
	p := pkdtest.New(t, 2)
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	objects := write("objects.ldif", pkdtest.WriteLDIF("\n", p.Objects))
	mls := write("mls.ldif", pkdtest.WriteLDIF("\n", p.MasterLists))
	env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true", "KAYLE_AUTH_SECRET": "secret"}
	if r := kayleid(t, env, "trust", "import", "--objects", objects, "--master-lists", mls); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}

	d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
	args := []string{"documents", "check", "--at", pkdtest.Now.Format("2006-01-02T15:04:05Z07:00"), "--org", "org",
		"--dg1", write("dg1", d.DG1), "--sod", write("sod", d.SOD), "--dg2", write("dg2", d.DG2),
		"--dg14", write("dg14", d.DG14), "--dg15", write("dg15", d.DG15),
		"--aa-challenge", hex.EncodeToString(d.AAChallenge), "--aa-signature", write("aasig", d.AASignature),
		"--ca-transcript", write("ca", d.CATranscript)}
	type report struct {
		Verdict      string
		FailedChecks []string `json:"failed_checks"`
		Checks       map[string]struct{ Status, Reason string }
		Claims       map[string]any
	}
	check := func(args ...string) (result, report) {
		t.Helper()
		r := kayleid(t, env, args...)
		var rep report
		if r.code != 2 {
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("%v: %+v", err, r)
			}
		}
		return r, rep
	}

	r, rep := check(args...)
	if r.code != 0 || rep.Verdict != "passed" || len(rep.Checks) != 5 || rep.Claims["family_name"] != "ERIKSSON" {
		t.Fatalf("pass: %+v", r)
	}
	for name, c := range rep.Checks {
		if c.Status != "passed" {
			t.Fatalf("%s: %+v", name, c)
		}
	}

	bad := append([]byte(nil), d.AASignature...)
	bad[3] ^= 1
	r, rep = check(append(append([]string{}, args...), "--aa-signature", write("badsig", bad))...)
	if r.code != 1 || rep.Verdict != "failed" || len(rep.FailedChecks) != 1 || rep.FailedChecks[0] != "active_authentication" ||
		!strings.Contains(r.stderr, "active_authentication") {
		t.Fatalf("bad AA: %+v", r)
	}

	revoked := doctest.New(t, p.DSCs[0].Cert, p.DSCs[0].Key)
	r, rep = check(append(append([]string{}, args...), "--sod", write("sod-revoked", revoked.SOD), "--dg1", write("dg1r", revoked.DG1),
		"--dg2", write("dg2r", revoked.DG2), "--dg14", write("dg14r", revoked.DG14), "--dg15", write("dg15r", revoked.DG15),
		"--aa-signature", write("aasigr", revoked.AASignature), "--ca-transcript", write("car", revoked.CATranscript))...)
	if r.code != 1 || rep.Checks["passive_authentication"].Reason != "revocation" {
		t.Fatalf("revoked: %+v", r)
	}

	// No transcript: skipped (exit 0) unless --require-ca, as the verify
	// flow requires it for a DG14 declaring chip authentication version 2.
	noCA := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "--ca-transcript" {
			i++
			continue
		}
		noCA = append(noCA, args[i])
	}
	if r, rep := check(noCA...); r.code != 0 || rep.Checks["chip_authentication"].Status != "skipped" {
		t.Fatalf("no transcript: %+v", r)
	}
	if r, rep := check(append(noCA, "--require-ca")...); r.code != 1 || len(rep.FailedChecks) != 1 || rep.FailedChecks[0] != "chip_authentication" ||
		rep.Checks["chip_authentication"].Reason != "chip_auth_artifacts_missing" {
		t.Fatalf("no transcript, --require-ca: %+v", r)
	}
	if r, _ := check(append(append([]string{}, args...), "--require-aa", "--require-ca")...); r.code != 0 {
		t.Fatalf("every answer given, --require-aa --require-ca: %+v", r)
	}

	// Now (not --at): the synthetic CRL is stale or not, depending on the
	// clock; with an empty trust store the chain fails whatever the date.
	empty := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
	if r := kayleid(t, empty, args...); r.code != 1 || !strings.Contains(r.stdout, `"reason": "chain"`) && !strings.Contains(r.stdout, `"reason":"chain"`) {
		t.Fatalf("empty store: %+v", r)
	}

	for _, bad := range [][]string{
		{"documents", "check", "--sod", "x"},                                        // --dg1 missing
		append(append([]string{}, args...), "--aa-challenge", "zz"),                 // not hex
		append(append([]string{}, args...), "--at", "yesterday"),                    // not a time
		append(append([]string{}, args...), "--dg2", filepath.Join(dir, "missing")), // no such file
	} {
		if r := kayleid(t, env, bad...); r.code != 2 || r.stderr == "" {
			t.Fatalf("%v: %+v", bad, r)
		}
	}
	if r := kayleid(t, env, "documents", "check", "--help"); r.code != 0 || !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "1 when it fails") || strings.Contains(r.stdout, "{--") {
		t.Fatalf("help: %+v", r)
	}
}
