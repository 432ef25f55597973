package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// fakeChildEnv switches the test binary into a fake Zigbee2MQTT.
const fakeChildEnv = "UPSTREAM_FAKE_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeChildEnv); mode != "" {
		os.Exit(fakeChild(mode))
	}
	os.Exit(m.Run())
}

// z2mLine formats a line the way Zigbee2MQTT's console logger does, with
// the colour codes around the level.
func z2mLine(level, colour, msg string) string {
	return fmt.Sprintf("[2026-11-24 10:00:00] \x1b[%sm%s\x1b[39m: \t%s", colour, level, msg)
}

func fakeChild(mode string) int {
	switch mode {
	case "logs":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("Starting Zigbee2MQTT without watchdog.")
		fmt.Println(z2mLine("info", "32", "z2m: Starting Zigbee2MQTT version 2.14.1"))
		fmt.Println(z2mLine("info", "32", "z2m: data dir "+os.Getenv("ZIGBEE2MQTT_DATA")))
		fmt.Println(z2mLine("warning", "33", "zh:zstack:znp: Slow response"))
		fmt.Println(z2mLine("debug", "34", "zh:controller: Received payload"))
		fmt.Println(z2mLine("error", "31", "z2m: Error: Error while opening socket"))
		fmt.Println("    at Socket.<anonymous> (znp.ts:160:24)")
		fmt.Println(`{"level":"info","message":"z2m:mqtt: Connected to MQTT server","timestamp":"2026-11-24 10:00:00"}`)
		fmt.Fprintln(os.Stderr, "(node:1) ExperimentalWarning: something")
		fmt.Println("ready")
		<-term
		fmt.Println(z2mLine("info", "32", "z2m: Stopped Zigbee2MQTT"))
		return 0
	case "crash":
		fmt.Println(z2mLine("error", "31", "z2m: Failed to start zigbee-herdsman"))
		return 3
	case "slowcrash":
		time.Sleep(150 * time.Millisecond)
		return 1
	case "exit0":
		return 0
	case "hung":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown fake child mode", mode)
	return 2
}

// logSink collects zerolog JSON lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) entries() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(s.buf.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (s *logSink) find(msg string) map[string]any {
	for _, e := range s.entries() {
		if e["message"] == msg {
			return e
		}
	}
	return nil
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fakeSupervisor(mode string, sink *logSink) *upstream.Supervisor {
	return &upstream.Supervisor{
		Command: []string{os.Args[0]},
		Env:     []string{fakeChildEnv + "=" + mode},
		Logger:  zerolog.New(sink).Level(zerolog.DebugLevel),
	}
}

func TestSupervisorForwardsLogLevels(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("logs", sink)
	s.DataDir = t.TempDir()
	var mu sync.Mutex
	var states []bool
	s.OnStateChange = func(running bool) {
		mu.Lock()
		states = append(states, running)
		mu.Unlock()
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to log ready", 10*time.Second, func() bool { return sink.find("ready") != nil })
	if !s.Running() {
		t.Error("Running() = false while the child runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		msg, level, ns string
	}{
		{"Starting Zigbee2MQTT without watchdog.", "info", ""},
		{"Starting Zigbee2MQTT version 2.14.1", "info", "z2m"},
		{"data dir " + s.DataDir, "info", "z2m"},
		{"Slow response", "warn", "zh:zstack:znp"},
		{"Received payload", "debug", "zh:controller"},
		{"Error: Error while opening socket", "error", "z2m"},
		{"    at Socket.<anonymous> (znp.ts:160:24)", "error", "z2m"}, // continuation keeps the level
		{"Connected to MQTT server", "info", "z2m:mqtt"},
		{"(node:1) ExperimentalWarning: something", "warn", ""}, // stderr default
		{"Stopped Zigbee2MQTT", "info", "z2m"},
	}
	for _, tt := range tests {
		e := sink.find(tt.msg)
		if e == nil {
			t.Errorf("line %q was not forwarded", tt.msg)
			continue
		}
		ns, _ := e["ns"].(string)
		if e["level"] != tt.level || ns != tt.ns {
			t.Errorf("%q logged at level %v ns %q, want %s %q", tt.msg, e["level"], ns, tt.level, tt.ns)
		}
	}
	for _, e := range sink.entries() {
		if m, _ := e["message"].(string); strings.Contains(m, "\x1b") {
			t.Errorf("ANSI codes left in %q", m)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(states) != "[true false]" {
		t.Errorf("OnStateChange calls = %v, want [true false]", states)
	}
	if s.Running() {
		t.Error("Running() = true after Stop")
	}
}

type crash struct {
	err      error
	restarts int
	loop     bool
}

func TestSupervisorCrashLoop(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("crash", sink)
	var mu sync.Mutex
	var backoffs []int
	s.Backoff = func(attempt int) time.Duration {
		mu.Lock()
		backoffs = append(backoffs, attempt)
		mu.Unlock()
		return 20 * time.Millisecond
	}
	s.LoopAfter = 3
	crashes := runUntilCrashes(t, s, 4)
	mu.Lock()
	defer mu.Unlock()
	for i, c := range crashes[:4] {
		wantLoop := i+1 >= 3
		if c.restarts != i+1 || c.loop != wantLoop {
			t.Errorf("crash %d: restarts %d loop %v, want %d %v", i, c.restarts, c.loop, i+1, wantLoop)
		}
		if c.err == nil || !strings.Contains(c.err.Error(), "exited with status 3") {
			t.Errorf("crash %d: error %v, want exit status 3", i, c.err)
		}
	}
	for i, a := range backoffs[:4] {
		if a != i+1 {
			t.Errorf("backoff attempts = %v, want 1, 2, 3, 4, …", backoffs)
			break
		}
	}
	if s.Restarts() < 4 {
		t.Errorf("Restarts() = %d, want >= 4", s.Restarts())
	}
	if e := sink.find("Failed to start zigbee-herdsman"); e == nil || e["level"] != "error" {
		t.Errorf("child error line not forwarded at error level: %v", e)
	}
	if e := sink.find("zigbee2mqtt exited unexpectedly"); e == nil || e["level"] != "error" {
		t.Errorf("no error log for the crash: %v", e)
	}
}

func TestSupervisorBackoffResetsAfterStableRun(t *testing.T) {
	s := fakeSupervisor("slowcrash", &logSink{})
	s.StableAfter = 50 * time.Millisecond // the child lives 150ms
	s.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	for i, c := range runUntilCrashes(t, s, 3) {
		if c.restarts != 1 || c.loop {
			t.Errorf("crash %d: restarts %d loop %v, want 1 false (the child stayed up long enough)", i, c.restarts, c.loop)
		}
	}
}

func TestSupervisorCleanExitIsRestarted(t *testing.T) {
	s := fakeSupervisor("exit0", &logSink{})
	s.Backoff = func(int) time.Duration { return time.Hour }
	got := make(chan error, 1)
	s.OnCrash = func(err error, _ int, _ bool) { got <- err }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err == nil || err.Error() != "exited with status 0" {
			t.Errorf("OnCrash error = %v, want \"exited with status 0\"", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnCrash not called")
	}
	// Stop interrupts the one-hour backoff.
	start := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Stop waited for the backoff")
	}
}

func TestSupervisorGracefulStop(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("logs", sink)
	s.StopGrace = 20 * time.Second
	var crashed atomic.Bool
	s.OnCrash = func(error, int, bool) { crashed.Store(true) }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 10*time.Second, func() bool { return sink.find("ready") != nil })
	start := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful stop took %v; the child exits on SIGTERM", d)
	}
	if sink.find("Stopped Zigbee2MQTT") == nil {
		t.Error("the child did not get to handle SIGTERM")
	}
	if crashed.Load() {
		t.Error("a requested stop was reported as a crash")
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done() not closed after Stop")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestSupervisorKillsHungChild(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("hung", sink)
	s.StopGrace = 300 * time.Millisecond
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 10*time.Second, func() bool { return sink.find("ready") != nil })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v, want about the 300ms grace", d)
	}
	e := sink.find("zigbee2mqtt stopped")
	if e == nil || !strings.Contains(fmt.Sprint(e["result"]), "killed") {
		t.Errorf("stop result = %v, want killed by a signal", e)
	}
	if sink.find("zigbee2mqtt did not stop in time, sending SIGKILL") == nil {
		t.Error("no warning about the SIGKILL")
	}
}

func TestSupervisorStopTimeout(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("hung", sink)
	s.StopGrace = 2 * time.Second
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 10*time.Second, func() bool { return sink.find("ready") != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop with a short context = %v, want deadline exceeded", err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the hung child was not killed after the grace period")
	}
}

func TestSupervisorContextCancelStops(t *testing.T) {
	sink := &logSink{}
	s := fakeSupervisor("logs", sink)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 10*time.Second, func() bool { return sink.find("ready") != nil })
	cancel()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the start context did not stop the child")
	}
	if s.Running() {
		t.Error("Running() after the context was cancelled")
	}
}

func TestSupervisorStartErrors(t *testing.T) {
	s := &upstream.Supervisor{Command: []string{"/nonexistent/zigbee2mqtt"}}
	err := s.Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "start zigbee2mqtt:") {
		t.Fatalf("Start = %v, want a start error", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
	s2 := fakeSupervisor("logs", &logSink{})
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s2.Stop(context.Background())
	if err := s2.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{6, 32 * time.Second}, {7, time.Minute}, {8, time.Minute}, {100, time.Minute},
	}
	for _, tt := range tests {
		if got := upstream.DefaultBackoff(tt.attempt); got != tt.want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line  string
		ok    bool
		level zerolog.Level
		ns    string
		msg   string
	}{
		{z2mLine("info", "32", "z2m: Starting Zigbee2MQTT version 2.14.1"), true, zerolog.InfoLevel, "z2m", "Starting Zigbee2MQTT version 2.14.1"},
		{"[2026-11-24 10:00:00] warning: \tzh:ember:uart:ash: Frame dropped", true, zerolog.WarnLevel, "zh:ember:uart:ash", "Frame dropped"},
		{"[2026-11-24 10:00:00] error: \tz2m: Exiting...\r", true, zerolog.ErrorLevel, "z2m", "Exiting..."},
		{"[x] debug: \tno namespace here", true, zerolog.DebugLevel, "", "no namespace here"},
		{`{"level":"warning","message":"z2m: json line"}`, true, zerolog.WarnLevel, "z2m", "json line"},
		{"[x] loud: \tz2m: unknown level", false, zerolog.NoLevel, "", "[x] loud: \tz2m: unknown level"},
		{"    at foo (bar.js:1:1)", false, zerolog.NoLevel, "", "    at foo (bar.js:1:1)"},
		{"\x1b[1mplain bold\x1b[0m", false, zerolog.NoLevel, "", "plain bold"},
	}
	for _, tt := range tests {
		got, ok := upstream.ParseLogLine(tt.line)
		want := upstream.LogLine{Level: tt.level, Namespace: tt.ns, Message: tt.msg}
		if ok != tt.ok || got != want {
			t.Errorf("ParseLogLine(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, want, tt.ok)
		}
	}
}

// closedPort returns a local TCP port with no listener.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// runUntilCrashes starts s, waits until its child crashed n times, stops it,
// and returns the crashes OnCrash saw.
func runUntilCrashes(t *testing.T, s *upstream.Supervisor, n int) []crash {
	t.Helper()
	var mu sync.Mutex
	var crashes []crash
	s.OnCrash = func(err error, restarts int, loop bool) {
		mu.Lock()
		crashes = append(crashes, crash{err, restarts, loop})
		mu.Unlock()
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("%d crashes", n), 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(crashes) >= n
	})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]crash(nil), crashes...)
}
