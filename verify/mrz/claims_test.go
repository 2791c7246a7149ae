package mrz

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// The frozen contract's vector (behaviour notes §4, upstream's test
// inputs): secret phase1-test-secret, org org_123, GB / P / 1234567.
func TestDocumentIDVector(t *testing.T) {
	const want = "98aca4d9bb799f3e77ddc466bdf38d5f1470adf597ed8dd9bc77bf671e3c2c64"
	if got := DocumentID("phase1-test-secret", "org_123", "GB", "P", "1234567"); got != want {
		t.Fatalf("got %s", got)
	}
	// The normalisation: the org id trimmed only; the rest trimmed,
	// upper-cased, whitespace stripped.
	if got := DocumentID("phase1-test-secret", " org_123\t", " g b ", "p", "123 45\n67"); got != want {
		t.Fatalf("normalised: got %s", got)
	}
	for _, other := range []string{
		DocumentID("phase1-test-secret", "ORG_123", "GB", "P", "1234567"),
		DocumentID("phase1-test-secret", "org_123", "GBR", "P", "1234567"),
		DocumentID("phase1-test-secret", "org_123", "GB", "PD", "1234567"),
		DocumentID("other-secret", "org_123", "GB", "P", "1234567"),
	} {
		if other == want {
			t.Fatal("a different input gave the same id")
		}
	}
}

// Uses the issuing state, not the nationality, and the principal number.
func TestMRZDocumentID(t *testing.T) {
	m, err := Parse("P<GBRERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.DocumentID("s", "org_1"), DocumentID("s", "org_1", "GBR", "P", "L898902C3"); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	long := &MRZ{IssuingState: "UTO", DocumentCode: "I", DocumentNumber: "D23145890734", PrincipalDocumentNumber: "D23145890"}
	if long.DocumentID("s", "o") != DocumentID("s", "o", "UTO", "I", "D23145890") {
		t.Fatal("long numbers keep upstream's id")
	}
}

func TestClaims(t *testing.T) {
	m, err := Parse("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10")
	if err != nil {
		t.Fatal(err)
	}
	c := ClaimContext{Secret: "phase1-test-secret", OrgID: "org_123", Now: now2026}
	keys := []string{"document_type_code", "issuing_country_code", "family_name", "given_names", "document_number",
		"nationality_code", "date_of_birth", "sex_marker", "document_expiry_date", "mrz_optional_data",
		"kayle_document_id", "kayle_human_id", "age_over_18", "age_over_052", "age_over_51"}
	got, err := m.Claims(keys, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"document_type_code": "P", "issuing_country_code": "UTO", "family_name": "ERIKSSON", "given_names": "ANNA MARIA",
		"document_number": "L898902C3", "nationality_code": "UTO", "date_of_birth": "1974-08-12", "sex_marker": "F",
		"document_expiry_date": "2012-04-15", "mrz_optional_data": "ZE184226B",
		"kayle_document_id": DocumentID("phase1-test-secret", "org_123", "UTO", "P", "L898902C3"),
		"kayle_human_id":    nil,
		// 51 on 2026-05-20: the 52nd birthday is 2026-08-12.
		"age_over_18": true, "age_over_052": false, "age_over_51": true,
	}
	if len(got) != len(want) {
		t.Fatalf("%d claims", len(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, bad := range []string{"age_over_11", "age_over_131", "age_over_", "document_photo", "nope"} {
		if _, err := m.Claim(bad, c); !errors.Is(err, ErrUnknownClaim) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestAgeGateBirthday(t *testing.T) {
	// Born 2008-05-20: 18 on 2026-05-20 UTC, not the day before.
	m := &MRZ{DateOfBirth: "080520"}
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 5, 19, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC), true},
		// 2026-05-20 01:00 in +02:00 is still the 19th in UTC.
		{time.Date(2026, 5, 20, 1, 0, 0, 0, time.FixedZone("x", 2*3600)), false},
	} {
		got, err := m.AgeOver(18, tc.now)
		if err != nil || got != tc.want {
			t.Errorf("%v: %v %v", tc.now, got, err)
		}
	}
	// An impossible date parses and fails only where an age is computed.
	feb31 := &MRZ{DateOfBirth: "080231"}
	if d, err := feb31.BirthDate(now2026); err != nil || d.String() != "2008-02-31" {
		t.Fatal(d, err)
	}
	if _, err := feb31.AgeOver(18, now2026); !errors.Is(err, ErrImpossibleDate) {
		t.Fatal(err)
	}
}

func TestCenturyRule(t *testing.T) {
	for _, tc := range []struct {
		yy        string
		now       int
		birth, ex string // "" = refused
	}{
		{"26", 2026, "2026", "2026"},
		{"27", 2026, "1927", "2027"},
		// Birth range 1896..2026: 96 is 1996; expiry range 1976..2076.
		{"96", 2026, "1996", "1996"},
		{"76", 2026, "1976", "2076"},
		{"75", 2026, "1975", "2075"},
		{"00", 2026, "2000", "2000"},
		// now 2099: birth 1969..2099, expiry 2049..2149 (C = 2100).
		{"99", 2099, "2099", "2099"},
		{"48", 2099, "2048", "2148"},
	} {
		m := &MRZ{DateOfBirth: tc.yy + "0101", DateOfExpiry: tc.yy + "0101"}
		now := time.Date(tc.now, 1, 1, 0, 0, 0, 0, time.UTC)
		b, err := m.BirthDate(now)
		if err != nil || b.String()[:4] != tc.birth {
			t.Errorf("birth %s@%d: %v %v, want %s", tc.yy, tc.now, b, err, tc.birth)
		}
		e, err := m.ExpiryDate(now)
		if err != nil || e.String()[:4] != tc.ex {
			t.Errorf("expiry %s@%d: %v %v, want %s", tc.yy, tc.now, e, err, tc.ex)
		}
	}
}

func TestAddYearsClamps(t *testing.T) {
	d, err := AddYears(Date{2028, 2, 29}, -10)
	if err != nil || d != (Date{2018, 2, 28}) {
		t.Fatal(d, err)
	}
	if _, err := AddYears(Date{2028, 2, 30}, -10); !errors.Is(err, ErrImpossibleDate) {
		t.Fatal(err)
	}
}

// Upstream's vectors (apps/api/tests/functions/dg1-claims.test.ts, notes §6.2).
func TestFaceMatchThresholdVectors(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d.Add(13 * time.Hour) // any time of the day
	}
	yymmdd := func(s string) string { return strings.ReplaceAll(s, "-", "")[2:] }
	for _, tc := range []struct {
		code, dob, exp, now string
		want                float64
	}{
		{"P", "1990-04-18", "2036-04-19", "2026-04-19", 0.8},
		{"P", "2004-04-18", "2030-04-19", "2025-04-19", 0.6875}, // formula 0.685
		{"P", "2007-04-18", "2027-04-19", "2026-04-19", 0.6875},
		{"P", "2010-04-18", "2027-04-19", "2027-04-19", 0.6875},
		{"P", "2004-04-18", "2028-04-19", "2026-04-19", 0.7}, // ambiguous
		{"I", "1990-04-18", "2036-04-19", "2026-04-19", 0.7}, // TD1/TD2 ID cards
		{"ID", "2007-04-18", "2027-04-19", "2026-04-19", 0.7},
		{"PD", "1990-04-18", "2036-04-19", "2026-04-19", 0.8},
	} {
		m := &MRZ{DocumentCode: tc.code, DateOfBirth: yymmdd(tc.dob), DateOfExpiry: yymmdd(tc.exp)}
		got, err := m.FaceMatchThreshold(day(tc.now))
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v: %v %v", tc, got, err)
		}
	}
	// Between the bounds: adult passport issued 2021-04-19, now
	// 2026-04-19 (1826 of 3652 days), holder 30 at issue: 0.8 - 0.14*f.
	m := &MRZ{DocumentCode: "P", DateOfBirth: "910101", DateOfExpiry: "310419"}
	got, err := m.FaceMatchThreshold(day("2026-04-19"))
	if want := 0.8 - 0.14*1826.0/3652.0; err != nil || math.Abs(got-want) > 1e-12 {
		t.Fatalf("%v %v, want %v", got, err, want)
	}
	bad := &MRZ{DocumentCode: "P", DateOfBirth: "900231", DateOfExpiry: "360419"}
	if _, err := bad.FaceMatchThreshold(day("2026-04-19")); !errors.Is(err, ErrImpossibleDate) {
		t.Fatal(err)
	}
}
