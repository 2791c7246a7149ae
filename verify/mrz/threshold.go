package mrz

import (
	"strings"
	"time"
)

// Face-match thresholds on the verifier's normalised similarity
// ((cosine + 1) / 2), upstream apps/api/src/v1/verify/dg1-threshold.ts.
const (
	// DefaultFaceMatchThreshold is for non-passports and passports whose
	// validity period cannot be told.
	DefaultFaceMatchThreshold = 0.7
	maxFaceMatchThreshold     = 0.8
	minFaceMatchThreshold     = 0.6875
)

// FaceMatchThreshold is the score the selfie must reach against DG2's
// portrait. A passport's portrait ages with the document, and a child's
// face more, so the bar drops with the document's age and the holder's
// growth since issue; the issue date is guessed from the validity
// (ten years for an adult passport, five for a child's).
func (m *MRZ) FaceMatchThreshold(now time.Time) (float64, error) {
	if !strings.HasPrefix(m.DocumentCode, "P") {
		return DefaultFaceMatchThreshold, nil
	}
	birth, err := m.BirthDate(now)
	if err != nil {
		return 0, err
	}
	expiry, err := m.ExpiryDate(now)
	if err != nil {
		return 0, err
	}
	adultIssue, err := AddYears(expiry, -10)
	if err != nil {
		return 0, err
	}
	childIssue, err := AddYears(expiry, -5)
	if err != nil {
		return 0, err
	}
	adultAge, err := AgeOn(birth, adultIssue)
	if err != nil {
		return 0, err
	}
	childAge, err := AgeOn(birth, childIssue)
	if err != nil {
		return 0, err
	}
	adult, child := adultAge >= 16, childAge < 16
	if adult == child {
		return DefaultFaceMatchThreshold, nil
	}
	issue, issueAge := adultIssue, adultAge
	if child {
		issue, issueAge = childIssue, childAge
	}
	today := dateOf(now)
	ageNow, err := AgeOn(birth, today)
	if err != nil {
		return 0, err
	}
	fraction := clamp(float64(today.midnight().Sub(issue.midnight()))/float64(expiry.midnight().Sub(issue.midnight())), 0, 1)
	drift := clamp(float64(min(ageNow, 25)-min(issueAge, 25))/10, 0, 1)
	return clamp(maxFaceMatchThreshold-0.14*fraction-0.09*drift, minFaceMatchThreshold, maxFaceMatchThreshold), nil
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
