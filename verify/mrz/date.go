package mrz

import (
	"errors"
	"fmt"
	"time"
)

// ErrImpossibleDate: a date the MRZ grammar allows (day 1-31 in any month)
// but the calendar does not, such as 02-31. Like the reference, the parser
// accepts it; an age or a year shift over it fails.
var ErrImpossibleDate = errors.New("mrz: impossible calendar date")

// Date is a calendar date as the MRZ writes it; Month and Day are as
// written, so the date may be impossible (see Valid).
type Date struct{ Year, Month, Day int }

// String is YYYY-MM-DD, the claims' format.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Valid reports whether the date exists in the proleptic Gregorian
// calendar.
func (d Date) Valid() bool {
	return d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= daysIn(d.Year, d.Month)
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// midnight is the date's UTC midnight; callers check Valid first.
func (d Date) midnight() time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
}

// dateOf is now's UTC calendar date.
func dateOf(now time.Time) Date {
	y, m, d := now.UTC().Date()
	return Date{y, int(m), d}
}

// splitDate reads YYMMDD: six digits, month 1-12, day 1-31 (no per-month
// check, as the reference).
func splitDate(s string) (yy, mm, dd int, err error) {
	if len(s) != 6 {
		return 0, 0, 0, fmt.Errorf("%q: want YYMMDD", s)
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, 0, fmt.Errorf("%q: want six digits", s)
		}
	}
	yy = int(s[0]-'0')*10 + int(s[1]-'0')
	mm = int(s[2]-'0')*10 + int(s[3]-'0')
	dd = int(s[4]-'0')*10 + int(s[5]-'0')
	if mm < 1 || mm > 12 {
		return 0, 0, 0, fmt.Errorf("%q: month %d", s, mm)
	}
	if dd < 1 || dd > 31 {
		return 0, 0, 0, fmt.Errorf("%q: day %d", s, dd)
	}
	return yy, mm, dd, nil
}

// resolveCentury is the reference's rule: with C the century of the
// range's upper bound, the candidates are C-200+YY, C-100+YY, C+YY and
// C+100+YY; the largest inside [lo, hi] wins.
func resolveCentury(s string, lo, hi int) (Date, error) {
	yy, mm, dd, err := splitDate(s)
	if err != nil {
		return Date{}, err
	}
	c := floorDiv(hi, 100) * 100
	for _, y := range []int{c + 100 + yy, c + yy, c - 100 + yy, c - 200 + yy} {
		if y >= lo && y <= hi {
			return Date{y, mm, dd}, nil
		}
	}
	return Date{}, fmt.Errorf("%q: no year in %d..%d", s, lo, hi)
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// BirthDate is the date of birth with its century resolved against now:
// years now-130 to now (a birth year equal to this year is accepted even
// if the day is still to come, as the reference does).
func (m *MRZ) BirthDate(now time.Time) (Date, error) {
	y := now.UTC().Year()
	return resolveCentury(m.DateOfBirth, y-130, y)
}

// ExpiryDate is the date of expiry with its century resolved against now:
// years now-50 to now+50. The reference date is today, not the expiry
// (upstream's published docs say otherwise; its code does this).
func (m *MRZ) ExpiryDate(now time.Time) (Date, error) {
	y := now.UTC().Year()
	return resolveCentury(m.DateOfExpiry, y-50, y+50)
}

// AgeOn is the age in whole years on day at: the year difference, less
// one if the birthday (month, day) has not come yet.
func AgeOn(birth, at Date) (int, error) {
	if !birth.Valid() {
		return 0, fmt.Errorf("%w: %s", ErrImpossibleDate, birth)
	}
	if !at.Valid() {
		return 0, fmt.Errorf("%w: %s", ErrImpossibleDate, at)
	}
	age := at.Year - birth.Year
	if at.Month < birth.Month || at.Month == birth.Month && at.Day < birth.Day {
		age--
	}
	return age, nil
}

// AddYears shifts d by n years, clamping the day to the target month's
// length (2028-02-29 minus ten years is 2018-02-28).
func AddYears(d Date, n int) (Date, error) {
	if !d.Valid() {
		return Date{}, fmt.Errorf("%w: %s", ErrImpossibleDate, d)
	}
	out := Date{d.Year + n, d.Month, d.Day}
	if dim := daysIn(out.Year, out.Month); out.Day > dim {
		out.Day = dim
	}
	return out, nil
}
