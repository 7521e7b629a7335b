package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"offload/metrics"
)

// sideServer serves operators' endpoints (/metrics, pprof) on a listener
// of their own, apart from the service port: outside its acceptors and
// connection limit, so that they answer when the service is full, and
// bindable to an address only the monitoring network reaches.
type sideServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// sideRoutes are the handlers of a side listener.
type sideRoutes struct {
	metrics *metrics.Metrics // serve /metrics; nil for none
	pprof   bool             // serve /debug/pprof/
}

func startSide(ctx context.Context, flag, addr string, r sideRoutes) (*sideServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", flag, addr, err)
	}
	mux := http.NewServeMux()
	if r.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if m := r.metrics; m != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			m.WritePrometheus(w)
		})
	}
	d := &sideServer{
		srv: &http.Server{
			Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10,
			// pprof's CPU profile and trace run for as long as they are asked
			// to, so there is no WriteTimeout.
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { d.done <- d.srv.Serve(ln) }()
	return d, nil
}

// close stops the side server at once; profiles in progress are cut off.
func (d *sideServer) close() error {
	err := d.srv.Close()
	if serveErr := <-d.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
