package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"

	"vswitch/api"
)

// Version and Commit are set by the linker (-X) at build time.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Handler serves the HTTP/JSON API under /v1/.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	p := api.Prefix
	mux.HandleFunc("GET "+p+"/version", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, api.Version{Version: Version, Commit: Commit, Go: runtime.Version()})
	})
	mux.HandleFunc("GET "+p+"/networks", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.Networks())
	})
	mux.HandleFunc("POST "+p+"/networks", create(d.CreateNetwork))
	mux.HandleFunc("GET "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.Network(r.PathValue("name")))
	})
	mux.HandleFunc("DELETE "+p+"/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemoveNetwork(r.PathValue("name"), r.URL.Query().Get("force") == "true"))
	})
	mux.HandleFunc("GET "+p+"/ports", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.Ports(r.URL.Query().Get("network")))
	})
	mux.HandleFunc("POST "+p+"/ports", create(d.AddPort))
	mux.HandleFunc("POST "+p+"/ports/attach", create(d.AttachPort))
	mux.HandleFunc("POST "+p+"/ports/{name}/set", func(w http.ResponseWriter, r *http.Request) {
		var req api.PortSet
		if decode(w, r, &req) {
			answer(w, 200)(d.SetPort(r.PathValue("name"), req)) // police.go
		}
	})
	mux.HandleFunc("DELETE "+p+"/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemovePort(r.PathValue("name")))
	})
	mux.HandleFunc("GET "+p+"/fdb", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.FDB(r.URL.Query().Get("network")))
	})
	mux.HandleFunc("POST "+p+"/fdb", create(d.AddStaticFDB))
	mux.HandleFunc("DELETE "+p+"/fdb/{mac}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.DelFDB(r.PathValue("mac"), r.URL.Query().Get("network")))
	})
	mux.HandleFunc("GET "+p+"/stats", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.Stats(r.URL.Query().Get("port")))
	})
	for verb, on := range map[string]bool{"connect": true, "disconnect": false} {
		mux.HandleFunc("POST "+p+"/networks/{name}/"+verb, func(w http.ResponseWriter, r *http.Request) {
			var req api.NetworkConnect
			if decode(w, r, &req) {
				done(w, d.Connect(r.PathValue("name"), req.Network, on))
			}
		})
	}
	mux.HandleFunc("GET "+p+"/routes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.Routes())
	})
	mux.HandleFunc("POST "+p+"/routes", create(d.AddRoute))
	mux.HandleFunc("DELETE "+p+"/routes", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.DelRoute(r.URL.Query().Get("prefix")))
	})
	mux.HandleFunc("GET "+p+"/arp", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.Neighbors())
	})
	mux.HandleFunc("GET "+p+"/uplinks", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.Uplinks())
	})
	mux.HandleFunc("POST "+p+"/uplinks", create(d.AddUplink))
	mux.HandleFunc("DELETE "+p+"/uplinks/{name}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemoveUplink(r.PathValue("name")))
	})
	mux.HandleFunc("GET "+p+"/publish", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.Publishes())
	})
	mux.HandleFunc("POST "+p+"/publish", create(d.AddPublish))
	mux.HandleFunc("DELETE "+p+"/publish/{id}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemovePublish(r.PathValue("id")))
	})
	mux.HandleFunc("GET "+p+"/acls", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.ACLs(r.URL.Query().Get("network")))
	})
	mux.HandleFunc("POST "+p+"/acls", create(d.AddACL))
	mux.HandleFunc("DELETE "+p+"/acls/{id}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemoveACL(r.PathValue("id")))
	})
	mux.HandleFunc("GET "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.Conntrack(r.URL.Query().Get("proto")))
	})
	mux.HandleFunc("DELETE "+p+"/conntrack", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, d.FlushConntrack())
	})
	mux.HandleFunc("POST "+p+"/reload", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.Reload()) // reload.go
	})
	d.vxlanRoutes(mux)
	mux.HandleFunc("GET "+p+"/capture/{port}", d.serveCapture) // pcapng stream (capture.go)

	mux.HandleFunc("POST "+p+"/trace", d.serveTrace)          // dry run (trace.go)
	mux.HandleFunc("POST "+p+"/trace/live", d.serveTraceLive) // NDJSON stream (trace.go)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 404, api.Error{Error: fmt.Sprintf("no API %s %s: this vswitchd serves /v1/ (is vswitchctl newer than vswitchd?)", r.Method, r.URL.Path)})
	})
	return mux
}

// create serves a POST whose JSON body is a T: fn's result with 201, or
// its error.
func create[T, R any](fn func(T) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !decode(w, r, &req) {
			return
		}
		answer(w, 201)(fn(req))
	}
}

// decode reads a JSON body strictly (decodeBody, apiguard.go): 400 saying
// what was wrong, 413 over MaxBody.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeBody(r, v); err != nil {
		reply(w, errStatus(err), api.Error{Error: err.Error()})
		return false
	}
	return true
}

// answer returns a function taking (value, error) so handlers can write
// answer(w, 200)(d.Something()).
func answer(w http.ResponseWriter, status int) func(any, error) {
	return func(v any, err error) {
		if err != nil {
			reply(w, errStatus(err), api.Error{Error: err.Error()})
			return
		}
		reply(w, status, v)
	}
}

func done(w http.ResponseWriter, err error) {
	if err != nil {
		reply(w, errStatus(err), api.Error{Error: err.Error()})
		return
	}
	w.WriteHeader(204)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
