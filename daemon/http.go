package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// AddrFileName is written to the data directory with the HTTP listener's
// address, so `translator health` finds a daemon bound to a random port.
const AddrFileName = "translator-http.addr"

// startHTTP serves /health and /metrics on HTTP_ADDR (default: a free loopback port; the
// container uses host networking, so a fixed port could collide with other
// instances).
func (d *Daemon) startHTTP() (*http.Server, error) {
	addr := d.cfg.HTTPAddr
	if addr == "" {
		addr = d.inst.HTTPAddr
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on HTTP_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(upstream.HealthPath, d.health)
	mux.HandleFunc("/metrics", d.serveMetrics)
	if os.Getenv("TRANSLATOR_PPROF") != "" { // opt-in profiling on the loopback listener
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	bound := ln.Addr().String()
	if err := os.MkdirAll(d.inst.DataDir, 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(d.inst.DataDir, AddrFileName), []byte(bound+"\n"), 0o644); err != nil {
			d.log.Warn().Err(err).Msg("cannot record the HTTP address for translator health")
		}
	}
	d.log.Info().Str("addr", bound).Msg("http listening for /health and /metrics")
	return srv, nil
}
