package biometric

import (
	"encoding/json"
	"strings"
	"testing"
)

const goodAnswer = `{"livenessPassed":true,"livenessScore":0.9,"faceMatchPassed":true,"faceMatchScore":0.9,"padPassed":true,"padScore":0.9,"usedFallback":false,"reason":null,"faceMatchAlignment":"mesh"}`

// Answers the contract allows, as the real verifier writes them.
func TestDecodeVerdictAccepts(t *testing.T) {
	cases := map[string]struct {
		raw  string
		want string // fmt of the decoded fields below
	}{
		"good": {goodAnswer, "true true true false 0.9 mesh "},
		"reason absent": {strings.Replace(goodAnswer, `"reason":null,`, ``, 1),
			"true true true false 0.9 mesh "},
		"nulls and fallback": {`{"livenessPassed":false,"livenessScore":null,"faceMatchPassed":false,"faceMatchScore":null,"padPassed":false,"padScore":null,"usedFallback":true,"reason":"face_not_found","faceMatchAlignment":null}`,
			"false false false true <nil>  face_not_found"},
		"bounds 0 and 1": {strings.NewReplacer(`"livenessScore":0.9`, `"livenessScore":0`, `"padScore":0.9`, `"padScore":1.0`, `"faceMatchScore":0.9`, `"faceMatchScore":1e0`).Replace(goodAnswer),
			"true true true false 1 mesh "},
		"yunet, spaces": {strings.NewReplacer(`"mesh"`, ` "yunet" `, `{`, "{\n ", `}`, " }\n").Replace(goodAnswer),
			"true true true false 0.9 yunet "},
		"debug and _perfTrace": {strings.Replace(goodAnswer, `{`, `{"debug":{"frameCount":3,"timeline":[{"x":[1,2]}]},"_perfTrace":[1,"a",null],`, 1),
			"true true true false 0.9 mesh "},
		"reason with escapes": {strings.Replace(goodAnswer, `"reason":null`, `"reason":"a\u00e9\"b"`, 1),
			"true true true false 0.9 mesh a\u00e9\"b"},
	}
	for name, c := range cases {
		v, err := decodeVerdict([]byte(c.raw))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s := "<nil>"
		if v.FaceMatchScore != nil {
			s = strings.TrimSpace(strings.Trim(strings.TrimSpace(jsonNum(*v.FaceMatchScore)), `"`))
		}
		got := strings.Join([]string{b(v.LivenessPassed), b(v.FaceMatchPassed), b(v.PADPassed), b(v.UsedFallback), s, v.FaceMatchAlignment, v.Reason}, " ")
		if got != c.want {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
}

func b(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

func jsonNum(f float64) string { out, _ := json.Marshal(f); return string(out) }

func TestDecodeVerdictRefuses(t *testing.T) {
	cases := map[string]string{
		"empty":             ``,
		"null":              `null`,
		"number too large":  strings.Replace(goodAnswer, `"padScore":0.9`, `"padScore":1e400`, 1),
		"score just over 1": strings.Replace(goodAnswer, `"padScore":0.9`, `"padScore":1.0000000001`, 1),
		"score is bool":     strings.Replace(goodAnswer, `"padScore":0.9`, `"padScore":true`, 1),
		"alignment empty":   strings.Replace(goodAnswer, `"mesh"`, `""`, 1),
		"alignment Mesh":    strings.Replace(goodAnswer, `"mesh"`, `"Mesh"`, 1),
		"bool as string":    strings.Replace(goodAnswer, `"usedFallback":false`, `"usedFallback":"false"`, 1),
		"nested duplicate is fine but top duplicate is not": strings.Replace(goodAnswer, `{`, `{"usedFallback":true,`, 1),
		"invalid UTF-8 key": strings.Replace(goodAnswer, `{`, "{\"\xff\":1,", 1),
		"two objects":       goodAnswer + goodAnswer,
	}
	for name, raw := range cases {
		if v, err := decodeVerdict([]byte(raw)); err == nil {
			t.Errorf("%s: accepted as %+v", name, v)
		}
	}
}

// FuzzDecodeVerdict: no input panics, and whatever is accepted is an
// object encoding/json also reads, with the contract's ranges and the
// same booleans (so the strict reader and the lenient one never disagree
// on an accepted verdict).
func FuzzDecodeVerdict(f *testing.F) {
	f.Add([]byte(goodAnswer))
	f.Add([]byte(`{"livenessPassed":false,"livenessScore":null,"faceMatchPassed":false,"faceMatchScore":null,"padPassed":false,"padScore":null,"usedFallback":true,"reason":"biometric_verifier_unavailable:x","faceMatchAlignment":null}`))
	f.Add([]byte(strings.Replace(goodAnswer, `{`, `{"debug":{"a":[[[[]]]]},`, 1)))
	f.Add([]byte(`{"data":{"ready":true}}`))
	f.Add([]byte(`{"livenessPassed":true,"livenessPassed":false}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = healthReady(raw)
		v, err := decodeVerdict(raw)
		if err != nil {
			return
		}
		var m struct {
			LivenessPassed  bool `json:"livenessPassed"`
			FaceMatchPassed bool `json:"faceMatchPassed"`
			PADPassed       bool `json:"padPassed"`
			UsedFallback    bool `json:"usedFallback"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", raw, err)
		}
		if m.LivenessPassed != v.LivenessPassed || m.FaceMatchPassed != v.FaceMatchPassed || m.PADPassed != v.PADPassed || m.UsedFallback != v.UsedFallback {
			t.Fatalf("%q read differently: %+v vs %+v", raw, v, m)
		}
		for _, s := range []*float64{v.LivenessScore, v.FaceMatchScore, v.PADScore} {
			if s != nil && !(*s >= 0 && *s <= 1) {
				t.Fatalf("score %v accepted", *s)
			}
		}
		if a := v.FaceMatchAlignment; a != "" && a != "mesh" && a != "yunet" {
			t.Fatalf("alignment %q accepted", a)
		}
	})
}
