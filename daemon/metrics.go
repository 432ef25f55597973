package daemon

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// The metrics are rendered with github.com/VictoriaMetrics/metrics: it
// writes the Prometheus text format, Prometheus histograms and the Go and
// process figures without pulling in further modules, which keeps the
// binary and its memory small on gateways.

func init() { metrics.ExposeMetadata(true) }

// latencyBuckets are the upper bounds (seconds) of the translation latency
// histogram: from taking a message off the inbound queue to its
// publications queued.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}

// newLatency makes the daemon's own metric set and its latency histogram.
func newLatency() (*metrics.Set, *metrics.PrometheusHistogram) {
	set := metrics.NewSet()
	return set, set.NewPrometheusHistogramExt("translator_translation_latency_seconds", latencyBuckets)
}

// serveMetrics renders /metrics: the engine's counters (read on the engine
// goroutine), the transport's, the supervisor's, and the Go runtime's.
func (d *Daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var em translate.Metrics
	done := make(chan struct{})
	select {
	case d.control <- func() { em = d.engine.Metrics(); close(done) }:
	case <-time.After(2 * time.Second):
		http.Error(w, "engine busy", http.StatusServiceUnavailable)
		return
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		http.Error(w, "engine busy", http.StatusServiceUnavailable)
		return
	}
	// The snapshot goes into a set of its own, made anew for each scrape,
	// so rules dropped by a reload leave no series behind.
	snap := metrics.NewSet()
	counter := func(name string, v int64) { snap.GetOrCreateCounter(name).Set(uint64(max(v, 0))) }
	gauge := func(name string, v float64) { snap.GetOrCreateGauge(name, nil).Set(v) }
	for _, k := range slices.Sorted(maps.Keys(em.In)) {
		counter(fmt.Sprintf("translator_messages_in_total{kind=%q}", k), em.In[k])
	}
	counter("translator_messages_out_total", em.Out)
	for _, k := range slices.Sorted(maps.Keys(em.Commands)) {
		counter(fmt.Sprintf("translator_commands_total{outcome=%q}", k), em.Commands[k])
	}
	for _, r := range em.Rules {
		for _, res := range []struct {
			name string
			n    int64
		}{{"matched", r.Matched}, {"skipped", r.Skipped}, {"failed", r.Failed}} {
			counter(fmt.Sprintf("translator_rule_applications_total{rule=%q,block=%q,layer=%q,result=%q}", r.ID, r.Block, r.Layer, res.name), res.n)
		}
	}
	gauge("translator_devices", float64(em.Devices))
	st := d.mqtt.Stats()
	counter("translator_mqtt_writes_total", st.Writes)
	counter("translator_mqtt_reconnects_total", st.Reconnects)
	restarts := 0
	if d.embedded != nil {
		restarts = d.embedded.sup.Restarts()
	}
	counter("translator_upstream_restarts_total", int64(restarts))
	gauge("translator_inbound_queue", float64(st.InboundWaiting))
	gauge("translator_inbound_queue_bytes", float64(st.InboundBytes))
	counter("translator_inbound_dropped_total", st.InboundDropped)
	counter("translator_state_key_superseded_total", st.Superseded)
	gauge("translator_state_key_interval_seconds", st.KeyInterval.Seconds())
	counter("translator_publish_waited_total", st.Waited)
	gauge("translator_publish_waiting", float64(st.Waiting))
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	gauge("translator_mqtt_connected", connected)
	counter("translator_publish_rejected_total", st.Rejected)

	var buf bytes.Buffer
	snap.WritePrometheus(&buf)
	d.metrics.WritePrometheus(&buf)
	metrics.WriteProcessMetrics(&buf)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(buf.Bytes())
}
