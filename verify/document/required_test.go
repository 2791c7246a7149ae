package document_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"os/exec"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// With RequireActiveAuth and RequireChipAuth, a document whose SOD declares
// DG15, or DG14 with chip authentication version 2, fails when the answers
// are left out (a copy of the data groups replayed without the chip);
// without the options the same inputs are skipped, as the CLI reports them.
func TestRequiredAuthentication(t *testing.T) {
	p, ts := fixture(t)
	req := opts
	req.RequireActiveAuth, req.RequireChipAuth = true, true
	caV2 := mustDER(t, asn1.ObjectIdentifier(doctest.OIDCAECDHAES128))
	type want struct {
		aa, ca   document.Status
		aaReason string
		caReason string
		code     document.Code
	}
	cases := []struct {
		name        string
		mod         func(*doctest.Document) document.Inputs
		lax, strict want
	}{
		{"the full document", func(d *doctest.Document) document.Inputs { return files(d) },
			want{document.Passed, document.Passed, "", "", ""}, want{document.Passed, document.Passed, "", "", ""}},
		{"no CA transcript, DG14 declares CA v2", func(d *doctest.Document) document.Inputs {
			f := files(d)
			f.CATranscript = nil
			return f
		}, want{document.Passed, document.Skipped, "", "inputs_absent", ""},
			want{document.Passed, document.Failed, "", "chip_auth_artifacts_missing", document.CodeChipAuthentication}},
		{"no CA transcript, DG14 declares CA v1 only", func(d *doctest.Document) document.Inputs {
			v1 := bytes.Replace(d.DG14, append(caV2, 0x02, 0x01, 0x02), append(caV2, 0x02, 0x01, 0x01), 1)
			if bytes.Equal(v1, d.DG14) {
				t.Fatal("no version 2 ChipAuthenticationInfo in DG14")
			}
			d.DG14 = v1
			d.Sign(t)
			f := files(d)
			f.CATranscript = nil
			return f
		}, want{document.Passed, document.Skipped, "", "inputs_absent", ""},
			want{document.Passed, document.Skipped, "", "version_1_or_none", ""}},
		{"DG14 declared, signed, unreadable, no transcript", func(d *doctest.Document) document.Inputs {
			// No DG15: an EC active authentication would read DG14 too.
			d.DG14 = doctest.Wrap(0x6E, []byte{0x31, 0x03, 0x02, 0x01})
			d.SOD = doctest.SOD(t, d.DSC, d.DSCKey, map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14})
			f := files(d)
			f.DG15, f.AAChallenge, f.AASignature, f.CATranscript = nil, nil, nil, nil
			return f
		}, want{document.Skipped, document.Skipped, "inputs_absent", "inputs_absent", ""},
			want{document.Skipped, document.Failed, "not_declared", "dg14_parse_failed", document.CodeChipAuthentication}},
		{"no DG14 and no DG15 declared, no answers", func(d *doctest.Document) document.Inputs {
			d.SOD = doctest.SOD(t, d.DSC, d.DSCKey, map[int][]byte{1: d.DG1, 2: d.DG2})
			f := files(d)
			f.DG14, f.DG15, f.AAChallenge, f.AASignature, f.CATranscript = nil, nil, nil, nil, nil
			return f
		}, want{document.Skipped, document.Skipped, "inputs_absent", "inputs_absent", ""},
			want{document.Skipped, document.Skipped, "not_declared", "not_declared", ""}},
		{"DG15 declared, no AA inputs at all", func(d *doctest.Document) document.Inputs {
			f := files(d)
			f.DG15, f.AAChallenge, f.AASignature = nil, nil, nil
			return f // passive authentication misses DG15 as well
		}, want{document.Skipped, document.Passed, "inputs_absent", "", document.CodeAuthenticity},
			want{document.Failed, document.Passed, "required_inputs_absent", "", document.CodeAuthenticity}},
		{"DG15 given, no challenge or signature", func(d *doctest.Document) document.Inputs {
			f := files(d)
			f.AAChallenge, f.AASignature = nil, nil
			return f
		}, want{document.Failed, document.Passed, "inputs_incomplete", "", document.CodeActiveAuth},
			want{document.Failed, document.Passed, "inputs_incomplete", "", document.CodeActiveAuth}},
		{"SOD unreadable, no answers", func(d *doctest.Document) document.Inputs {
			f := files(d)
			f.SOD = []byte{0x77, 0x01, 0x00}
			f.DG15, f.AAChallenge, f.AASignature, f.CATranscript = nil, nil, nil, nil
			return f
		}, want{document.Skipped, document.Skipped, "inputs_absent", "inputs_absent", document.CodeAuthenticity},
			want{document.Failed, document.Failed, "required_inputs_absent", "chip_auth_artifacts_missing", document.CodeAuthenticity}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := doctest.New(t, p.DSCs[1].Cert, p.DSCs[1].Key)
			f := tc.mod(d)
			for _, run := range []struct {
				o document.Options
				w want
			}{{opts, tc.lax}, {req, tc.strict}} {
				rep := document.Check(context.Background(), f, ts, run.o)
				aa, ca := rep.Checks[document.CheckActiveAuth], rep.Checks[document.CheckChipAuth]
				if aa.Status != run.w.aa || aa.Reason != run.w.aaReason || ca.Status != run.w.ca || ca.Reason != run.w.caReason {
					t.Errorf("require=%v: aa %+v, ca %+v; want %+v", run.o.RequireActiveAuth, aa, ca, run.w)
				}
				if got := rep.FailureCode(); got != run.w.code || (got == "") != rep.Passed() {
					t.Errorf("require=%v: failure code %q (verdict %s), want %q: %+v", run.o.RequireActiveAuth, got, rep.Verdict, run.w.code, rep.Checks)
				}
			}
		})
	}
}

func mustDER(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FailureCode names the first failure in the flow's order (passive, chip,
// active authentication, then the claims), whatever else failed after it.
func TestFailureCodeOrder(t *testing.T) {
	rep := func(failed ...document.Name) *document.Report {
		r := &document.Report{Verdict: document.Passed, Checks: map[document.Name]document.Result{}}
		for _, c := range document.Checks {
			r.Checks[c] = document.Result{Status: document.Passed}
		}
		for _, c := range failed {
			r.Checks[c] = document.Result{Status: document.Failed}
			r.Verdict = document.Failed
		}
		return r
	}
	for _, tc := range []struct {
		failed []document.Name
		want   document.Code
	}{
		{nil, ""},
		{[]document.Name{document.CheckMRZ, document.CheckPassiveAuth, document.CheckClaims}, document.CodeAuthenticity},
		{[]document.Name{document.CheckPassiveAuth, document.CheckActiveAuth, document.CheckChipAuth}, document.CodeAuthenticity},
		{[]document.Name{document.CheckActiveAuth, document.CheckChipAuth}, document.CodeChipAuthentication},
		{[]document.Name{document.CheckActiveAuth}, document.CodeActiveAuth},
		{[]document.Name{document.CheckActiveAuth, document.CheckClaims}, document.CodeActiveAuth},
		{[]document.Name{document.CheckClaims}, document.CodeDataInvalid},
	} {
		if got := rep(tc.failed...).FailureCode(); got != tc.want {
			t.Errorf("%v failed: %q, want %q", tc.failed, got, tc.want)
		}
	}
}

// The document checks read nothing but their arguments: no package of this
// module that Check runs (this one and the verify packages it calls)
// imports the file system, the network, a database or a process.
// crypto/x509 links net and os for system roots; passive authentication
// never asks it for them (it verifies against the trust store given).
func TestNoFileOrNetworkAccess(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}:{{join .Imports " "}}{{end}}`, "github.com/kayle-id/orgs-api/verify/document").Output()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"os", "os/exec", "io/fs", "io/ioutil", "path/filepath", "net", "net/http", "net/url", "database/sql", "syscall", "plugin", "unsafe"}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if !strings.HasPrefix(pkg, "github.com/kayle-id/orgs-api/") {
			continue
		}
		seen++
		for _, imp := range strings.Fields(imports) {
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, "net/") || strings.HasPrefix(imp, "gorm.io/") {
					t.Errorf("%s imports %s", pkg, imp)
					break
				}
			}
		}
	}
	if seen < 7 { // document, mrz, lds, ecc, activeauth, chipauth, passiveauth (and sessions)
		t.Fatalf("only %d module packages listed: %s", seen, out)
	}
}
