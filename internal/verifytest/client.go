// Package verifytest is a phone for tests: a client of the verify socket
// that speaks the protocol with verify/proto's encoders (the messages
// upstream's apps send), and a synthetic document to verify, made by
// verify/document/doctest under a CSCA the caller imports into the server's
// trust store.
package verifytest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/kayle-id/orgs-api/verify/proto"
)

// Client is one socket to the server.
type Client struct {
	ws      *websocket.Conn
	Timeout time.Duration
}

// Dial opens the socket of a session; base is the server's http(s) URL.
func Dial(ctx context.Context, base, sessionID string, header http.Header) (*Client, error) {
	u := strings.Replace(base, "http", "ws", 1) + "/v1/verify/session/" + sessionID
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	return &Client{ws: ws, Timeout: 30 * time.Second}, nil
}

// Close closes the socket normally.
func (c *Client) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }

// CloseNow drops the connection without a close handshake.
func (c *Client) CloseNow() error { return c.ws.CloseNow() }

// SendFrame sends raw bytes as one binary message.
func (c *Client) SendFrame(ctx context.Context, frame []byte) error {
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// SendText sends a text message.
func (c *Client) SendText(ctx context.Context, s string) error {
	return c.ws.Write(ctx, websocket.MessageText, []byte(s))
}

func (c *Client) send(ctx context.Context, frame []byte, err error) error {
	if err != nil {
		return err
	}
	return c.SendFrame(ctx, frame)
}

// Hello sends a hello.
func (c *Client) Hello(ctx context.Context, h proto.Hello) error {
	f, err := proto.EncodeHello(h)
	return c.send(ctx, f, err)
}

// Phase sends a phase update.
func (c *Client) Phase(ctx context.Context, phase string, assertion []byte) error {
	f, err := proto.EncodePhase(proto.PhaseUpdate{Phase: phase, AttestAssertion: assertion})
	return c.send(ctx, f, err)
}

// Data sends one data message.
func (c *Client) Data(ctx context.Context, d proto.DataPayload) error {
	f, err := proto.EncodeData(d)
	return c.send(ctx, f, err)
}

// Share sends a share selection.
func (c *Client) Share(ctx context.Context, sessionID string, keys []string) error {
	f, err := proto.EncodeShareSelection(proto.ShareSelection{SessionID: sessionID, SelectedFieldKeys: keys})
	return c.send(ctx, f, err)
}

// CloseError is how the server ended the socket.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("socket closed: %d %q", e.Code, e.Reason) }

// Recv reads the next server message; a close is a *CloseError.
func (c *Client) Recv(ctx context.Context) (proto.ServerMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return proto.ServerMessage{}, &CloseError{Code: int(ce.Code), Reason: ce.Reason}
		}
		return proto.ServerMessage{}, err
	}
	if typ != websocket.MessageBinary {
		return proto.ServerMessage{}, fmt.Errorf("verifytest: a %v message from the server", typ)
	}
	return proto.DecodeServer(b)
}

// Upload sends an artefact in chunks of at most chunk bytes, reading each
// ack; it answers the last one.
func (c *Client) Upload(ctx context.Context, kind proto.DataKind, data []byte, chunk int) (string, error) {
	n := max(1, (len(data)+chunk-1)/chunk)
	var last string
	for i := range n {
		part := data[i*chunk : min(len(data), (i+1)*chunk)]
		if err := c.Data(ctx, proto.DataPayload{Kind: kind, Raw: part, Total: 1, ChunkIndex: uint32(i), ChunkTotal: uint32(n)}); err != nil {
			return "", err
		}
		m, err := c.Recv(ctx)
		if err != nil {
			return "", err
		}
		if m.Kind != proto.ServerAck {
			return "", fmt.Errorf("verifytest: upload of %v chunk %d answered %s", kind, i, Describe(m))
		}
		last = m.Ack
	}
	return last, nil
}

// Describe is a server message in a line, for test failures.
func Describe(m proto.ServerMessage) string {
	switch m.Kind {
	case proto.ServerAck:
		return "ack " + m.Ack
	case proto.ServerError:
		return "error " + m.Error.Code + " " + m.Error.Message
	case proto.ServerCheckResult:
		r := m.CheckResult
		return fmt.Sprintf("checkResult outcome=%d %s retry=%v failed=%d nfc=%d liveness=%d", r.Outcome, r.ReasonCode,
			r.RetryAllowed, r.FailedCheck, r.RemainingNFCRetries, r.RemainingLivenessRetries)
	case proto.ServerShareRequest:
		return fmt.Sprintf("shareRequest %d fields", len(m.ShareRequest.Fields))
	case proto.ServerShareReady:
		return fmt.Sprintf("shareReady %v", m.ShareReady.SelectedFieldKeys)
	case proto.ServerActiveAuthChallenge:
		return fmt.Sprintf("activeAuthChallenge %x", m.ActiveAuthChallenge)
	case proto.ServerLivenessChallenge:
		return fmt.Sprintf("livenessChallenge %x", m.LivenessChallenge.ChallengeNonce)
	}
	return fmt.Sprintf("message kind %d", m.Kind)
}
