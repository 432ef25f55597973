//go:build integration

package main_test

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// TestSandbox runs the README's first command and follows the instructions
// it prints: send the suggested command, expect the translated outcome.
func TestSandbox(t *testing.T) {
	port := mqtttest.FreePort(t)
	cmd := exec.Command(binary, "sandbox", "-listen", "127.0.0.1:"+strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var pubLine, ieee string
	deadline := time.After(15 * time.Second)
	for pubLine == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("sandbox exited before printing its instructions")
			}
			if strings.Contains(l, "command:") {
				pubLine = l
			}
		case <-deadline:
			t.Fatal("sandbox printed no command line")
		}
	}
	topic := pubLine[strings.Index(pubLine, "-t '")+4:]
	topic = topic[:strings.Index(topic, "'")]
	ieee = strings.Split(topic, "/")[5]
	w := mqtttest.Connect(t, "127.0.0.1:"+strconv.Itoa(port), "sandbox-user")
	w.Subscribe("IoT2mqtt/#")
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/state", hasField("state.power", true), 10*time.Second)
	w.Publish(topic, `{"id":"1","values":{"power":"toggle"}}`, false)
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/cmd/response", hasField("status", "success"), 10*time.Second)
	w.WaitFor("IoT2mqtt/v1/instances/sandbox/devices/"+ieee+"/state", hasField("state.power", false), 10*time.Second)
	// The sandbox shows the translated traffic live.
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, "/cmd/response") {
				return
			}
		case <-timeout:
			t.Fatal("the sandbox did not print the translated traffic")
		}
	}
}
