package webhooks

import (
	"testing"
)

// The notes' four payloads, byte for byte.
func TestPayloadBytes(t *testing.T) {
	const meta = `"metadata":{"contract_version":1,"event_id":"evt_1","verification_session_id":"vs_1"}`
	cases := []struct {
		typ  string
		data any
		want string
	}{
		{EventSucceeded, SucceededData{Claims: Claims{{"family_name", "DOE"}}, SelectedFieldKeys: []string{"family_name"}},
			`{"data":{"claims":{"family_name":"DOE"},"selected_field_keys":["family_name"]},` + meta + `,"type":"verification.session.succeeded"}`},
		// Claims keep the session's order, not alphabetical; unselected
		// fields are null; age gates are booleans.
		{EventSucceeded, SucceededData{Claims: Claims{{"given_name", "Ann <&>"}, {"age_over_18", true}, {"family_name", nil}}, SelectedFieldKeys: []string{"given_name", "age_over_18"}},
			`{"data":{"claims":{"given_name":"Ann <&>","age_over_18":true,"family_name":null},"selected_field_keys":["given_name","age_over_18"]},` + meta + `,"type":"verification.session.succeeded"}`},
		{EventSucceeded, SucceededData{},
			`{"data":{"claims":{},"selected_field_keys":[]},` + meta + `,"type":"verification.session.succeeded"}`},
		{EventFailed, FailedData{FailureCode: "selfie_face_mismatch", NfcTriesUsed: 3, LivenessTriesUsed: 0},
			`{"data":{"failure_code":"selfie_face_mismatch","nfc_tries_used":3,"liveness_tries_used":0},` + meta + `,"type":"verification.session.failed"}`},
		{EventExpired, ExpiredData{},
			`{"data":{},` + meta + `,"type":"verification.session.expired"}`},
		{EventCancelled, CancelledData{Outcome: "not_verified", Reason: "cancelled"},
			`{"data":{"outcome":"not_verified","reason":"cancelled","nfc_tries_used":0,"liveness_tries_used":0},` + meta + `,"type":"verification.session.cancelled"}`},
	}
	for _, c := range cases {
		got, err := Payload(c.typ, "evt_1", "vs_1", c.data)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("Payload(%s)\n got %s\nwant %s", c.typ, got, c.want)
		}
	}
}
