package mrz

import (
	"errors"
	"fmt"
	"strings"
)

// Format is the MRZ layout: the size of the document (ICAO 9303-3 §2).
type Format int

const (
	TD1 Format = 1 // ID-1 card, 3 lines of 30 (ICAO 9303-5)
	TD2 Format = 2 // ID-2 card, 2 lines of 36 (ICAO 9303-6)
	TD3 Format = 3 // passport booklet, 2 lines of 44 (ICAO 9303-4)
)

func (f Format) String() string {
	switch f {
	case TD1:
		return "TD1"
	case TD2:
		return "TD2"
	case TD3:
		return "TD3"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Field names a part of the MRZ in errors, in the claim vocabulary where
// there is one.
type Field string

const (
	FieldDocumentCode   Field = "document_code"
	FieldIssuingState   Field = "issuing_state"
	FieldNames          Field = "names"
	FieldDocumentNumber Field = "document_number"
	FieldNationality    Field = "nationality"
	FieldDateOfBirth    Field = "date_of_birth"
	FieldSex            Field = "sex"
	FieldDateOfExpiry   Field = "date_of_expiry"
	FieldOptionalData   Field = "optional_data"
	FieldComposite      Field = "composite"
)

var (
	// ErrFormat: not 90, 72 or 88 characters of A-Z, 0-9 and <.
	ErrFormat = errors.New("mrz: not a TD1, TD2 or TD3 MRZ")
	// ErrCheckDigit: a field's check digit does not match it.
	ErrCheckDigit = errors.New("mrz: check digit mismatch")
	// ErrField: a field holds characters or values its definition forbids.
	ErrField = errors.New("mrz: invalid field")
)

// FieldError is one field that failed; it wraps ErrCheckDigit or ErrField.
type FieldError struct {
	Field  Field
	Err    error
	Detail string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Detail)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every field that failed, in MRZ order; errors.Is and
// errors.As see each one.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// MRZ is a parsed, check-digit-verified machine readable zone. Text
// fields have fillers removed ("<" as separator becomes a space, trailing
// fillers go); dates stay as written (YYMMDD) until a reference date
// resolves their century (BirthDate, ExpiryDate).
type MRZ struct {
	Format Format
	// Lines as read, without separators.
	Lines []string

	DocumentCode string // "P", "PD", "I", "ID", "AC", …
	IssuingState string // "UTO", "D" (for "D<<"), …
	Surname      string // primary identifier
	GivenNames   string // secondary identifier, components space-separated
	// DocumentNumber is the whole number: for a TD1 or TD2 number longer
	// than nine characters, the nine principal ones and the overflow.
	DocumentNumber string
	Nationality    string
	DateOfBirth    string // YYMMDD as written
	Sex            string // "M", "F" or "X" (written "<")
	DateOfExpiry   string // YYMMDD as written
	// OptionalData is upstream's mrz_optional_data: TD3 L2[28:42], TD2
	// L2[28:35], TD1 L1[15:30]+L2[18:29], with every "<" removed. It
	// includes a long document number's overflow, as upstream's does.
	OptionalData string
	// PrincipalDocumentNumber is the first nine characters of the number
	// with fillers removed: what the reference calls the document number
	// (it has no overflow handling). kayle_document_id is computed over
	// it so that ids stay those upstream deployments issued.
	PrincipalDocumentNumber string
}

// Parse reads an MRZ from its text: the 90, 72 or 88 characters as DG1
// holds them, or the lines separated by "\n" (optionally "\r\n") as
// printed. Nothing else is normalised: an MRZ is A-Z, 0-9 and "<" only.
func Parse(text string) (*MRZ, error) {
	// The longest accepted text is TD1 with CRLF separators.
	if len(text) > 3*(30+2) {
		return nil, fmt.Errorf("%w: %d characters", ErrFormat, len(text))
	}
	var lines []string
	if strings.ContainsAny(text, "\r\n") {
		lines = strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	}
	flat := strings.Join(lines, "")
	if lines == nil {
		flat = text
	}
	for i := 0; i < len(flat); i++ {
		if !isMRZChar(flat[i]) {
			return nil, fmt.Errorf("%w: character %q at %d", ErrFormat, flat[i], i)
		}
	}
	var f Format
	var width int
	switch len(flat) {
	case 90:
		f, width = TD1, 30
	case 72:
		f, width = TD2, 36
	case 88:
		f, width = TD3, 44
	default:
		return nil, fmt.Errorf("%w: %d characters", ErrFormat, len(flat))
	}
	if lines != nil {
		for _, l := range lines {
			if len(l) != width {
				return nil, fmt.Errorf("%w: %s line of %d characters, want %d", ErrFormat, f, len(l), width)
			}
		}
	}
	split := make([]string, len(flat)/width)
	for i := range split {
		split[i] = flat[i*width : (i+1)*width]
	}
	return parseLines(f, split)
}

// ParseDG1 reads DG1's TLV and the MRZ inside it.
func ParseDG1(dg1 []byte) (*MRZ, error) {
	text, err := MRZFromDG1(dg1)
	if err != nil {
		return nil, err
	}
	return Parse(string(text))
}

func isMRZChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<'
}

// CheckDigit is ICAO 9303-3 §4.9: weights 7, 3, 1 repeating; digits are
// their value, A-Z are 10-35, "<" is 0; the sum modulo 10. It returns -1
// for a character outside the MRZ set.
func CheckDigit(s string) int {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		case c == '<':
			v = 0
		default:
			return -1
		}
		sum += v * weights[i%3]
	}
	return sum % 10
}

// unfill is upstream's rule: remove every filler.
func unfill(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "<", "")) }

// fillerToSpace turns "<" separators into spaces and drops the padding.
func fillerToSpace(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "<", " ")) }

type parser struct {
	errs Errors
}

func (p *parser) fail(field Field, err error, format string, a ...any) {
	p.errs = append(p.errs, &FieldError{Field: field, Err: err, Detail: fmt.Sprintf(format, a...)})
}

// check verifies the check digit c over data.
func (p *parser) check(field Field, data string, c byte) {
	want := CheckDigit(data)
	if c < '0' || c > '9' || int(c-'0') != want {
		p.fail(field, ErrCheckDigit, "%q over %q, want %d", c, data, want)
	}
}

func (p *parser) alpha(field Field, s string) {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'A' && s[i] <= 'Z' || s[i] == '<') {
			p.fail(field, ErrField, "%q: letters and < only", s)
			return
		}
	}
}

func (p *parser) date(field Field, s string) {
	if _, _, _, err := splitDate(s); err != nil {
		p.fail(field, ErrField, "%v", err)
	}
}

func parseLines(f Format, l []string) (*MRZ, error) {
	p := &parser{}
	m := &MRZ{Format: f, Lines: l}
	// Shared by all three: ICAO 9303-4/5/6 line 1, positions 1-5.
	m.DocumentCode = unfill(l[0][0:2])
	if l[0][0] == '<' {
		p.fail(FieldDocumentCode, ErrField, "%q starts with a filler", l[0][0:2])
	}
	p.alpha(FieldDocumentCode, l[0][0:2])
	m.IssuingState = unfill(l[0][2:5])
	p.alpha(FieldIssuingState, l[0][2:5])

	var names, number, numberCD, nat, dob, dobCD, sex, exp, expCD, composite string
	var compositeData string
	switch f {
	case TD3:
		names = l[0][5:44]
		number, numberCD = l[1][0:9], l[1][9:10]
		nat, dob, dobCD, sex, exp, expCD = l[1][10:13], l[1][13:19], l[1][19:20], l[1][20:21], l[1][21:27], l[1][27:28]
		opt, optCD := l[1][28:42], l[1][42]
		m.OptionalData = unfill(opt)
		// Part 4 note: the optional data check digit may be "<" (or 0)
		// when the optional data is all fillers.
		if strings.Trim(opt, "<") == "" {
			if optCD != '<' && optCD != '0' {
				p.fail(FieldOptionalData, ErrCheckDigit, "%q over empty optional data, want < or 0", optCD)
			}
		} else {
			p.check(FieldOptionalData, opt, optCD)
		}
		composite = l[1][43:44]
		compositeData = l[1][0:10] + l[1][13:20] + l[1][21:43]
		m.DocumentNumber = unfill(number)
		p.check(FieldDocumentNumber, number, numberCD[0])
	case TD2:
		names = l[0][5:36]
		number, numberCD = l[1][0:9], l[1][9:10]
		nat, dob, dobCD, sex, exp, expCD = l[1][10:13], l[1][13:19], l[1][19:20], l[1][20:21], l[1][21:27], l[1][27:28]
		opt := l[1][28:35]
		m.OptionalData = unfill(opt)
		composite = l[1][35:36]
		compositeData = l[1][0:10] + l[1][13:20] + l[1][21:35]
		m.DocumentNumber = p.documentNumber(number, numberCD[0], opt)
	case TD1:
		names = l[2]
		number, numberCD = l[0][5:14], l[0][14:15]
		dob, dobCD, sex, exp, expCD, nat = l[1][0:6], l[1][6:7], l[1][7:8], l[1][8:14], l[1][14:15], l[1][15:18]
		m.OptionalData = unfill(l[0][15:30] + l[1][18:29])
		composite = l[1][29:30]
		compositeData = l[0][5:30] + l[1][0:7] + l[1][8:15] + l[1][18:29]
		m.DocumentNumber = p.documentNumber(number, numberCD[0], l[0][15:30])
	}
	m.PrincipalDocumentNumber = unfill(number)
	if m.DocumentNumber == "" {
		p.fail(FieldDocumentNumber, ErrField, "empty")
	}

	m.Surname, m.GivenNames = splitNames(names)
	p.alpha(FieldNames, names)
	if m.Surname == "" && m.GivenNames == "" {
		p.fail(FieldNames, ErrField, "empty")
	}
	m.Nationality = unfill(nat)
	p.alpha(FieldNationality, nat)

	m.DateOfBirth = dob
	p.date(FieldDateOfBirth, dob)
	p.check(FieldDateOfBirth, dob, dobCD[0])
	switch sex {
	case "M", "F", "X":
		m.Sex = sex
	case "<":
		m.Sex = "X"
	default:
		p.fail(FieldSex, ErrField, "%q: M, F, X or <", sex)
	}
	m.DateOfExpiry = exp
	p.date(FieldDateOfExpiry, exp)
	p.check(FieldDateOfExpiry, exp, expCD[0])
	p.check(FieldComposite, compositeData, composite[0])

	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return m, nil
}

// documentNumber reads a TD1 or TD2 number. A "<" in place of its check
// digit means the number is longer than nine characters: the rest opens
// the optional data, followed by the check digit over the whole number
// and a filler (ICAO 9303-5 §4.2.2 note j; 9303-6 §4.2.2 note j).
func (p *parser) documentNumber(principal string, cd byte, optional string) string {
	if cd != '<' {
		p.check(FieldDocumentNumber, principal, cd)
		return unfill(principal)
	}
	if strings.Contains(principal, "<") {
		p.fail(FieldDocumentNumber, ErrField, "%q: a truncated number fills all nine positions", principal)
		return unfill(principal)
	}
	end := strings.IndexByte(optional, '<')
	if end < 0 {
		end = len(optional)
	}
	// At least one overflow character and the check digit.
	if end < 2 {
		p.fail(FieldDocumentNumber, ErrField, "overflow %q holds no number and check digit", optional[:end])
		return principal
	}
	full := principal + optional[:end-1]
	p.check(FieldDocumentNumber, full, optional[end-1])
	return full
}

// splitNames is the reference's rule: each "<<", left to right, separates
// components; the first is the surname; the rest, joined by spaces, are
// the given names; "<" inside a component is a space.
func splitNames(s string) (surname, given string) {
	parts := strings.Split(s, "<<")
	surname = fillerToSpace(parts[0])
	given = fillerToSpace(strings.Join(parts[1:], " "))
	return surname, given
}
