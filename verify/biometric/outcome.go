package biometric

// The failure codes a verdict maps to (behaviour-verify §5.10).
const (
	FailureLiveness     = "liveness_failed"
	FailureFaceMismatch = "selfie_face_mismatch"
)

// Failure is the failure code of the verdict in §5.9's order, "" when it
// passes: liveness, then PAD (both liveness_failed), then the face match
// (selfie_face_mismatch), where refuseFallback (production) also fails a
// match the verifier made with its fallback path.
func (v Verdict) Failure(refuseFallback bool) string {
	switch {
	case !v.LivenessPassed, !v.PADPassed:
		return FailureLiveness
	case !v.FaceMatchPassed, v.UsedFallback && refuseFallback:
		return FailureFaceMismatch
	}
	return ""
}

// RiskScore is the r of §6.8 for this verdict under Failure's rule: 1 −
// the face score on a pass and on a face mismatch without fallback that
// has a score, 1 otherwise. (The flow keeps greatest(old, r) on failure
// and overwrites with r on success.)
func (v Verdict) RiskScore(refuseFallback bool) float64 {
	switch v.Failure(refuseFallback) {
	case "":
		return 1 - *v.FaceMatchScore // Verify guarantees a score on a pass
	case FailureFaceMismatch:
		if !v.UsedFallback && v.FaceMatchScore != nil {
			return 1 - *v.FaceMatchScore
		}
	}
	return 1
}
