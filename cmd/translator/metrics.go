package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the translation latency
// histogram: from MQTT receipt to publications queued.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}

// histogram is a Prometheus-style cumulative histogram.
type histogram struct {
	mu     sync.Mutex
	counts []int64
	sum    float64
	n      int64
}

func newHistogram() *histogram { return &histogram{counts: make([]int64, len(latencyBuckets))} }

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	h.mu.Lock()
	for i, b := range latencyBuckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
	h.mu.Unlock()
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for i, b := range latencyBuckets {
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, h.counts[i])
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.n, name, h.sum, name, h.n)
}

// serveMetrics renders /metrics: the engine's counters (rendered on the
// engine goroutine) and the daemon's own.
func (d *daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	done := make(chan struct{})
	select {
	case d.control <- func() { d.engine.WriteMetrics(&buf); close(done) }:
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
	d.latency.write(&buf, "translator_translation_latency_seconds", "Time from receiving a message to queueing its publications.")
	fmt.Fprintf(&buf, "# HELP translator_mqtt_writes_total Writes (system calls) to the broker connection; each carries every packet ready at the time.\n# TYPE translator_mqtt_writes_total counter\ntranslator_mqtt_writes_total %d\n", d.broker.writes.Load())
	fmt.Fprintf(&buf, "# HELP translator_mqtt_reconnects_total MQTT reconnections after the first connection.\n# TYPE translator_mqtt_reconnects_total counter\ntranslator_mqtt_reconnects_total %d\n", max(d.broker.connects.Load()-1, 0))
	restarts := 0
	if d.embedded != nil {
		restarts = d.embedded.sup.Restarts()
	}
	fmt.Fprintf(&buf, "# HELP translator_upstream_restarts_total Zigbee2MQTT restarts by the supervisor.\n# TYPE translator_upstream_restarts_total counter\ntranslator_upstream_restarts_total %d\n", restarts)
	waiting, waitingBytes, dropped := d.broker.in.stats()
	fmt.Fprintf(&buf, "# HELP translator_inbound_queue Messages waiting for the engine.\n# TYPE translator_inbound_queue gauge\ntranslator_inbound_queue %d\n", waiting)
	fmt.Fprintf(&buf, "# HELP translator_inbound_queue_bytes Bytes held by messages waiting for the engine (bounded by INBOUND_BUFFER_MB).\n# TYPE translator_inbound_queue_bytes gauge\ntranslator_inbound_queue_bytes %d\n", waitingBytes)
	fmt.Fprintf(&buf, "# HELP translator_inbound_dropped_total Device messages dropped because the waiting messages exceeded INBOUND_BUFFER_MB; the oldest message of the topic holding the most goes first.\n# TYPE translator_inbound_dropped_total counter\ntranslator_inbound_dropped_total %d\n", dropped)
	fmt.Fprintf(&buf, "# HELP translator_state_key_superseded_total state/{key} values not sent because a newer value for the same topic replaced them while the publisher was behind.\n# TYPE translator_state_key_superseded_total counter\ntranslator_state_key_superseded_total %d\n", d.broker.superseded.Load())
	fmt.Fprintf(&buf, "# HELP translator_state_key_interval_seconds Current shortest time between two publications on one state/{key} topic: 0.1, or 1 while the engine is behind or the broker does not keep up with the per-key topics.\n# TYPE translator_state_key_interval_seconds gauge\ntranslator_state_key_interval_seconds %g\n", d.broker.keyInterval().Seconds())
	fmt.Fprintf(&buf, "# HELP translator_publish_waited_total Messages that could not be sent at once and waited for a publisher: the connection was down, the broker did not acknowledge in time, or an earlier message was waiting.\n# TYPE translator_publish_waited_total counter\ntranslator_publish_waited_total %d\n", d.broker.waited.Load())
	fmt.Fprintf(&buf, "# HELP translator_publish_waiting Messages queued for a publisher now (see translator_publish_waited_total).\n# TYPE translator_publish_waiting gauge\ntranslator_publish_waiting %d\n", d.broker.backlog.Load())
	connected := 0
	if d.broker.connected.Load() {
		connected = 1
	}
	fmt.Fprintf(&buf, "# HELP translator_mqtt_connected 1 while connected to the broker (subscribed, status online), else 0.\n# TYPE translator_mqtt_connected gauge\ntranslator_mqtt_connected %d\n", connected)
	fmt.Fprintf(&buf, "# HELP translator_publish_rejected_total QoS 1 publications the broker acknowledged with an error reason code (not authorised, quota exceeded, ...).\n# TYPE translator_publish_rejected_total counter\ntranslator_publish_rejected_total %d\n", d.broker.rejected.Load())
	writeRuntimeMetrics(&buf)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(buf.Bytes())
}

// runtimeGauges are the Go runtime figures an operator needs to tell a leak
// (live heap or goroutines growing) from memory the runtime merely keeps.
var runtimeGauges = []struct{ name, sample, help string }{
	{"go_goroutines", "/sched/goroutines:goroutines", "Live goroutines."},
	{"go_gomaxprocs", "/sched/gomaxprocs:threads", "Threads that may run Go code at once (GOMAXPROCS)."},
	{"go_heap_live_bytes", "/gc/heap/live:bytes", "Heap memory occupied by live objects after the last GC."},
	{"go_heap_objects_bytes", "/memory/classes/heap/objects:bytes", "Heap memory occupied by live and not-yet-swept objects."},
	{"go_heap_free_bytes", "/memory/classes/heap/free:bytes", "Heap memory free and not yet returned to the OS."},
	{"go_heap_released_bytes", "/memory/classes/heap/released:bytes", "Heap memory returned to the OS."},
	{"go_stack_bytes", "/memory/classes/heap/stacks:bytes", "Memory used by goroutine stacks."},
	{"go_memory_total_bytes", "/memory/classes/total:bytes", "All memory mapped by the Go runtime."},
}

// writeRuntimeMetrics appends runtimeGauges in Prometheus text format.
func writeRuntimeMetrics(w io.Writer) {
	samples := make([]metrics.Sample, len(runtimeGauges))
	for i, g := range runtimeGauges {
		samples[i].Name = g.sample
	}
	metrics.Read(samples)
	for i, g := range runtimeGauges {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, samples[i].Value.Uint64())
	}
}
