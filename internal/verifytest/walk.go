package verifytest

import (
	"context"
	"fmt"

	"github.com/kayle-id/orgs-api/verify/proto"
)

// Walk is one whole verification as the app runs it, without a testing.TB:
// hello, the MRZ and NFC phases with the document's uploads, the liveness
// capture, and the share selection. Load tests run it from many goroutines
// and internal/tools/verifyphone from the command line.
type Walk struct {
	SessionID, Token string
	DeviceID         string // "" = "verifytest-device"
	AppVersion       string // "" = "1.5.0"
	Doc              *Document
	// Video is the liveness upload (biotest.StubVideo(biotest.Accept)
	// against the stub verifier).
	Video []byte
	// Select picks the shared keys from the share request; nil shares
	// every requested field.
	Select func([]proto.ShareField) []string
	// Device, when set, signs the hello and nfc_complete assertions over
	// the handoff's challenges.
	Device                       *Device
	HelloChallenge, NFCChallenge []byte
	// Log, when set, sees every message: "->" sent, "<-" received.
	Log func(dir, msg string)
}

func (w *Walk) log(dir, format string, args ...any) {
	if w.Log != nil {
		w.Log(dir, fmt.Sprintf(format, args...))
	}
}

func (w *Walk) recv(ctx context.Context, c *Client) (proto.ServerMessage, error) {
	m, err := c.Recv(ctx)
	if err != nil {
		return m, err
	}
	w.log("<-", "%s", Describe(m))
	return m, nil
}

// expect reads one message of kind; anything else is an error.
func (w *Walk) expect(ctx context.Context, c *Client, kind proto.ServerKind) (proto.ServerMessage, error) {
	m, err := w.recv(ctx, c)
	if err != nil {
		return m, err
	}
	if m.Kind != kind {
		return m, fmt.Errorf("verifytest: got %s, want message kind %d", Describe(m), kind)
	}
	return m, nil
}

func (w *Walk) ack(ctx context.Context, c *Client, want string) error {
	m, err := w.expect(ctx, c, proto.ServerAck)
	if err == nil && m.Ack != want {
		err = fmt.Errorf("verifytest: ack %q, want %q", m.Ack, want)
	}
	return err
}

func (w *Walk) phase(ctx context.Context, c *Client, name string, assertion []byte) error {
	w.log("->", "phase %s", name)
	return c.Phase(ctx, name, assertion)
}

// Run drives the verification over c to shareReady.
func (w *Walk) Run(ctx context.Context, c *Client) (proto.ShareReady, error) {
	var none proto.ShareReady
	device, version := w.DeviceID, w.AppVersion
	if device == "" {
		device = "verifytest-device"
	}
	if version == "" {
		version = "1.5.0"
	}
	h := proto.Hello{SessionID: w.SessionID, MobileWriteToken: w.Token, DeviceID: device, AppVersion: version}
	if w.Device != nil {
		a, err := w.Device.HelloAssertion(w.SessionID, device, version, w.HelloChallenge)
		if err != nil {
			return none, err
		}
		h.AttestKeyID, h.HelloAssertion = w.Device.KeyID, a
	}
	w.log("->", "hello device=%s app=%s attested=%v", device, version, w.Device != nil)
	if err := c.Hello(ctx, h); err != nil {
		return none, err
	}
	if err := w.ack(ctx, c, proto.AckHelloOK); err != nil {
		return none, err
	}
	m, err := w.expect(ctx, c, proto.ServerActiveAuthChallenge)
	if err != nil {
		return none, err
	}
	for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
		if err := w.phase(ctx, c, ph, nil); err != nil {
			return none, err
		}
		if err := w.ack(ctx, c, proto.AckPhaseOK); err != nil {
			return none, err
		}
	}
	arts, err := w.Doc.Artefacts(m.ActiveAuthChallenge)
	if err != nil {
		return none, err
	}
	for _, u := range arts.Uploads() {
		w.log("->", "data %v (%d bytes)", u.Kind, len(u.Data))
		ack, err := c.Upload(ctx, u.Kind, u.Data, 1000)
		if err != nil {
			return none, err
		}
		w.log("<-", "ack %s", ack)
	}
	var assertion []byte
	if w.Device != nil {
		if assertion, err = w.Device.NFCAssertion(w.SessionID, arts, w.NFCChallenge); err != nil {
			return none, err
		}
	}
	if err := w.phase(ctx, c, "nfc_complete", assertion); err != nil {
		return none, err
	}
	if err := w.ack(ctx, c, proto.AckPhaseOK); err != nil {
		return none, err
	}
	if err := w.phase(ctx, c, "liveness_capturing", nil); err != nil {
		return none, err
	}
	if _, err := w.expect(ctx, c, proto.ServerLivenessChallenge); err != nil {
		return none, err
	}
	if err := w.ack(ctx, c, proto.AckPhaseOK); err != nil {
		return none, err
	}
	w.log("->", "data %v (%d bytes)", proto.KindLivenessVideo, len(w.Video))
	if _, err := c.Upload(ctx, proto.KindLivenessVideo, w.Video, 1<<16); err != nil {
		return none, err
	}
	if err := w.phase(ctx, c, "liveness_complete", nil); err != nil {
		return none, err
	}
	r, err := w.expect(ctx, c, proto.ServerCheckResult)
	if err != nil {
		return none, err
	}
	if r.CheckResult.Outcome != proto.OutcomeConfirmed {
		return none, fmt.Errorf("verifytest: liveness not confirmed: %s", Describe(r))
	}
	req, err := w.expect(ctx, c, proto.ServerShareRequest)
	if err != nil {
		return none, err
	}
	var keys []string
	if w.Select != nil {
		keys = w.Select(req.ShareRequest.Fields)
	} else {
		for _, f := range req.ShareRequest.Fields {
			keys = append(keys, f.Key)
		}
	}
	w.log("->", "shareSelection %v", keys)
	if err := c.Share(ctx, w.SessionID, keys); err != nil {
		return none, err
	}
	ready, err := w.expect(ctx, c, proto.ServerShareReady)
	if err != nil {
		return none, err
	}
	return ready.ShareReady, nil
}
