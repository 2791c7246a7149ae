package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// client is one keep-alive HTTP/1.1 connection driven by one goroutine: it
// writes a request and reads the response with net/http's own parser. The
// load generator shares the machine's cores with the server and PostgreSQL,
// and net/http's Client passes every request between three goroutines
// (caller, connection writer, connection reader), CPU taken from the
// server being measured.
type client struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

func newClient(base string) *client { return &client{addr: base[len("http://"):]} }

// do sends a request without a body and returns the response's status,
// having read the whole body.
func (c *client) do(method, path, token string) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.conn, c.br = conn, bufio.NewReader(conn)
	}
	c.buf = append(c.buf[:0], method...)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, path...)
	c.buf = append(c.buf, " HTTP/1.1\r\nHost: "...)
	c.buf = append(c.buf, c.addr...)
	c.buf = append(c.buf, "\r\nAuthorization: Bearer "...)
	c.buf = append(c.buf, token...)
	if method != http.MethodGet {
		c.buf = append(c.buf, "\r\nContent-Length: 0"...)
	}
	c.buf = append(c.buf, "\r\n\r\n"...)
	status, err := c.roundTrip()
	if err != nil {
		c.conn.Close()
		c.conn = nil
	}
	return status, err
}

func (c *client) roundTrip() (int, error) {
	if err := c.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, err
	}
	if _, err := c.conn.Write(c.buf); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.Close {
		return resp.StatusCode, fmt.Errorf("server closed the connection")
	}
	return resp.StatusCode, nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}
