package proto

// Phase is one of the seven tracked phases of §5.6, in order, or PhaseNone
// for a session that has none yet.
type Phase int8

const (
	PhaseNone              Phase = -1
	PhaseMobileConnected   Phase = 0
	PhaseMRZScanning       Phase = 1
	PhaseMRZComplete       Phase = 2
	PhaseNFCReading        Phase = 3
	PhaseNFCComplete       Phase = 4
	PhaseLivenessCapturing Phase = 5
	PhaseLivenessComplete  Phase = 6
)

var phaseNames = [...]string{
	"mobile_connected", "mrz_scanning", "mrz_complete", "nfc_reading",
	"nfc_complete", "liveness_capturing", "liveness_complete",
}

// String is the phase's wire (and database) name; "" for PhaseNone.
func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return ""
}

// ParsePhase maps a phase string to its Phase. tracked is false for any
// other string: the socket answers such a phase "phase_ok" and ignores it.
// The match is exact (upstream does not trim or fold case).
func ParsePhase(s string) (p Phase, tracked bool) {
	for i, n := range phaseNames {
		if s == n {
			return Phase(i), true
		}
	}
	return PhaseNone, false
}

// Transition is what a phase change does (§5.6 step 3).
type Transition uint8

const (
	// TransitionUnchanged: the same phase again. nfc_complete and
	// liveness_complete still re-run their checks.
	TransitionUnchanged Transition = iota + 1
	// TransitionForward: from none to mobile_connected, or i to i+1.
	TransitionForward
	// TransitionRewind: mrz_complete → mrz_scanning, nfc_complete →
	// nfc_reading or liveness_complete → liveness_capturing.
	TransitionRewind
)

// Changed reports whether the phase is to be written.
func (t Transition) Changed() bool { return t == TransitionForward || t == TransitionRewind }

func (t Transition) String() string {
	switch t {
	case TransitionUnchanged:
		return "unchanged"
	case TransitionForward:
		return "forward"
	case TransitionRewind:
		return "rewind"
	}
	return "invalid"
}

// CheckTransition is upstream's phase-state rule: from no phase only to
// mobile_connected; the same phase; one step forward; or one of the three
// rewinds. Anything else is PHASE_OUT_OF_ORDER. Upstream's helper could
// refuse the NFC and liveness rewinds once their tries are used, but its
// socket never passes the counters, so rewinds are always allowed here.
func CheckTransition(from, to Phase) (Transition, error) {
	if to < PhaseMobileConnected || to > PhaseLivenessComplete || from < PhaseNone || from > PhaseLivenessComplete {
		return 0, NewError(CodePhaseOutOfOrder)
	}
	switch {
	case from == PhaseNone:
		if to == PhaseMobileConnected {
			return TransitionForward, nil
		}
	case to == from:
		return TransitionUnchanged, nil
	case to == from+1:
		return TransitionForward, nil
	case isRewind(from, to):
		return TransitionRewind, nil
	}
	return 0, NewError(CodePhaseOutOfOrder)
}

func isRewind(from, to Phase) bool {
	switch {
	case from == PhaseMRZComplete && to == PhaseMRZScanning,
		from == PhaseNFCComplete && to == PhaseNFCReading,
		from == PhaseLivenessComplete && to == PhaseLivenessCapturing:
		return true
	}
	return false
}

// DataPhaseAllowed is the phase gate of §5.7: NFC kinds need the
// connection at nfc_reading or later, the liveness video at
// liveness_capturing or later. Other kinds pass here and are refused by
// the Assembler's kind checks.
func DataPhaseAllowed(phase Phase, kind DataKind) error {
	switch {
	case kind.IsNFC() && phase < PhaseNFCReading:
		return NewError(CodeNFCDataPhaseRequired)
	case kind == KindLivenessVideo && phase < PhaseLivenessCapturing:
		return NewError(CodeLivenessDataPhaseRequired)
	}
	return nil
}
