package upstream_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

func TestHealthStatus(t *testing.T) {
	running := func(v bool) func() bool { return func() bool { return v } }
	tests := []struct {
		name         string
		process      func() bool
		mqtt         bool
		bridge       string
		wantOK       bool
		wantProcess  string
		wantBridge   string
		wantProblems []string
	}{
		{"all good", running(true), true, "online", true, "running", "online", nil},
		{"translator-only good", nil, true, "online", true, "not_applicable", "online", nil},
		{"mqtt down", running(true), false, "online", false, "running", "online", []string{"mqtt disconnected"}},
		{"process down", running(false), true, "online", false, "stopped", "online", []string{"zigbee2mqtt process stopped"}},
		{"bridge offline", running(true), true, "offline", false, "running", "offline", []string{"zigbee2mqtt bridge offline"}},
		{"bridge unknown", nil, true, "", false, "not_applicable", "unknown", []string{"zigbee2mqtt bridge unknown"}},
		{"bridge odd value", nil, true, "ONLINE ", true, "not_applicable", "online", nil},
		{"bridge garbage", nil, true, "{}", false, "not_applicable", "offline", []string{"zigbee2mqtt bridge offline"}},
		{"everything down", running(false), false, "offline", false, "stopped", "offline",
			[]string{"mqtt disconnected", "zigbee2mqtt process stopped", "zigbee2mqtt bridge offline"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := upstream.NewHealth(tt.process)
			h.SetMQTTConnected(tt.mqtt)
			h.SetBridgeState(tt.bridge)
			st := h.Status()
			wantMQTT := "disconnected"
			if tt.mqtt {
				wantMQTT = "connected"
			}
			if st.OK != tt.wantOK || st.MQTT != wantMQTT || st.Process != tt.wantProcess || st.Bridge != tt.wantBridge ||
				!reflect.DeepEqual(st.Problems, tt.wantProblems) {
				t.Errorf("Status() = %+v, want ok=%v mqtt=%s process=%s bridge=%s problems=%v",
					st, tt.wantOK, wantMQTT, tt.wantProcess, tt.wantBridge, tt.wantProblems)
			}
			if st.Time.IsZero() {
				t.Error("Status().Time is zero")
			}
		})
	}
}

func TestHealthHandler(t *testing.T) {
	h := upstream.NewHealth(nil)
	mux := http.NewServeMux()
	mux.Handle(upstream.HealthPath, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func() (int, map[string]any, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + upstream.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		return resp.StatusCode, body, resp.Header.Get("Content-Type")
	}

	code, body, ctype := get()
	if code != http.StatusServiceUnavailable || body["ok"] != false || ctype != "application/json" {
		t.Errorf("unhealthy: %d %v %q, want 503 ok=false application/json", code, body, ctype)
	}
	for _, key := range []string{"ok", "mqtt", "process", "bridge", "problems", "time"} {
		if _, ok := body[key]; !ok {
			t.Errorf("JSON lacks %q: %v", key, body)
		}
	}
	if _, err := upstream.FetchHealth(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "mqtt disconnected") {
		t.Errorf("FetchHealth(unhealthy) = %v, want an error naming the problem", err)
	}

	h.SetMQTTConnected(true)
	h.SetBridgeState("online")
	code, body, _ = get()
	if code != http.StatusOK || body["ok"] != true || body["process"] != "not_applicable" {
		t.Errorf("healthy: %d %v, want 200 ok=true process=not_applicable", code, body)
	}
	st, err := upstream.FetchHealth(context.Background(), srv.URL+"/")
	if err != nil || !st.OK {
		t.Errorf("FetchHealth(healthy) = %+v, %v", st, err)
	}

	resp, err := http.Post(srv.URL+upstream.HealthPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status = %d, want 405", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+upstream.HealthPath, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD status = %d, want 200", resp.StatusCode)
	}
	if _, err := upstream.FetchHealth(context.Background(), "http://127.0.0.1:1"); err == nil {
		t.Error("FetchHealth of a closed port succeeded")
	}
}

func TestHealthWithSupervisor(t *testing.T) {
	s := &upstream.Supervisor{}
	h := upstream.NewHealth(s.Running)
	if got := h.Status().Process; got != "stopped" {
		t.Errorf("process before start = %q, want stopped", got)
	}
}
