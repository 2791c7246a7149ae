package proto

import (
	"errors"
	"testing"
)

func TestParsePhase(t *testing.T) {
	for i, name := range []string{"mobile_connected", "mrz_scanning", "mrz_complete", "nfc_reading", "nfc_complete", "liveness_capturing", "liveness_complete"} {
		p, tracked := ParsePhase(name)
		if !tracked || p != Phase(i) || p.String() != name {
			t.Errorf("ParsePhase(%q) = %v, %v", name, p, tracked)
		}
	}
	// Untracked: answered phase_ok and ignored by the socket.
	for _, s := range []string{"", "NFC_COMPLETE", " mrz_scanning", "nfc_complete ", "selfie_capturing", "done"} {
		if p, tracked := ParsePhase(s); tracked || p != PhaseNone {
			t.Errorf("ParsePhase(%q) = %v, %v; want untracked", s, p, tracked)
		}
	}
}

// Every (from, to) pair of §5.6 step 3.
func TestCheckTransitionTable(t *testing.T) {
	type pair struct{ from, to Phase }
	allowed := map[pair]Transition{
		{PhaseNone, PhaseMobileConnected}:               TransitionForward,
		{PhaseMobileConnected, PhaseMRZScanning}:        TransitionForward,
		{PhaseMRZScanning, PhaseMRZComplete}:            TransitionForward,
		{PhaseMRZComplete, PhaseNFCReading}:             TransitionForward,
		{PhaseNFCReading, PhaseNFCComplete}:             TransitionForward,
		{PhaseNFCComplete, PhaseLivenessCapturing}:      TransitionForward,
		{PhaseLivenessCapturing, PhaseLivenessComplete}: TransitionForward,
		{PhaseMRZComplete, PhaseMRZScanning}:            TransitionRewind,
		{PhaseNFCComplete, PhaseNFCReading}:             TransitionRewind,
		{PhaseLivenessComplete, PhaseLivenessCapturing}: TransitionRewind,
	}
	for p := PhaseMobileConnected; p <= PhaseLivenessComplete; p++ {
		allowed[pair{p, p}] = TransitionUnchanged
	}
	n := 0
	for from := PhaseNone; from <= PhaseLivenessComplete; from++ {
		for to := PhaseMobileConnected; to <= PhaseLivenessComplete; to++ {
			n++
			got, err := CheckTransition(from, to)
			want, ok := allowed[pair{from, to}]
			if !ok {
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != CodePhaseOutOfOrder || pe.Message != "Continue from the current step." {
					t.Errorf("%v → %v = %v, %v; want PHASE_OUT_OF_ORDER", from, to, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("%v → %v = %v, %v; want %v", from, to, got, err, want)
			}
			if got.Changed() != (want != TransitionUnchanged) {
				t.Errorf("%v → %v: Changed() = %v", from, to, got.Changed())
			}
		}
	}
	if n != 56 {
		t.Fatalf("%d pairs", n)
	}
	// Outside the seven, nothing is a transition.
	for _, p := range [][2]Phase{{PhaseNone, PhaseNone}, {PhaseMobileConnected, 7}, {7, 7}, {-2, PhaseMobileConnected}} {
		if _, err := CheckTransition(p[0], p[1]); err == nil {
			t.Errorf("%v → %v allowed", p[0], p[1])
		}
	}
}

func TestDataPhaseGate(t *testing.T) {
	for phase := PhaseNone; phase <= PhaseLivenessComplete; phase++ {
		for k := DataKind(0); k <= 9; k++ {
			err := DataPhaseAllowed(phase, k)
			var want string
			switch {
			case k.IsNFC() && phase < PhaseNFCReading:
				want = CodeNFCDataPhaseRequired
			case k == KindLivenessVideo && phase < PhaseLivenessCapturing:
				want = CodeLivenessDataPhaseRequired
			}
			var pe *Error
			if want == "" && err != nil || want != "" && (!errors.As(err, &pe) || pe.Code != want) {
				t.Errorf("phase %v kind %v: %v, want %q", phase, k, err, want)
			}
		}
	}
	if err := DataPhaseAllowed(PhaseMRZComplete, KindDG1); err.(*Error).Message != "Scan your document when prompted." {
		t.Fatal(err)
	}
	if err := DataPhaseAllowed(PhaseNFCComplete, KindLivenessVideo); err.(*Error).Message != "Follow the head-movement prompts to continue." {
		t.Fatal(err)
	}
}
