package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HealthPath is where the health handler is conventionally mounted.
const HealthPath = "/health"

// Component states reported in Status.
const (
	StateConnected     = "connected"
	StateDisconnected  = "disconnected"
	StateRunning       = "running"
	StateStopped       = "stopped"
	StateNotApplicable = "not_applicable"
	StateOnline        = "online"
	StateOffline       = "offline"
	StateUnknown       = "unknown"
)

// Status is a health snapshot, served as JSON.
type Status struct {
	// OK is true when every applicable component is healthy.
	OK bool `json:"ok"`
	// MQTT is "connected" or "disconnected" (the translator's own client).
	MQTT string `json:"mqtt"`
	// Process is "running", "stopped", or "not_applicable" in
	// translator-only mode (no embedded Zigbee2MQTT).
	Process string `json:"process"`
	// Bridge is Zigbee2MQTT's bridge/state: "online", "offline" or
	// "unknown" (nothing received yet).
	Bridge string `json:"bridge"`
	// Problems names each unhealthy component, e.g. "mqtt disconnected".
	Problems []string `json:"problems,omitempty"`
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
}

// Health combines the translator's MQTT connection, the Zigbee2MQTT process
// and Zigbee2MQTT's bridge state into one Status. It is safe for concurrent
// use and is an http.Handler serving the status (see ServeHTTP).
type Health struct {
	process func() bool

	mu     sync.Mutex
	mqtt   bool
	bridge string
	now    func() time.Time
}

// NewHealth creates a Health. running reports whether the Zigbee2MQTT child
// runs (e.g. Supervisor.Running); nil means translator-only mode, where the
// process is not applicable.
func NewHealth(running func() bool) *Health {
	return &Health{process: running, bridge: StateUnknown, now: time.Now}
}

// SetMQTTConnected records the translator's MQTT connection state.
func (h *Health) SetMQTTConnected(connected bool) {
	h.mu.Lock()
	h.mqtt = connected
	h.mu.Unlock()
}

// SetBridgeState records Zigbee2MQTT's bridge/state value ("online" or
// "offline"; anything else counts as offline, "" as unknown).
func (h *Health) SetBridgeState(state string) {
	state = strings.ToLower(strings.TrimSpace(state))
	switch state {
	case "":
		state = StateUnknown
	case StateOnline:
	default:
		state = StateOffline
	}
	h.mu.Lock()
	h.bridge = state
	h.mu.Unlock()
}

// Status returns the current snapshot.
func (h *Health) Status() Status {
	h.mu.Lock()
	st := Status{MQTT: StateDisconnected, Bridge: h.bridge, Time: h.now().UTC()}
	if h.mqtt {
		st.MQTT = StateConnected
	}
	h.mu.Unlock()

	switch {
	case h.process == nil:
		st.Process = StateNotApplicable
	case h.process():
		st.Process = StateRunning
	default:
		st.Process = StateStopped
	}
	if st.MQTT != StateConnected {
		st.Problems = append(st.Problems, "mqtt "+st.MQTT)
	}
	if st.Process == StateStopped {
		st.Problems = append(st.Problems, "zigbee2mqtt process "+st.Process)
	}
	if st.Bridge != StateOnline {
		st.Problems = append(st.Problems, "zigbee2mqtt bridge "+st.Bridge)
	}
	st.OK = len(st.Problems) == 0
	return st
}

// ServeHTTP answers GET and HEAD with the Status as JSON: 200 when OK, 503
// otherwise. Mount it at HealthPath.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	st := h.Status()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !st.OK {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(st)
	}
}

// FetchHealth asks a running translator for its health at baseURL (e.g.
// "http://127.0.0.1:8098"), for a `translator health` command. It returns
// the Status and an error when the request fails or the status is not OK.
func FetchHealth(ctx context.Context, baseURL string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+HealthPath, nil)
	if err != nil {
		return st, fmt.Errorf("health: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("health: HTTP %d with an unreadable body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || !st.OK {
		return st, fmt.Errorf("health: unhealthy (HTTP %d): %s", resp.StatusCode, strings.Join(st.Problems, ", "))
	}
	return st, nil
}
