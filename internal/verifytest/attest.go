package verifytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// Device is an app install's App Attest key, made the way the Secure
// Enclave and Apple's CA would under an attesttest CA.
type Device struct {
	Key *ecdsa.PrivateKey
	// KeyID is the key identifier as the app sends it: standard base64 of
	// SHA-256 of the public point.
	KeyID string
	CA    *attesttest.CA
	// Counter is the last assertion's counter; each assertion takes the
	// next.
	Counter uint32
}

// NewDevice makes a key attested under ca (nil: attesttest.Default()).
func NewDevice(ca *attesttest.CA) *Device {
	if ca == nil {
		ca = attesttest.Default()
	}
	k := attesttest.NewDeviceKey()
	return &Device{Key: k, KeyID: base64.StdEncoding.EncodeToString(attesttest.KeyID(&k.PublicKey)), CA: ca}
}

// Register fetches a challenge and registers the key with the server
// (GET /v1/verify/attest/challenge, POST /v1/verify/attest/register), as
// the app does once per install.
func (d *Device) Register(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ch struct {
		Data struct {
			Challenge string `json:"challenge"`
		} `json:"data"`
	}
	if err := call(ctx, "GET", base+"/v1/verify/attest/challenge", nil, &ch); err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(ch.Data.Challenge)
	if err != nil {
		return fmt.Errorf("verifytest: challenge %q: %w", ch.Data.Challenge, err)
	}
	att, err := attesttest.Attestation(d.Key, sha256.Sum256(raw), attesttest.Options{CA: d.CA})
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"key_id": d.KeyID, "attestation": base64.StdEncoding.EncodeToString(att),
		"challenge": ch.Data.Challenge})
	var ok struct {
		Data struct {
			OK bool `json:"ok"`
		} `json:"data"`
	}
	if err := call(ctx, "POST", base+"/v1/verify/attest/register", body, &ok); err != nil {
		return err
	}
	if !ok.Data.OK {
		return fmt.Errorf("verifytest: registration not ok")
	}
	return nil
}

func call(ctx context.Context, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("verifytest: %s %s: %d %s", method, url, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

// Assert signs clientDataHash with the next counter.
func (d *Device) Assert(cdh [32]byte) ([]byte, error) {
	d.Counter++
	return attesttest.Assertion(d.Key, d.Counter, cdh)
}

// HelloAssertion is the assertion a hello carries: over the session,
// device, app version and the handoff's hello challenge.
func (d *Device) HelloAssertion(sessionID, deviceID, appVersion string, challenge []byte) ([]byte, error) {
	return d.Assert(appattest.HelloClientDataHash(sessionID, deviceID, appVersion, challenge))
}

// Artefacts are the chip data a phone uploads, in upload order.
type Artefacts struct {
	DG1, DG2, SOD, DG14, DG15 []byte
	// ActiveAuth is the challenge, then the chip's signature of it.
	ActiveAuth, ChipAuth []byte
}

// Uploads lists the artefacts with their data kinds, in the order the
// app sends them; empty ones are left out.
func (a *Artefacts) Uploads() []Upload {
	var out []Upload
	for _, u := range []Upload{{proto.KindDG1, a.DG1}, {proto.KindDG2, a.DG2}, {proto.KindSOD, a.SOD}, {proto.KindDG14, a.DG14},
		{proto.KindDG15, a.DG15}, {proto.KindActiveAuth, a.ActiveAuth}, {proto.KindChipAuth, a.ChipAuth}} {
		if len(u.Data) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// Upload is one artefact and its kind.
type Upload struct {
	Kind proto.DataKind
	Data []byte
}

// NFCAssertion is the assertion nfc_complete carries: over the artefacts
// (the AA signature without its challenge) and the handoff's NFC
// challenge.
func (d *Device) NFCAssertion(sessionID string, a *Artefacts, challenge []byte) ([]byte, error) {
	var sig []byte
	if len(a.ActiveAuth) > proto.ActiveAuthChallengeBytes {
		sig = a.ActiveAuth[proto.ActiveAuthChallengeBytes:]
	}
	return d.Assert(appattest.NFCClientDataHash(sessionID, appattest.NFCArtefacts{DG1: a.DG1, DG2: a.DG2, DG14: a.DG14,
		DG15: a.DG15, SOD: a.SOD, CATranscript: a.ChipAuth, AASignature: sig}, challenge))
}
