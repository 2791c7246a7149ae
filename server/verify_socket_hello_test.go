package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// sendHello sends a hello as given (the session id defaults to the
// phone's).
func (p *phone) sendHello(h proto.Hello) {
	p.t.Helper()
	if h.SessionID == "" {
		h.SessionID = p.id
	}
	p.must(p.c.Hello(p.ctx, h))
}

// helloOutcome reads a hello's answer: "" for hello_ok (its challenge
// read too), else the refusal's code (its close read too, 1008 with the
// code as reason).
func (p *phone) helloOutcome() string {
	p.t.Helper()
	m := p.recv()
	switch {
	case m.Kind == proto.ServerAck && m.Ack == proto.AckHelloOK:
		p.expect(proto.ServerActiveAuthChallenge)
		return ""
	case m.Kind == proto.ServerError:
		p.wantClose(flow.ClosePolicy, m.Error.Code)
		return m.Error.Code
	}
	p.t.Fatalf("hello answered %v", m.Kind)
	return ""
}

// claim is the session's claim column.
func (e *verifyEnv) claim(t *testing.T, id string) string {
	t.Helper()
	var c *string
	if err := e.st.DB().QueryRow(e.ph("SELECT claimed_by_connection_id FROM verification_sessions WHERE id = ?"), id).Scan(&c); err != nil {
		t.Fatal(err)
	}
	if c == nil {
		return ""
	}
	return *c
}

func (e *verifyEnv) deviceHash(t *testing.T, id string) string {
	t.Helper()
	var c *string
	if err := e.st.DB().QueryRow(e.ph("SELECT mobile_hello_device_id_hash FROM verification_sessions WHERE id = ?"), id).Scan(&c); err != nil {
		t.Fatal(err)
	}
	if c == nil {
		return ""
	}
	return *c
}

func (e *verifyEnv) hashOf(t *testing.T, device string) string {
	t.Helper()
	secret, err := e.st.VerifySecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tokens.DeviceHash(secret, device)
}

func TestVerifySocketHelloRefusals(t *testing.T) {
	tune := func(c *flow.Config) { c.MinAppVersion = "1.4.1" }
	forEachVerifyDB(t, tune, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "hello")
		id, token := e.handoff(t, o.key, "")
		other, _ := e.handoff(t, o.key, "")
		refused := func(h proto.Hello, code string) {
			t.Helper()
			p := e.dial(t, id)
			p.sendHello(h)
			p.wantHelloRefused(code)
		}
		// 1–2: credentials missing (blank after trimming counts as
		// missing), or naming another session.
		refused(proto.Hello{MobileWriteToken: token, AppVersion: "1.5.0"}, proto.CodeHelloAuthRequired)
		refused(proto.Hello{DeviceID: "device-a", AppVersion: "1.5.0"}, proto.CodeHelloAuthRequired)
		refused(proto.Hello{MobileWriteToken: token, DeviceID: "device-a", SessionID: other}, proto.CodeHelloAuthRequired)
		// 4 before 5: an old app is refused whatever its token.
		refused(proto.Hello{MobileWriteToken: "wrong", DeviceID: "device-a", AppVersion: "1.4.0"}, proto.CodeMinAppVersionRequired)
		refused(proto.Hello{MobileWriteToken: token, DeviceID: "device-a", AppVersion: "1-beta"}, proto.CodeMinAppVersionRequired)
		// 5: a wrong token, and the token a second handoff replaced.
		refused(proto.Hello{MobileWriteToken: flipFirst(token), DeviceID: "device-a", AppVersion: "1.5.0"}, proto.CodeHandoffTokenInvalid)
		id2, first := e.handoff(t, o.key, "")
		a := e.call(t, "POST", "/v1/verify/session/"+id2+"/handoff", "", "")
		wantStatus(t, a, 200)
		var out struct {
			Data struct {
				Token string `json:"mobile_write_token"`
			} `json:"data"`
		}
		a.decode(t, &out)
		if out.Data.Token == first {
			t.Fatal("a second handoff reissued the same token")
		}
		p := e.dial(t, id2)
		p.sendHello(proto.Hello{MobileWriteToken: first, DeviceID: "device-a", AppVersion: "1.5.0"})
		p.wantHelloRefused(proto.CodeHandoffTokenInvalid)
		// None of the refusals touched the session.
		for _, s := range []string{id, id2} {
			if v := e.getSession(t, o.key, s); v.Status != "created" {
				t.Fatalf("after refusals: %s", v.Status)
			}
		}
		// "dev" skips the version check; the rotated token works.
		p = e.dial(t, id2)
		p.sendHello(proto.Hello{MobileWriteToken: out.Data.Token, DeviceID: "device-a", AppVersion: "dev"})
		if code := p.helloOutcome(); code != "" {
			t.Fatalf("dev hello: %s", code)
		}
		// An unconsumed token past its five minutes.
		e.clock.Advance(5*time.Minute + time.Second)
		refused(proto.Hello{MobileWriteToken: token, DeviceID: "device-a", AppVersion: "1.4.1"}, proto.CodeHandoffTokenExpired)
		if v := e.getSession(t, o.key, id); v.Status != "created" {
			t.Fatalf("after the expired token: %s", v.Status)
		}
	})
}

func TestVerifySocketHelloDevices(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "devices")
		id, token := e.handoff(t, o.key, "")
		p1 := e.dial(t, id)
		p1.hello(token, "device-a")
		p1.phase("mrz_scanning")
		p1.ack(proto.AckPhaseOK)
		c1 := e.claim(t, id)
		if c1 == "" || e.deviceHash(t, id) != e.hashOf(t, "device-a") {
			t.Fatalf("after hello: claim %q", c1)
		}
		// The consumed token from another device, even with the first
		// socket gone (and long after the token's five minutes).
		p1.must(p1.c.Close())
		e.clock.Advance(10 * time.Minute)
		p := e.dial(t, id)
		p.hello0(token, "device-b")
		p.wantHelloRefused(proto.CodeHandoffDeviceMismatch)
		// The same device resumes at the row's phase: mrz_complete follows
		// mrz_scanning, nfc_reading would not.
		p2 := e.dial(t, id)
		p2.hello(token, "device-a")
		p2.phase("nfc_reading")
		p2.wantError(proto.CodePhaseOutOfOrder)
		p2.phase("mrz_complete")
		p2.ack(proto.AckPhaseOK)
		c2 := e.claim(t, id)
		if c2 == "" || c2 == c1 {
			t.Fatalf("resume claim %q (first %q)", c2, c1)
		}
		// A resume takes over a live connection; the displaced one's close
		// does not release the new claim.
		p3 := e.dial(t, id)
		p3.hello(token, "device-a")
		c3 := e.claim(t, id)
		if c3 == "" || c3 == c2 {
			t.Fatalf("takeover claim %q (before %q)", c3, c2)
		}
		// The displaced socket writes nothing more: its next change is
		// refused and the socket closed.
		p2.phase("nfc_reading")
		p2.wantError(proto.CodeSessionConnectionActive)
		p2.wantClose(1008, proto.CodeSessionConnectionActive)
		time.Sleep(300 * time.Millisecond)
		if c := e.claim(t, id); c != c3 {
			t.Fatalf("after the displaced socket closed: claim %q, want %q", c, c3)
		}
		if ph := e.phaseOf(t, id); ph != "mrz_complete" {
			t.Fatalf("the displaced socket wrote the phase: %q", ph)
		}
		// The holder's own close releases it.
		p3.must(p3.c.Close())
		deadline := time.Now().Add(5 * time.Second)
		for e.claim(t, id) != "" {
			if time.Now().After(deadline) {
				t.Fatal("the claim outlived its connection")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if e.deviceHash(t, id) != e.hashOf(t, "device-a") {
			t.Fatal("a resume or a refusal rebound the device")
		}
	})
}

// hello0 sends a hello with a current app version and no expectation.
func (p *phone) hello0(token, device string) {
	p.t.Helper()
	p.sendHello(proto.Hello{MobileWriteToken: token, DeviceID: device, AppVersion: "1.5.0"})
}

func TestVerifySocketHelloClaim(t *testing.T) {
	// Closed sockets leave the per-address count as the server sees them
	// go; the rounds should not wait for that.
	forEachVerifyDB(t, nil, flow.Limits{PerAddress: 64}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "claim")
		// A claim held by another connection on a session whose token is
		// not consumed yet: the first hello is refused while the claim is
		// fresh, and passes once it is stale (15 minutes).
		id, token := e.handoff(t, o.key, "")
		e.exec(t, "UPDATE verification_sessions SET claimed_by_connection_id = ?, claimed_at = ? WHERE id = ?",
			"elsewhere", e.clock.Now().Add(-14*time.Minute), id)
		p := e.dial(t, id)
		p.hello0(token, "device-a")
		p.wantHelloRefused(proto.CodeSessionConnectionActive)
		if v := e.getSession(t, o.key, id); v.Status != "created" || e.claim(t, id) != "elsewhere" {
			t.Fatalf("after the refusal: %s, claim %q", v.Status, e.claim(t, id))
		}
		e.exec(t, "UPDATE verification_sessions SET claimed_at = ? WHERE id = ?", e.clock.Now().Add(-16*time.Minute), id)
		e.dial(t, id).hello(token, "device-a")

		// Two sockets of one device racing the same first hello: one
		// consumes; the other resumes (taking over) or is told the session
		// is held. Two devices racing one token: exactly one wins and the
		// session is bound to it.
		const rounds = 6
		for i := range rounds {
			sameDevice := i%2 == 0
			id, token := e.handoff(t, o.key, "")
			devices := []string{"device-a", "device-b"}
			if sameDevice {
				devices[1] = "device-a"
			}
			ps := []*phone{e.dial(t, id), e.dial(t, id)}
			codes := make([]string, 2)
			var wg sync.WaitGroup
			for j := range ps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ps[j].must(ps[j].c.Hello(ps[j].ctx, proto.Hello{SessionID: id, MobileWriteToken: token, DeviceID: devices[j], AppVersion: "1.5.0"}))
				}()
			}
			wg.Wait()
			for j := range ps {
				codes[j] = ps[j].helloOutcome()
			}
			won := 0
			for j, c := range codes {
				switch {
				case c == "":
					won++
				case sameDevice && c == proto.CodeSessionConnectionActive:
				case !sameDevice && (c == proto.CodeHandoffTokenConsumed || c == proto.CodeSessionConnectionActive || c == proto.CodeHandoffDeviceMismatch):
				default:
					t.Fatalf("round %d: socket %d (%s) answered %s", i, j, devices[j], c)
				}
			}
			t.Logf("round %d same device %v: %q", i, sameDevice, codes)
			for _, p := range ps {
				_ = p.c.CloseNow() // the per-address cap counts open sockets
			}
			switch {
			case !sameDevice && won != 1:
				t.Fatalf("two devices, one token: %d hellos passed (%q)", won, codes)
			case sameDevice && won == 0:
				t.Fatalf("one device: no hello passed (%q)", codes)
			}
			winner := devices[0]
			if codes[0] != "" {
				winner = devices[1]
			}
			if e.deviceHash(t, id) != e.hashOf(t, winner) {
				t.Fatalf("round %d: the session is bound to another device than the winner %s", i, winner)
			}
		}
	})
}

// flipFirst is s with its first character changed.
func flipFirst(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

// TestVerifySocketHelloEndedSession: a session that ends between the
// upgrade and the hello answers SESSION_EXPIRED (upstream says
// SESSION_NOT_FOUND; flow/doc.go), whether cancelled or overdue.
func TestVerifySocketHelloEndedSession(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "ended")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.opened()
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+id+"/cancel", o.key, ""), 204)
		p.hello0(token, "device-a")
		p.wantHelloRefused(proto.CodeSessionExpired)

		id, token = e.handoff(t, o.key, "")
		p = e.dial(t, id)
		p.opened()
		e.clock.Advance(61 * time.Minute)
		p.hello0(token, "device-a")
		p.wantHelloRefused(proto.CodeSessionExpired)
		if v := e.getSession(t, o.key, id); v.Status != "expired" {
			t.Fatalf("overdue session after hello: %s", v.Status)
		}
	})
}

// opened waits until the server has accepted the socket for its session
// (the upgrade's 101 comes before that check): a message before hello is
// answered only then.
func (p *phone) opened() {
	p.t.Helper()
	p.phase("mrz_scanning")
	p.wantError(proto.CodeHelloRequired)
}
