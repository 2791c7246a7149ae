package mrz

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now2026 = time.Date(2026, 5, 20, 9, 30, 0, 0, time.UTC)

// The ICAO 9303 specimens (Part 4 for TD3, Part 6 for TD2, Part 5 for
// TD1: ERIKSSON<<ANNA<MARIA of Utopia, the names upstream's test
// builders use) and published specimens with real check digits.
var specimens = []struct {
	name  string
	lines []string
	want  MRZ // Lines and Format are not compared
	dob   string
	exp   string
}{
	{
		name:  "TD3 ICAO 9303-4",
		lines: []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"},
		want: MRZ{DocumentCode: "P", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
			DocumentNumber: "L898902C3", PrincipalDocumentNumber: "L898902C3", Nationality: "UTO", DateOfBirth: "740812", Sex: "F",
			DateOfExpiry: "120415", OptionalData: "ZE184226B"},
		dob: "1974-08-12", exp: "2012-04-15",
	},
	{
		name:  "TD2 ICAO 9303-6",
		lines: []string{"I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"},
		want: MRZ{DocumentCode: "I", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
			DocumentNumber: "D23145890", PrincipalDocumentNumber: "D23145890", Nationality: "UTO", DateOfBirth: "740812", Sex: "F",
			DateOfExpiry: "120415", OptionalData: ""},
		dob: "1974-08-12", exp: "2012-04-15",
	},
	{
		name:  "TD1 ICAO 9303-5",
		lines: []string{"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"},
		want: MRZ{DocumentCode: "I", IssuingState: "UTO", Surname: "ERIKSSON", GivenNames: "ANNA MARIA",
			DocumentNumber: "D23145890", PrincipalDocumentNumber: "D23145890", Nationality: "UTO", DateOfBirth: "740812", Sex: "F",
			DateOfExpiry: "120415", OptionalData: ""},
		dob: "1974-08-12", exp: "2012-04-15",
	},
	{
		name:  "TD3 German specimen, D<< and a filler number",
		lines: []string{"P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<", "C11T002JM4D<<9608122F1310317<<<<<<<<<<<<<<<6"},
		want: MRZ{DocumentCode: "P", IssuingState: "D", Surname: "MUSTERMANN", GivenNames: "ERIKA",
			DocumentNumber: "C11T002JM", PrincipalDocumentNumber: "C11T002JM", Nationality: "D", DateOfBirth: "960812", Sex: "F",
			DateOfExpiry: "131031", OptionalData: ""},
		dob: "1996-08-12", exp: "2013-10-31",
	},
	{
		name:  "TD3 Dutch specimen, optional data check digit 0",
		lines: []string{"P<NLDMEULENDIJK<<LOES<ALBERTINE<<<<<<<<<<<<<", "XX00000000NLD7110195F1108280123456782<<<<<02"},
		want: MRZ{DocumentCode: "P", IssuingState: "NLD", Surname: "MEULENDIJK", GivenNames: "LOES ALBERTINE",
			DocumentNumber: "XX0000000", PrincipalDocumentNumber: "XX0000000", Nationality: "NLD", DateOfBirth: "711019", Sex: "F",
			DateOfExpiry: "110828", OptionalData: "123456782"},
		dob: "1971-10-19", exp: "2011-08-28",
	},
	{
		name:  "TD3 surname only (no <<)",
		lines: []string{"P<MYSMEGAN<ELLA<RUTH<BIN<ISMAELAR<EZZAHUDDIN", "A001122338MYS0911267M2010153<<<<<<<<<<<<<<<8"},
		want: MRZ{DocumentCode: "P", IssuingState: "MYS", Surname: "MEGAN ELLA RUTH BIN ISMAELAR EZZAHUDDIN", GivenNames: "",
			DocumentNumber: "A00112233", PrincipalDocumentNumber: "A00112233", Nationality: "MYS", DateOfBirth: "091126", Sex: "M",
			DateOfExpiry: "201015", OptionalData: ""},
		dob: "2009-11-26", exp: "2020-10-15",
	},
}

func TestSpecimens(t *testing.T) {
	for _, tc := range specimens {
		t.Run(tc.name, func(t *testing.T) {
			for _, text := range []string{strings.Join(tc.lines, ""), strings.Join(tc.lines, "\n"), strings.Join(tc.lines, "\r\n") + "\r\n"} {
				m, err := Parse(text)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				got := *m
				got.Format, got.Lines = 0, nil
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tc.want)
				}
				if want := Format(map[int]Format{30: TD1, 36: TD2, 44: TD3}[len(tc.lines[0])]); m.Format != want {
					t.Fatalf("format %v, want %v", m.Format, want)
				}
			}
			m, err := ParseDG1(EncodeDG1(strings.Join(tc.lines, "")))
			if err != nil {
				t.Fatalf("ParseDG1: %v", err)
			}
			if d, err := m.BirthDate(now2026); err != nil || d.String() != tc.dob {
				t.Fatalf("birth %v %v, want %s", d, err, tc.dob)
			}
			if d, err := m.ExpiryDate(now2026); err != nil || d.String() != tc.exp {
				t.Fatalf("expiry %v %v, want %s", d, err, tc.exp)
			}
		})
	}
}

// A TD1 number longer than nine characters: nine in place, "<" for the
// check digit, the rest and the check digit over the whole number at the
// start of the optional data (ICAO 9303-5 note j). The check digit of
// "D23145890734" is 9.
func TestTD1LongDocumentNumber(t *testing.T) {
	if CheckDigit("D23145890734") != 9 {
		t.Fatal("check digit of the long number")
	}
	l1 := "I<UTOD23145890<7349<<<<<<<<<<<"
	l2 := "3407127M9507122UTO<<<<<<<<<<<" + string(rune('0'+CheckDigit(l1[5:30]+"3407127"+"9507122"+"<<<<<<<<<<<")))
	l3 := "STEVENSON<<PETER<JOHN<<<<<<<<<"
	m, err := Parse(l1 + l2 + l3)
	if err != nil {
		t.Fatal(err)
	}
	if m.DocumentNumber != "D23145890734" || m.PrincipalDocumentNumber != "D23145890" {
		t.Fatalf("number %q principal %q", m.DocumentNumber, m.PrincipalDocumentNumber)
	}
	// Upstream's optional data keeps the overflow; so does ours.
	if m.OptionalData != "7349" {
		t.Fatalf("optional data %q", m.OptionalData)
	}
	if m.GivenNames != "PETER JOHN" || m.Sex != "M" {
		t.Fatalf("%+v", m)
	}
	// The wrong overflow check digit is refused, naming the field.
	bad := "I<UTOD23145890<7348<<<<<<<<<<<"
	l2b := l2[:29] + string(rune('0'+CheckDigit(bad[5:30]+"3407127"+"9507122"+"<<<<<<<<<<<")))
	_, err = Parse(bad + l2b + l3)
	assertOnly(t, err, FieldDocumentNumber, ErrCheckDigit)
	// A "<" check digit with nothing in the optional data is no number.
	empty := "I<UTOD23145890<<<<<<<<<<<<<<<<"
	_, err = Parse(empty + "3407127M9507122UTO<<<<<<<<<<<" + string(rune('0'+CheckDigit(empty[5:30]+"3407127"+"9507122"+"<<<<<<<<<<<"))) + l3)
	assertOnly(t, err, FieldDocumentNumber, ErrField)
}

// assertOnly checks that err names exactly one field, with that sentinel.
func assertOnly(t *testing.T, err error, field Field, sentinel error) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not Errors", err)
	}
	if len(es) != 1 || es[0].Field != field || !errors.Is(es[0], sentinel) || !errors.Is(err, sentinel) {
		t.Fatalf("errors %v, want only %s %v", err, field, sentinel)
	}
}

// Every check digit of the TD3 specimen, changed, is refused and named.
func TestCheckDigitsVerified(t *testing.T) {
	l1 := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	l2 := "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	cases := []struct {
		pos   int
		field Field
	}{{9, FieldDocumentNumber}, {19, FieldDateOfBirth}, {27, FieldDateOfExpiry}, {42, FieldOptionalData}, {43, FieldComposite}}
	for _, c := range cases {
		for d := byte('0'); d <= '9'; d++ {
			if d == l2[c.pos] {
				continue
			}
			b := []byte(l2)
			b[c.pos] = d
			_, err := Parse(l1 + string(b))
			// Changing a field's check digit also breaks the composite,
			// which covers it; the composite alone breaks only itself.
			var es Errors
			if !errors.As(err, &es) || es[0].Field != c.field || !errors.Is(es[0], ErrCheckDigit) {
				t.Fatalf("pos %d = %c: %v", c.pos, d, err)
			}
			if c.field != FieldComposite && (len(es) != 2 || es[1].Field != FieldComposite) {
				t.Fatalf("pos %d: %v", c.pos, err)
			}
		}
	}
	// A changed data character is caught by its field's digit.
	b := []byte(l2)
	b[3] = '9'
	_, err := Parse(l1 + string(b))
	if !errors.Is(err, ErrCheckDigit) || !strings.Contains(err.Error(), "document_number") {
		t.Fatal(err)
	}
	// The optional data check digit may be "<" or 0 only when it is empty.
	empty := "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<"
	for _, cd := range []string{"<", "0"} {
		s := empty + cd
		s += string(rune('0' + CheckDigit(s[0:10]+s[13:20]+s[21:43])))
		if _, err := Parse(l1 + s); err != nil {
			t.Fatalf("empty optional data, check digit %s: %v", cd, err)
		}
	}
	s := empty + "1"
	s += string(rune('0' + CheckDigit(s[0:10]+s[13:20]+s[21:43])))
	_, err = Parse(l1 + s)
	assertOnly(t, err, FieldOptionalData, ErrCheckDigit)
}

func TestFieldErrors(t *testing.T) {
	td3 := func(l1, l2 string) string {
		return l1 + l2[:43] + string(rune('0'+CheckDigit(l2[0:10]+l2[13:20]+l2[21:43])))
	}
	good1 := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	good2 := "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	cases := []struct {
		name  string
		text  string
		field Field
	}{
		{"digit in names", td3("P<UTOERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", good2), FieldNames},
		{"empty names", td3("P<UTO<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", good2), FieldNames},
		{"digit in state", td3("P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", good2), FieldIssuingState},
		{"filler document code", td3("<<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", good2), FieldDocumentCode},
		{"sex Q", td3(good1, "L898902C36UTO7408122Q1204159ZE184226B<<<<<10"), FieldSex},
		{"digit in nationality", td3(good1, "L898902C36UT07408122F1204159ZE184226B<<<<<10"), FieldNationality},
	}
	for _, c := range cases {
		_, err := Parse(c.text)
		assertOnly(t, err, c.field, ErrField)
	}
	// Month 13: the date's check digit recomputed, so only the value fails.
	l2 := []byte("L898902C36UTO7413122F1204159ZE184226B<<<<<10")
	l2[19] = byte('0' + CheckDigit(string(l2[13:19])))
	_, err := Parse(td3(good1, string(l2)))
	assertOnly(t, err, FieldDateOfBirth, ErrField)
}

func TestFormatErrors(t *testing.T) {
	good := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	for name, text := range map[string]string{
		"empty":       "",
		"87":          good[:87],
		"89":          good + "<",
		"lower case":  strings.ToLower(good),
		"space":       strings.Replace(good, "<", " ", 1),
		"line widths": good[:40] + "\n" + good[40:],
		"utf-8":       strings.Replace(good, "A", "Á", 1)[:88],
		"long":        strings.Repeat("<", 10000),
	} {
		if _, err := Parse(text); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	// ICAO 9303-3 §4.9 worked example: 520727 → 3; and the specimens'.
	for s, want := range map[string]int{"520727": 3, "L898902C3": 6, "740812": 2, "120415": 9, "ZE184226B<<<<<": 1, "": 0, "<<<": 0, "a": -1} {
		if got := CheckDigit(s); got != want {
			t.Errorf("CheckDigit(%q) = %d, want %d", s, got, want)
		}
	}
}

// The reference's name rule, kept for the given_names and family_name
// claims: "<<" splits left to right, inner "<" is a space.
func TestSplitNames(t *testing.T) {
	for in, want := range map[string][2]string{
		"ERIKSSON<<ANNA<MARIA<<<<<<<<": {"ERIKSSON", "ANNA MARIA"},
		"VAN<DER<VELDEN<<GREET<HILDE<": {"VAN DER VELDEN", "GREET HILDE"},
		"SURNAME<<<<<<<<<<":            {"SURNAME", ""},
		"A<<B<<<C<<<":                  {"A", "B  C"},
		"<<ONLY<GIVEN<<":               {"", "ONLY GIVEN"},
	} {
		s, g := splitNames(in)
		if s != want[0] || g != want[1] {
			t.Errorf("%s: %q %q", in, s, g)
		}
	}
}

func BenchmarkParseDG1(b *testing.B) {
	dg1 := EncodeDG1(td3Specimen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDG1(dg1); err != nil {
			b.Fatal(err)
		}
	}
}
