package biometric

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The answer's keys (upstream biometricVerifierResponseSchema). Required
// keys must be present; the nullable ones may be null.
var answerKeys = map[string]struct{ required bool }{
	"livenessPassed":     {true},
	"livenessScore":      {true},
	"faceMatchPassed":    {true},
	"faceMatchScore":     {true},
	"padPassed":          {true},
	"padScore":           {true},
	"usedFallback":       {true},
	"faceMatchAlignment": {true},
	"reason":             {false},
	// Development-only diagnostics, accepted and not read.
	"debug":      {false},
	"_perfTrace": {false},
}

// decodeVerdict reads a /verify answer strictly. encoding/json alone
// would match keys case-insensitively, let a duplicate key override the
// first, turn null into false and ignore unknown keys; a verdict read
// differently from how its author meant it is refused instead.
func decodeVerdict(raw []byte) (Verdict, error) {
	fields, err := topLevel(raw)
	if err != nil {
		return Verdict{}, err
	}
	for k, spec := range answerKeys {
		if _, ok := fields[k]; spec.required && !ok {
			return Verdict{}, fmt.Errorf("answer lacks %q", k)
		}
	}
	var v Verdict
	for k, val := range fields {
		var err error
		switch k {
		case "livenessPassed":
			v.LivenessPassed, err = jsonBool(val)
		case "faceMatchPassed":
			v.FaceMatchPassed, err = jsonBool(val)
		case "padPassed":
			v.PADPassed, err = jsonBool(val)
		case "usedFallback":
			v.UsedFallback, err = jsonBool(val)
		case "livenessScore":
			v.LivenessScore, err = jsonScore(val)
		case "faceMatchScore":
			v.FaceMatchScore, err = jsonScore(val)
		case "padScore":
			v.PADScore, err = jsonScore(val)
		case "reason":
			v.Reason, err = jsonOptString(val)
		case "faceMatchAlignment":
			switch string(val) {
			case `"mesh"`, `"yunet"`:
				v.FaceMatchAlignment = string(val[1 : len(val)-1])
			case "null":
			default:
				err = errors.New(`not "mesh", "yunet" or null`)
			}
		case "debug", "_perfTrace":
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("answer's %q: %w", k, err)
		}
	}
	return v, nil
}

// topLevel splits a JSON object into its members, refusing duplicate
// keys, trailing data and anything but an object.
func topLevel(raw []byte) (map[string]json.RawMessage, error) {
	if !json.Valid(raw) {
		return nil, errors.New("answer is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("answer is not a JSON object")
	}
	fields := make(map[string]json.RawMessage, len(answerKeys))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string) // json.Valid held: object keys are strings
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("answer repeats %q", k)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		fields[k] = val
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the answer's object")
	}
	return fields, nil
}

func jsonBool(raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// jsonScore is a number in 0–1, or nil for null.
func jsonScore(raw json.RawMessage) (*float64, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return nil, errors.New("not a number or null")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, errors.New("not a representable number")
	}
	if f < 0 || f > 1 {
		return nil, fmt.Errorf("%v is not in 0–1", f)
	}
	return &f, nil
}

// jsonOptString is a string, or "" for null.
func jsonOptString(raw json.RawMessage) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string or null")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// healthReady says whether a /health answer is an object whose data is
// an object whose ready is true (upstream parseContainerReady).
func healthReady(raw []byte) bool {
	fields, err := topLevel(raw)
	if err != nil {
		return false
	}
	data, err := topLevel(fields["data"])
	if err != nil {
		return false
	}
	ready, err := jsonBool(data["ready"])
	return err == nil && ready
}
