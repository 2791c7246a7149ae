package mrz

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
)

type npmResult struct {
	ID      int                `json:"id"`
	Error   string             `json:"error"`
	Format  string             `json:"format"`
	Valid   bool               `json:"valid"`
	Fields  map[string]*string `json:"fields"`
	Details []struct {
		Field string `json:"field"`
		Valid bool   `json:"valid"`
		Error string `json:"error"`
	} `json:"details"`
}

// npmMRZ runs every document through testdata/node-mrz (the npm mrz
// package, pinned in its package-lock.json) and returns its verdicts.
func npmMRZ(t *testing.T, docs []genDoc) []npmResult {
	t.Helper()
	node := testtool.Require(t, "node")
	dir, err := filepath.Abs("testdata/node-mrz")
	if err != nil {
		t.Fatal(err)
	}
	testtool.NPMCI(t, dir, "mrz")
	var in strings.Builder
	for i, d := range docs {
		b, _ := json.Marshal(map[string]any{"id": i, "lines": d.lines})
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(node, "check.mjs")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res []npmResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r npmResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("node output %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(docs) {
		t.Fatalf("node answered %d of %d", len(res), len(docs))
	}
	return res
}

// npm's check-digit fields, by ours.
var npmCheckDigitField = map[string]Field{
	"documentNumberCheckDigit": FieldDocumentNumber,
	"birthDateCheckDigit":      FieldDateOfBirth,
	"expirationDateCheckDigit": FieldDateOfExpiry,
	"personalNumberCheckDigit": FieldOptionalData,
	"compositeCheckDigit":      FieldComposite,
}

// The npm mrz package, written by nobody here, reads every MRZ the
// generator makes, valid and corrupted, and agrees with Parse on the
// format, every field and which check digits fail.
func TestInteropNpmMRZ(t *testing.T) {
	r := genSeed(t)
	var docs []genDoc
	for i := 0; i < 1500; i++ {
		d := generate(r)
		docs = append(docs, d, corrupt(r, d))
	}
	res := npmMRZ(t, docs)
	compared, ambiguous := 0, 0
	for i, d := range docs {
		n := res[i]
		if n.Error != "" {
			t.Fatalf("%q: npm mrz threw %s", d.lines, n.Error)
		}
		if n.Format != d.want.Format.String() {
			t.Fatalf("%q: npm format %s", d.lines, n.Format)
		}
		m, err := Parse(strings.Join(d.lines, ""))
		var npmBad []string
		for _, det := range n.Details {
			if f, ok := npmCheckDigitField[det.Field]; ok && !det.Valid {
				npmBad = append(npmBad, string(f))
			} else if !ok && !det.Valid {
				t.Fatalf("%q: npm refused %s (%s): the generator should only break check digits", d.lines, det.Field, det.Error)
			}
		}
		var oursBad []string
		for _, f := range checkDigitFailures(err) {
			oursBad = append(oursBad, string(f))
		}
		if d.ambiguous {
			ambiguous++
			continue
		}
		if fmt.Sprint(oursBad) != fmt.Sprint(npmBad) || (err == nil) != n.Valid {
			t.Fatalf("%q: ours %v (%v), npm %v (valid %v)", d.lines, oursBad, err, npmBad, n.Valid)
		}
		compared++
		if err != nil {
			continue
		}
		agreeFields(t, d, m, n)
	}
	t.Logf("%d documents compared with npm mrz, %d ambiguous overflow corruptions skipped", compared, ambiguous)
	if compared < len(docs)*9/10 {
		t.Fatalf("only %d compared", compared)
	}
}

func agreeFields(t *testing.T, d genDoc, m *MRZ, n npmResult) {
	t.Helper()
	get := func(k string) string {
		v, ok := n.Fields[k]
		if !ok || v == nil {
			t.Fatalf("%q: npm field %s missing", d.lines, k)
		}
		return *v
	}
	// npm's cleanText keeps inner fillers as spaces; upstream's (and so
	// our) optional data removes them.
	noSpace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	sex := map[string]string{"male": "M", "female": "F", "nonspecified": "X"}[get("sex")]
	pairs := [][3]string{
		{"document code", m.DocumentCode, get("documentCode")},
		{"issuing state", m.IssuingState, get("issuingState")},
		{"surname", m.Surname, get("lastName")},
		{"given names", m.GivenNames, get("firstName")},
		{"nationality", m.Nationality, get("nationality")},
		{"date of birth", m.DateOfBirth, get("birthDate")},
		{"date of expiry", m.DateOfExpiry, get("expirationDate")},
		{"sex", m.Sex, sex},
		// npm reads a long TD1/TD2 number whole too.
		{"document number", m.DocumentNumber, get("documentNumber")},
	}
	switch m.Format {
	case TD3:
		pairs = append(pairs, [3]string{"optional data", m.OptionalData, noSpace(get("personalNumber"))})
	case TD2:
		pairs = append(pairs, [3]string{"optional data", m.OptionalData, noSpace(get("optional"))})
	case TD1:
		pairs = append(pairs, [3]string{"optional data", m.OptionalData, noSpace(get("optional1") + get("optional2"))})
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			t.Fatalf("%q: %s: ours %q, npm %q", d.lines, p[0], p[1], p[2])
		}
	}
}
