//go:build integration

package main_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// sandbox is a running `translator sandbox`.
type sandbox struct {
	cmd   *exec.Cmd
	lines chan string // stdout, line by line
	said  map[string]string
}

// startSandbox runs the sandbox with args and reads its instructions: the
// lines up to "Ctrl-C stops everything", keyed by their label.
func startSandbox(t *testing.T, args ...string) *sandbox {
	t.Helper()
	s := &sandbox{cmd: exec.Command(binary, append([]string{"sandbox"}, args...)...), lines: make(chan string, 10000), said: map[string]string{}}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatal("sandbox exited before printing its instructions")
			}
			if strings.Contains(l, "Ctrl-C stops everything") {
				return s
			}
			if label, text, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
				s.said[label] = strings.TrimSpace(text)
			}
		case <-deadline:
			t.Fatalf("sandbox printed no instructions; so far %v", s.said)
		}
	}
}

// topicOf is the -t argument of a printed mosquitto_pub line.
func topicOf(t *testing.T, line string) string {
	t.Helper()
	m := regexp.MustCompile(`-t '([^']+)'`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no topic in %q", line)
	}
	return m[1]
}

// waitPrinted waits until the sandbox prints a line containing substr.
func (s *sandbox) waitPrinted(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if strings.Contains(l, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("the sandbox did not print %q", substr)
		}
	}
}

// TestSandbox_Scripted runs the scripted sandbox and follows the
// instructions it prints: send the suggested command, expect the
// translated outcome.
func TestSandbox_Scripted(t *testing.T) {
	port := mqtttest.FreePort(t)
	s := startSandbox(t, "-scripted", "-listen", "127.0.0.1:"+strconv.Itoa(port))
	topic := topicOf(t, s.said["command"])
	ieee := strings.Split(topic, "/")[5]
	w := mqtttest.Connect(t, "127.0.0.1:"+strconv.Itoa(port), "sandbox-user")
	w.Subscribe("IoT2mqtt/#")
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/state", hasField("state.power", true), 10*time.Second)
	w.Publish(topic, `{"id":"1","values":{"power":"toggle"}}`, false)
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/cmd/response", hasField("status", "success"), 10*time.Second)
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/state", hasField("state.power", false), 10*time.Second)
	// The sandbox shows the translated traffic live.
	s.waitPrinted(t, "/cmd/response")
}

// TestSandbox_VirtualNetwork runs the README's first command: the real
// Zigbee2MQTT on the virtual network. The devices join by themselves; the
// printed instructions make the sensor report and toggle the light; Ctrl-C
// leaves nothing running.
func TestSandbox_VirtualNetwork(t *testing.T) {
	installedZigbee2MQTT(t)
	port := mqtttest.FreePort(t)
	s := startSandbox(t, "-listen", "127.0.0.1:"+strconv.Itoa(port), "-control", "127.0.0.1:"+strconv.Itoa(mqtttest.FreePort(t)))
	w := mqtttest.Connect(t, "127.0.0.1:"+strconv.Itoa(port), "sandbox-user")
	w.Subscribe("IoT2mqtt/#")
	const p = "IoT2mqtt/v1/instances/sandbox/"
	w.WaitFor(p+"meta/info", hasField("mode", "embedded"), 30*time.Second)
	n, _ := strconv.Atoi(strings.Fields(s.said["devices"])[0])
	w.WaitFor(p+"meta/devices_list", func(m mqtttest.Msg) bool {
		return strings.Count(m.Payload, `"device_id"`) == n && !strings.Contains(m.Payload, `"model":"unknown"`)
	}, 90*time.Second)

	// The printed report line: the sensor's temperature changes.
	m := regexp.MustCompile(`curl -s -XPOST (\S+) -d '([^']+)'`).FindStringSubmatch(s.said["report"])
	if m == nil {
		t.Fatalf("report line %q", s.said["report"])
	}
	resp, err := http.Post(m[1], "application/json", strings.NewReader(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sensor := regexp.MustCompile(`"ieee":"(0x[0-9a-f]+)"`).FindStringSubmatch(m[2])[1]
	w.WaitFor(p+"devices/"+sensor+"/state", hasField("state.temperature", 22.5), 20*time.Second)

	// The printed commands switch the light off and toggle it, and the
	// sandbox prints the traffic.
	light := strings.Split(topicOf(t, s.said["command"]), "/")[5]
	for _, c := range []struct {
		label, id string
		power     bool
	}{{"command", "1", false}, {"toggle", "2", true}} {
		m := regexp.MustCompile(`-m '([^']+)'`).FindStringSubmatch(s.said[c.label])
		if m == nil {
			t.Fatalf("%s line %q", c.label, s.said[c.label])
		}
		w.Publish(topicOf(t, s.said[c.label]), m[1], false)
		w.WaitFor(p+"devices/"+light+"/cmd/response", func(m mqtttest.Msg) bool {
			return hasField("cmd_id", c.id)(m) && hasField("status", "success")(m)
		}, 20*time.Second)
		w.WaitFor(p+"devices/"+light+"/state", hasField("state.power", c.power), 20*time.Second)
	}
	s.waitPrinted(t, "/cmd/response")

	// Ctrl-C stops everything: the sandbox and the Zigbee2MQTT it ran.
	children := childPIDs(t, s.cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("the sandbox runs no Zigbee2MQTT child process")
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the sandbox exited with %v after Ctrl-C, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sandbox did not stop within 30 s of Ctrl-C")
	}
	for _, pid := range children {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d is still running after the sandbox stopped", pid)
		}
	}
}

// childPIDs lists the child processes of pid (Linux /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
