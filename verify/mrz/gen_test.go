package mrz

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// genDoc is a document the generator made: the MRZ lines and the values
// the parser must read from them.
type genDoc struct {
	lines []string
	want  MRZ
	// overflow: a TD1/TD2 number longer than nine characters.
	overflow bool
	// badFields are the fields whose check digit the corruption broke
	// (the composite included when it covers the change); empty for a
	// valid document.
	badFields []Field
	// ambiguous: npm's mrz also accepts an overflow check digit computed
	// with the "<" (see parseDocumentNumberCheckDigit.ts); a corruption
	// that happens to equal it is not a disagreement worth asserting.
	ambiguous bool
}

// States the npm package knows (its generated/states.ts), so that its
// verdict turns on check digits alone.
var genStates = []string{"GBR", "D<<", "FRA", "NLD", "BEL", "USA", "ESP", "PRT", "DEU", "SWE", "UNO", "XXA", "EUE"}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

func randString(r *rand.Rand, chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func pad(s string, n int) string { return s + strings.Repeat("<", n-len(s)) }

func cd(s string) string { return string(rune('0' + CheckDigit(s))) }

func randDate(r *rand.Rand) string {
	return fmt.Sprintf("%02d%02d%02d", r.IntN(100), 1+r.IntN(12), 1+r.IntN(28))
}

// randNames builds "SURNAME<WORD<<GIVEN<NAMES" that fits width with the
// "<<" always present, and the values the parser reads from it.
func randNames(r *rand.Rand, width int) (field, surname, given string) {
	words := func(k int) []string {
		w := make([]string, k)
		for i := range w {
			w[i] = randString(r, letters, 1+r.IntN(8))
		}
		return w
	}
	for {
		sn, gn := words(1+r.IntN(2)), words(r.IntN(4))
		s := strings.Join(sn, "<") + "<<" + strings.Join(gn, "<")
		if len(s) <= width {
			return pad(s, width), strings.Join(sn, " "), strings.Join(gn, " ")
		}
	}
}

// generate makes a valid MRZ with random field values.
func generate(r *rand.Rand) genDoc {
	f := []Format{TD1, TD2, TD3}[r.IntN(3)]
	state, nat := genStates[r.IntN(len(genStates))], genStates[r.IntN(len(genStates))]
	dob, exp := randDate(r), randDate(r)
	sex := []string{"M", "F", "<"}[r.IntN(3)]
	d := genDoc{want: MRZ{Format: f, IssuingState: unfill(state), Nationality: unfill(nat), DateOfBirth: dob, DateOfExpiry: exp,
		Sex: map[string]string{"M": "M", "F": "F", "<": "X"}[sex]}}
	code := []string{"I<", "ID", "IR", "AC", "C<"}[r.IntN(5)]
	if f == TD3 {
		code = []string{"P<", "PD", "PO", "PS"}[r.IntN(4)]
	}
	if f == TD2 && code == "ID" && state == "FRA" {
		// npm reads a 36-character "IDFRA" line as the French national
		// ID card's own layout, not TD2.
		code = "I<"
	}
	d.want.DocumentCode = unfill(code)

	// Document number: 1..9 characters, or for TD1/TD2 sometimes longer.
	numLen := 1 + r.IntN(9)
	maxOverflow := map[Format]int{TD1: 13, TD2: 5}[f]
	if maxOverflow > 0 && r.IntN(3) == 0 {
		numLen = 10 + r.IntN(maxOverflow)
		d.overflow = true
	}
	number := randString(r, alnum, numLen)
	d.want.DocumentNumber = number
	d.want.PrincipalDocumentNumber = number[:min(9, numLen)]

	// The optional data field, after any overflow (overflow, check digit,
	// filler come first).
	optWidth := map[Format]int{TD1: 15, TD2: 7, TD3: 14}[f]
	var opt string
	var principal string
	if d.overflow {
		principal = number[:9]
		opt = number[9:] + cd(number) + "<"
		principal += "<"
	} else {
		principal = pad(number, 9) + cd(pad(number, 9))
	}
	if room := optWidth - len(opt); room > 0 && r.IntN(2) == 0 {
		opt += randString(r, alnum, r.IntN(room+1))
	}
	opt = pad(opt, optWidth)

	switch f {
	case TD3:
		names, sn, gn := randNames(r, 39)
		d.want.Surname, d.want.GivenNames = sn, gn
		optCD := cd(opt)
		if strings.Trim(opt, "<") == "" && r.IntN(2) == 0 {
			optCD = "<"
		}
		l2 := principal + nat + dob + cd(dob) + sex + exp + cd(exp) + opt + optCD
		l2 += cd(l2[0:10] + l2[13:20] + l2[21:43])
		d.lines = []string{code + state + names, l2}
		d.want.OptionalData = unfill(opt)
	case TD2:
		names, sn, gn := randNames(r, 31)
		d.want.Surname, d.want.GivenNames = sn, gn
		l2 := principal + nat + dob + cd(dob) + sex + exp + cd(exp) + opt
		l2 += cd(l2[0:10] + l2[13:20] + l2[21:35])
		d.lines = []string{code + state + names, l2}
		d.want.OptionalData = unfill(opt)
	case TD1:
		names, sn, gn := randNames(r, 30)
		d.want.Surname, d.want.GivenNames = sn, gn
		opt2 := pad(randString(r, alnum, r.IntN(12)), 11)
		l1 := code + state + principal + opt
		l2 := dob + cd(dob) + sex + exp + cd(exp) + nat + opt2
		l2 += cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
		d.lines = []string{l1, l2, names}
		d.want.OptionalData = unfill(opt + opt2)
	}
	d.want.Lines = d.lines
	return d
}

// checkDigitPositions are (line, column, field) of each check digit; the
// composite is last.
func checkDigitPositions(d genDoc) [][3]int {
	fieldIdx := func(f Field) int {
		for i, x := range []Field{FieldDocumentNumber, FieldDateOfBirth, FieldDateOfExpiry, FieldOptionalData, FieldComposite} {
			if x == f {
				return i
			}
		}
		panic(f)
	}
	var out [][3]int
	add := func(line, col int, f Field) { out = append(out, [3]int{line, col, fieldIdx(f)}) }
	switch d.want.Format {
	case TD3:
		add(1, 9, FieldDocumentNumber)
		add(1, 19, FieldDateOfBirth)
		add(1, 27, FieldDateOfExpiry)
		if strings.Trim(d.lines[1][28:42], "<") != "" {
			add(1, 42, FieldOptionalData)
		}
		add(1, 43, FieldComposite)
	case TD2:
		if d.overflow {
			add(1, 28+len(d.want.DocumentNumber)-9, FieldDocumentNumber)
		} else {
			add(1, 9, FieldDocumentNumber)
		}
		add(1, 19, FieldDateOfBirth)
		add(1, 27, FieldDateOfExpiry)
		add(1, 35, FieldComposite)
	case TD1:
		if d.overflow {
			add(0, 15+len(d.want.DocumentNumber)-9, FieldDocumentNumber)
		} else {
			add(0, 14, FieldDocumentNumber)
		}
		add(1, 6, FieldDateOfBirth)
		add(1, 14, FieldDateOfExpiry)
		add(1, 29, FieldComposite)
	}
	return out
}

var cdFields = []Field{FieldDocumentNumber, FieldDateOfBirth, FieldDateOfExpiry, FieldOptionalData, FieldComposite}

// corrupt changes one check digit to another digit. Every check digit but
// TD2's optional-data-less layout is covered by the composite, so that
// breaks too.
func corrupt(r *rand.Rand, d genDoc) genDoc {
	pos := checkDigitPositions(d)
	p := pos[r.IntN(len(pos))]
	line, col, field := p[0], p[1], cdFields[p[2]]
	b := []byte(d.lines[line])
	old := b[col]
	for b[col] == old {
		b[col] = byte('0' + r.IntN(10))
	}
	out := d
	out.lines = append([]string(nil), d.lines...)
	out.lines[line] = string(b)
	out.want.Lines = out.lines
	out.badFields = []Field{field}
	if field != FieldComposite {
		out.badFields = append(out.badFields, FieldComposite)
	}
	if d.overflow && field == FieldDocumentNumber {
		// npm's alternative: the check digit over principal + "<" + rest.
		n := d.want.DocumentNumber
		if CheckDigit(n[:9]+"<"+n[9:]) == int(b[col]-'0') {
			out.ambiguous = true
		}
	}
	return out
}

func genSeed(t *testing.T) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("generator seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0x6d727a))
}

// checkDigitFailures is the set of fields Parse's error names with
// ErrCheckDigit.
func checkDigitFailures(err error) []Field {
	var es Errors
	if !errors.As(err, &es) {
		return nil
	}
	var out []Field
	for _, e := range es {
		if errors.Is(e, ErrCheckDigit) {
			out = append(out, e.Field)
		}
	}
	return out
}

// Generated documents parse to the generated values; a changed check
// digit is refused, naming its field and the composite.
func TestGenerated(t *testing.T) {
	r := genSeed(t)
	for i := 0; i < 3000; i++ {
		d := generate(r)
		m, err := Parse(strings.Join(d.lines, ""))
		if err != nil {
			t.Fatalf("%q: %v", d.lines, err)
		}
		if fmt.Sprintf("%+v", *m) != fmt.Sprintf("%+v", d.want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", d.lines, *m, d.want)
		}
		if m2, err := ParseDG1(EncodeDG1(strings.Join(d.lines, ""))); err != nil || m2.DocumentNumber != m.DocumentNumber {
			t.Fatalf("DG1: %v", err)
		}
		c := corrupt(r, d)
		_, err = Parse(strings.Join(c.lines, "\n"))
		if got := checkDigitFailures(err); fmt.Sprint(got) != fmt.Sprint(c.badFields) {
			t.Fatalf("%q: failures %v, want %v (%v)", c.lines, got, c.badFields, err)
		}
	}
}
