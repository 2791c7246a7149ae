package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/verifytest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// forEachVerifyDB runs fn on a verify server per database, in parallel.
func forEachVerifyDB(t *testing.T, tune func(*flow.Config), limits flow.Limits, fn func(t *testing.T, e *verifyEnv)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newVerifyEnvLimits(t, kind, tune, limits))
		})
	}
}

// wantRefused reads what a socket refused at upgrade answers (§5.1): one
// error with its description, then close 1000 with the description as
// reason.
func (p *phone) wantRefused(code string) {
	p.t.Helper()
	if e := p.wantError(code); e.Message != proto.Describe(code) || e.Message == "" {
		p.t.Fatalf("%s message %q", code, e.Message)
	}
	p.wantClose(flow.CloseNormal, proto.Describe(code))
}

// wantHelloRefused reads a hello refusal (§5.5): error code with its
// description, then close 1008 with the code as reason.
func (p *phone) wantHelloRefused(code string) {
	p.t.Helper()
	if e := p.wantError(code); e.Message != proto.Describe(code) {
		p.t.Fatalf("%s message %q", code, e.Message)
	}
	p.wantClose(flow.ClosePolicy, code)
}

// send writes raw bytes as a binary frame.
func (p *phone) send(frame []byte) { p.t.Helper(); p.must(p.c.SendFrame(p.ctx, frame)) }

func TestVerifySocketUpgrade(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "upgrade")
		// A malformed id: the upgrade completes and the socket says why.
		e.dial(t, "vs_nope").wantRefused(proto.CodeInvalidSessionID)
		e.dial(t, "vs_"+strings.Repeat("a", 63)+"-").wantRefused(proto.CodeInvalidSessionID)
		// Well formed, unknown.
		e.dial(t, "vs_"+strings.Repeat("a", 64)).wantRefused(proto.CodeSessionNotFound)

		// Ended: cancelled by the relying party.
		cancelled, _ := e.handoff(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+cancelled+"/cancel", o.key, ""), 204)
		e.dial(t, cancelled).wantRefused(proto.CodeSessionExpired)

		// Not an upgrade: the handlers' 426 in the envelope.
		live, _ := e.handoff(t, o.key, "")
		a := e.call(t, "GET", "/v1/verify/session/"+live, "", "")
		var env struct {
			Data  json.RawMessage
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(a.body, &env); err != nil || a.status != http.StatusUpgradeRequired ||
			env.Error.Code != proto.CodeWebSocketRequired || env.Error.Message != "This endpoint requires a WebSocket connection." ||
			string(env.Data) != "null" {
			t.Fatalf("no upgrade: %d %s", a.status, a.body)
		}

		// Overdue: past its expiry, the socket ends it (expire on touch).
		e.clock.Advance(61 * time.Minute)
		e.dial(t, live).wantRefused(proto.CodeSessionExpired)
		if v := e.getSession(t, o.key, live); v.Status != "expired" {
			t.Fatalf("overdue session after the socket: %s", v.Status)
		}
	})
}

func TestVerifySocketFraming(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "framing")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		// Before hello, every other message is refused and the socket stays.
		p.phase("mrz_scanning")
		wantMessage(t, p.wantError(proto.CodeHelloRequired), "Send hello before other messages.")
		p.must(p.c.Data(p.ctx, proto.DataPayload{Kind: proto.KindDG1, Raw: []byte{1}}))
		p.wantError(proto.CodeHelloRequired)
		p.must(p.c.Share(p.ctx, id, []string{"given_names"}))
		p.wantError(proto.CodeHelloRequired)
		// A text frame, garbage and an empty frame: errors, socket open.
		p.must(p.c.SendText(p.ctx, "hello"))
		wantMessage(t, p.wantError(proto.CodeInvalidMessage), "Binary protobuf messages are required.")
		p.send([]byte("not capnp at all"))
		wantMessage(t, p.wantError(proto.CodeDecodeFailed), "Failed to decode protobuf message.")
		p.send(nil)
		p.wantError(proto.CodeDecodeFailed)
		// Exactly the limit is still read (and fails to decode).
		p.send(bytes.Repeat([]byte{0xff}, proto.MaxFrameBytes))
		p.wantError(proto.CodeDecodeFailed)
		// The socket still works: hello passes.
		ch := p.hello(token, "device-a")
		if len(ch) != proto.ActiveAuthChallengeBytes {
			t.Fatalf("challenge %x", ch)
		}
		// One byte over: FRAME_TOO_LARGE, then close 1009.
		p.send(make([]byte, proto.MaxFrameBytes+1))
		wantMessage(t, p.wantError(proto.CodeFrameTooLarge), "Verify frame exceeds the maximum allowed size.")
		p.wantClose(flow.CloseTooBig, proto.CodeFrameTooLarge)
	})
}

func wantMessage(t *testing.T, e proto.Error, msg string) {
	t.Helper()
	if e.Message != msg {
		t.Fatalf("%s message %q, want %q", e.Code, e.Message, msg)
	}
}

func TestVerifySocketLimits(t *testing.T) {
	limits := flow.Limits{PerAddress: 2, HelloTimeout: time.Second, IdleTimeout: 4 * time.Second}
	forEachVerifyDB(t, nil, limits, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "limits")
		id, token := e.handoff(t, o.key, "")
		// Two sockets from loopback are allowed; the third is refused at
		// upgrade, before any WebSocket exists.
		dialed := time.Now()
		a, b := e.dial(t, id), e.dial(t, id)
		b.hello(token, "device-a") // b says hello in time
		ctx := context.Background()
		_, resp, err := websocket.Dial(ctx, strings.Replace(e.srv.URL, "http", "ws", 1)+"/v1/verify/session/"+id, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third socket: %v %+v", err, resp)
		}
		// A socket that never says hello is closed after HelloTimeout
		// (1008), which frees its place.
		a.wantClose(flow.ClosePolicy, "idle")
		if d := time.Since(dialed); d < limits.HelloTimeout || d > limits.HelloTimeout+5*time.Second {
			t.Fatalf("closed after %v", d)
		}
		// b outlives the timeout.
		time.Sleep(limits.HelloTimeout + 200*time.Millisecond)
		b.phase("mrz_scanning")
		b.ack(proto.AckPhaseOK)
		// Then silent for IdleTimeout, b is closed too.
		idle := time.Now()
		b.wantClose(flow.ClosePolicy, "idle")
		if d := time.Since(idle); d < limits.IdleTimeout*9/10 {
			t.Fatalf("idle close after %v", d)
		}
		// a's place is free again once the server has seen it go.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := verifytest.Dial(ctx, e.srv.URL, id, nil)
			if err == nil {
				_ = c.CloseNow()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the freed place: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// A shutdown closes the open sockets with 1001 (going away: the app
// reconnects elsewhere), refuses new ones, and waits for them.
func TestVerifySocketShutdown(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "shutdown")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.hello(token, "device-a")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.sockets.Shutdown(ctx) }()
		// The phone answers the close, as a client does.
		p.wantClose(1001, "")
		if err := <-done; err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		// The claim went with the socket, and a new socket is refused.
		if c := e.claim(t, id); c != "" {
			t.Fatalf("claim %q after shutdown", c)
		}
		if _, err := verifytest.Dial(context.Background(), e.srv.URL, id, nil); err == nil {
			t.Fatal("a socket opened after shutdown")
		}
	})
}

// Every socket's uploads together stay within the server's buffer budget:
// a second session's upload beyond it is refused, and fits again once the
// first socket has closed.
func TestVerifySocketBufferBudget(t *testing.T) {
	forEachVerifyDB(t, func(c *flow.Config) { c.BufferBudget = 300 << 10 }, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "budget")
		open := func(device string) *phone {
			id, token := e.handoff(t, o.key, "")
			p := e.dial(t, id)
			p.hello(token, device)
			for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
				p.phase(ph)
				p.ack(proto.AckPhaseOK)
			}
			return p
		}
		chunk := bytes.Repeat([]byte{1}, 200<<10)
		first, second := open("device-a"), open("device-b")
		first.data(proto.DataPayload{Kind: proto.KindDG2, Raw: chunk, ChunkTotal: 2}, proto.AckDataChunk(proto.KindDG2, 0, 0))
		second.data(proto.DataPayload{Kind: proto.KindDG2, Raw: chunk, ChunkTotal: 2}, proto.CodeTransferTooLarge)
		first.must(first.c.Close())
		deadline := time.Now().Add(5 * time.Second)
		for {
			p := proto.DataPayload{Kind: proto.KindDG2, Raw: chunk, ChunkTotal: 2}
			second.must(second.c.Data(second.ctx, p))
			if m := second.recv(); m.Kind == proto.ServerAck {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the budget was not given back: %s", describe(m))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
