package webhooks

import (
	"bytes"
	"encoding/json"
)

// ContractVersion is metadata.contract_version of every payload.
const ContractVersion = 1

// Payload is the plaintext of a delivery, byte for byte what upstream's
// JSON.stringify makes: compact, members in upstream's order, and no
// escaping of <, > and & (JavaScript does not escape them). data is one of
// the typed data values below.
func Payload(eventType, eventID, sessionID string, data any) ([]byte, error) {
	return marshalJS(payload{
		Data: data,
		Metadata: payloadMetadata{
			ContractVersion:       ContractVersion,
			EventID:               eventID,
			VerificationSessionID: sessionID,
		},
		Type: eventType,
	})
}

type payload struct {
	Data     any             `json:"data"`
	Metadata payloadMetadata `json:"metadata"`
	Type     string          `json:"type"`
}

type payloadMetadata struct {
	ContractVersion       int    `json:"contract_version"`
	EventID               string `json:"event_id"`
	VerificationSessionID string `json:"verification_session_id"`
}

// SucceededData is the data of verification.session.succeeded.
type SucceededData struct {
	// Claims has a key for every requested field: its value when
	// selected, null otherwise.
	Claims            Claims   `json:"claims"`
	SelectedFieldKeys []string `json:"selected_field_keys"`
}

// MarshalJSON keeps selected_field_keys an array when empty.
func (d SucceededData) MarshalJSON() ([]byte, error) {
	type plain SucceededData
	if d.SelectedFieldKeys == nil {
		d.SelectedFieldKeys = []string{}
	}
	return marshalJS(plain(d))
}

// Claim is one member of Claims.
type Claim struct {
	Key   string
	Value any // a string, a bool (age gates) or nil
}

// Claims is a JSON object whose members keep the order of the list
// (upstream builds it in the session's field order).
type Claims []Claim

// MarshalJSON writes the claims as one object, in order.
func (c Claims) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range c {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshalJS(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := marshalJS(m.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// FailedData is the data of verification.session.failed.
type FailedData struct {
	FailureCode       string `json:"failure_code"`
	NfcTriesUsed      int    `json:"nfc_tries_used"`
	LivenessTriesUsed int    `json:"liveness_tries_used"`
}

// ExpiredData is the data of verification.session.expired: {}.
type ExpiredData struct{}

// CancelledData is the data of verification.session.cancelled.
type CancelledData struct {
	Outcome           string `json:"outcome"` // "not_verified"
	Reason            string `json:"reason"`
	NfcTriesUsed      int    `json:"nfc_tries_used"`
	LivenessTriesUsed int    `json:"liveness_tries_used"`
}

// marshalJS is json.Marshal without HTML escaping or the Encoder's
// trailing newline, the bytes JSON.stringify would give. (Go still
// escapes U+2028 and U+2029, which JavaScript leaves as they are; both
// are the same JSON.)
func marshalJS(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
