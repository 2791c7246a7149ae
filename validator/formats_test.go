package validator

import (
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var formatPatterns = map[string]struct {
	re    *regexp.Regexp
	match func(string) bool
}{
	"uuid":      {regexp.MustCompile(openapi3.FormatOfStringForUUIDOfRFC9562), isUUID[string]},
	"email":     {regexp.MustCompile(openapi3.FormatOfStringForEmail), isEmail[string]},
	"date-time": {regexp.MustCompile(openapi3.FormatOfStringDateTime), isDateTime[string]},
}

var formatSeeds = []string{
	"8f14e45f-ceea-467f-a8d5-4c6b1b3a9c11", "8F14E45F-CEEA-467F-A8D5-4C6B1B3A9C11", "00000000-0000-0000-0000-000000000000",
	"ffffffff-ffff-ffff-ffff-ffffffffffff", "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF", "8f14e45f-ceea-967f-a8d5-4c6b1b3a9c11",
	"8f14e45f-ceea-467f-c8d5-4c6b1b3a9c11", "8f14e45f-ceea-067f-a8d5-4c6b1b3a9c11", "8f14e45fceea467fa8d54c6b1b3a9c11", "",
	"8f14e45f-ceea-467f-a8d5-4c6b1b3a9c1g", "00000000-0000-0000-0000-00000000000f",
	"ada@example.com", "a@b", "@b.co", "a@", "a@b@c", "a b@c.d", "a@b c", "a@b,c", "a@<b>", "a@b\tc", "\"a\"@b.co", "a@b\x0bc",
	"2026-11-26T10:00:00Z", "2026-11-26T10:00:00.123456Z", "2026-11-26T10:00:00+01:00", "2026-11-26T10:00:60Z",
	"2026-13-26T10:00:00Z", "2026-11-32T10:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T10:60:00Z", "2026-11-26T10:00:00",
	"2026-11-26T10:00:00.Z", "2026-11-26T10:00:00+24:00", "2026-11-26T10:00:00+01:60", "2026-11-26 10:00:00Z",
	"2026-11-26T10:00:00z", "2026-00-26T10:00:00Z", "2026-11-00T10:00:00Z", "2026-10-26T10:00:00-23:59", "99999-11-26T10:00:00Z",
}

func TestFormatsMatchKinPatterns(t *testing.T) {
	for name, f := range formatPatterns {
		for _, s := range formatSeeds {
			if got, want := f.match(s), f.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the pattern says %v", name, s, got, want)
			}
			if got := map[string]func([]byte) bool{"uuid": isUUID[[]byte], "email": isEmail[[]byte], "date-time": isDateTime[[]byte]}[name]([]byte(s)); got != f.match(s) {
				t.Errorf("%s on bytes and on a string disagree for %q", name, s)
			}
		}
	}
}

func FuzzFormatsMatchKinPatterns(f *testing.F) {
	for _, s := range formatSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, p := range formatPatterns {
			if got, want := p.match(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, the pattern says %v", name, s, got, want)
			}
		}
	})
}
