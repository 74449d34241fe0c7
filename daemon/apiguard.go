package daemon

// The API's guard: who may call it, and how much and what it reads.
//
// The socket file is mode 0660 root:GROUP, so the kernel already refuses a
// connect(2) from anyone else. The guard checks again on every connection,
// from the credentials the kernel recorded at connect time (SO_PEERCRED,
// SO_PEERGROUPS), because the file mode alone is easy to lose: a chmod by
// an operator, a socket bind-mounted into a container, a descriptor passed
// on. Whoever is not root and not in the socket's group gets 403, whatever
// the file allows. A root inside a user namespace is not root here: the
// kernel maps its uid into ours.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/api"
)

// MaxBody is the largest request body the API reads: the biggest real one
// (a port with its options) is well under a kilobyte, and a client that
// sends more is broken or hostile; reading it would only cost memory.
const MaxBody = 1 << 20

// peer is the process at the other end of an API connection, as the kernel
// saw it at connect time.
type peer struct {
	pid      int32
	uid, gid uint32
	groups   []uint32 // supplementary groups
	err      error    // why the credentials could not be read
}

type peerKey struct{}

// APIServer returns the HTTP server of the API socket: the daemon's handler
// behind the guard, which admits root and members of group gid only.
func (d *Daemon) APIServer(gid int) *http.Server {
	return &http.Server{
		Handler:           Guard(d.Handler(), uint32(gid)),
		ConnContext:       ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// ConnContext is an http.Server ConnContext: it records the credentials
// of the caller of a unix connection for Guard. On any other connection
// it records an error, and Guard refuses the requests.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, peerOf(c))
}

func peerOf(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{err: fmt.Errorf("not a unix socket connection (%T)", c)}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{err: err}
	}
	var p peer
	cerr := raw.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			p.err = fmt.Errorf("SO_PEERCRED: %v", err)
			return
		}
		p.pid, p.uid, p.gid = cred.Pid, cred.Uid, cred.Gid
		// Before Linux 4.13 there is no SO_PEERGROUPS: root and the
		// primary group are still told apart, supplementary members
		// are refused.
		p.groups, _ = peerGroups(int(fd))
	})
	if cerr != nil {
		p.err = cerr
	}
	return p
}

// peerGroups reads the caller's supplementary groups (Linux 4.13 and
// later). x/sys has no wrapper: the option fills an array of gid_t and
// answers ERANGE with the size it needs when the array is too small.
func peerGroups(fd int) ([]uint32, error) {
	n := 32
	for {
		buf := make([]uint32, n)
		size := uint32(4 * n)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case e == 0:
			return buf[:size/4], nil
		case e == unix.ERANGE && int(size/4) > n:
			n = int(size / 4)
		default:
			return nil, e
		}
	}
}

// allowed says whether p may drive the daemon, and if not, why not in a
// line for the caller.
func (p peer) allowed(gid uint32) (bool, string) {
	if p.err != nil {
		return false, fmt.Sprintf("permission denied: cannot tell who is calling (%v): use the unix socket", p.err)
	}
	if p.uid == 0 || p.gid == gid {
		return true, ""
	}
	for _, g := range p.groups {
		if g == gid {
			return true, ""
		}
	}
	return false, fmt.Sprintf("permission denied: uid %d (pid %d) is neither root nor in group %d, which owns the API socket: run as root or join that group (vswitchd --socket-group)", p.uid, p.pid, gid)
}

// Guard wraps the API handler: callers that are not root and not in group
// gid get 403; a body announced over MaxBody gets 413 before it is read,
// and one that turns out longer stops being read at MaxBody (decodeBody
// answers 413 then).
func Guard(h http.Handler, gid uint32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := r.Context().Value(peerKey{}).(peer)
		if !ok {
			p = peer{err: errors.New("no credentials recorded for this connection")}
		}
		if ok, why := p.allowed(gid); !ok {
			reply(w, http.StatusForbidden, api.Error{Error: why})
			return
		}
		if r.ContentLength > MaxBody {
			reply(w, http.StatusRequestEntityTooLarge, api.Error{Error: tooLarge(r.ContentLength)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		h.ServeHTTP(w, r)
	})
}

func tooLarge(n int64) string {
	if n > 0 {
		return fmt.Sprintf("request body of %d bytes is over the API's limit of %d: a request is one small JSON object", n, MaxBody)
	}
	return fmt.Sprintf("request body is over the API's limit of %d bytes: a request is one small JSON object", MaxBody)
}

// decodeBody reads one JSON object into v strictly. Its error is a 400 that
// says what was wrong (where the syntax broke, which field has the wrong
// type, which key is unknown), or a 413 for a body over MaxBody.
func decodeBody(r *http.Request, v any) error {
	// Guard limits the body already; this keeps the limit for a handler
	// served without it.
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBody))
	// An unknown key is a client bug worth reporting rather than ignoring.
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One object per request: trailing bytes are a broken client too.
		switch _, terr := dec.Token(); {
		case terr == io.EOF:
		case errors.As(terr, new(*http.MaxBytesError)):
			err = terr
		default:
			err = errTrailing
		}
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: tooLarge(0)}
	}
	return badRequest("bad request body: %s", jsonProblem(err, dec))
}

var errTrailing = errors.New("trailing data")

// jsonProblem words a decoding error for a person: encoding/json's own
// messages name Go types and omit where in the body the problem is.
func jsonProblem(err error, dec *json.Decoder) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty: want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON: the object is not closed"
	case err == errTrailing:
		return fmt.Sprintf("more data after the JSON object at byte %d: send one object", dec.InputOffset())
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Sprintf("want a JSON object, got %s", article(te.Value))
		}
		t := te.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return fmt.Sprintf("field %q: want %s, got %s", te.Field, jsonKind(t.Kind()), article(te.Value))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return msg + ": see the API's request types (docs/cli.md)"
	}
	return msg
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return k.String()
}

// article puts "a" or "an" before the JSON type encoding/json names.
func article(v string) string {
	if v != "" && strings.ContainsRune("aeiou", rune(v[0])) {
		return "an " + v
	}
	return "a " + v
}
