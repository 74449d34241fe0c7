package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Paths (all under Prefix):
//
//	GET    /version                      Version
//	GET    /networks                     []Network
//	POST   /networks          NetworkCreate -> Network
//	GET    /networks/{name}              Network
//	DELETE /networks/{name}?force=true
//	GET    /ports?network=N              []Port
//	POST   /ports             PortAdd    -> Port
//	POST   /ports/attach      PortAttach -> Port
//	DELETE /ports/{name}
//	GET    /fdb?network=N                []FDBEntry
//	POST   /fdb               FDBAdd     -> FDBEntry
//	DELETE /fdb/{mac}?network=N
//	GET    /stats?port=P                 Stats
//	POST   /networks/{name}/connect    NetworkConnect
//	POST   /networks/{name}/disconnect NetworkConnect
//	GET    /routes                       []Route
//	POST   /routes            RouteAdd   -> Route
//	DELETE /routes?prefix=P
//	GET    /arp                          []Neighbor
//	GET    /uplinks                      []Uplink
//	POST   /uplinks           UplinkAdd  -> Uplink
//	DELETE /uplinks/{name}
//	GET    /publish                      []Publish
//	POST   /publish           PublishAdd -> Publish
//	DELETE /publish/{id}
//	GET    /acls?network=N               []ACLRule
//	POST   /acls              ACLAdd     -> ACLRule
//	DELETE /acls/{id}
//	GET    /conntrack?proto=P            []ConntrackEntry
//	DELETE /conntrack                    ConntrackFlush
//	POST   /reload                       Reload

// Client talks to vswitchd over its unix socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// StatusError is an answer of the daemon with a status of 400 or more.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{Socket: socket, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Do sends method path (relative to Prefix) with in as the JSON body (nil for
// none) and decodes the answer into out (nil to ignore it).
func (c *Client) Do(method, path string, in, out any) error {
	resp, err := c.send(context.Background(), c.hc, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer of vswitchd: %v", err)
	}
	if resp.StatusCode >= 400 {
		return statusError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("vswitchd answered something this vswitchctl cannot read (%v): are both the same version?", err)
		}
	}
	return nil
}

// send makes one request with in as its JSON body (nil for none) through
// hc, and says in one line what to do when the daemon cannot be reached.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vswitchd"+Prefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ne *net.OpError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("permission denied on %s: the socket is for root and its group (vswitchd --socket-group): run as root or join that group", c.Socket)
		case errors.As(err, &ne):
			return nil, fmt.Errorf("cannot reach vswitchd at %s (%v): is it running? start it with 'vswitchd' or set --socket/VSWITCH_SOCKET", c.Socket, ne.Err)
		}
		return nil, fmt.Errorf("cannot reach vswitchd at %s: %v", c.Socket, err)
	}
	return resp, nil
}

// statusError is the daemon's 4xx/5xx answer: its {"error": ...} message,
// or the body as it came.
func statusError(status int, data []byte) error {
	var e Error
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return &StatusError{Status: status, Message: e.Error}
	}
	return &StatusError{Status: status, Message: strings.TrimSpace(string(data))}
}
