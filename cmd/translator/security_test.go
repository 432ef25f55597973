//go:build integration

package main_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// TestSecurity_PasswordNeverLogged runs the daemon against a Mosquitto that
// checks passwords, at LOG_LEVEL=DEBUG in both log formats, through connect,
// state, a command and shutdown (and, with a wrong password, through failed
// connects), and proves the password appears nowhere in its output.
func TestSecurity_PasswordNeverLogged(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	secret := "Pa55-" + randomHex(t, 12)
	pwFile := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, "translator", secret).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	// Anonymous clients (the watcher and the fake Zigbee2MQTT) stay allowed;
	// a client that sends credentials must send the right ones.
	b := mqtttest.StartBroker(t, brokerUser, "password_file "+pwFile)

	cases := []struct {
		name      string
		password  string
		format    string
		connected bool
	}{
		{"console format", secret, "console", true},
		{"json format", secret, "json", true},
		{"wrong password", secret + "-wrong", "console", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
			z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"online"}`, true)
			z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
			w := mqtttest.Connect(t, b.Addr, "watcher")
			w.Subscribe("IoT2mqtt/#", "zigbee2mqtt/#")
			p := startTranslator(t, b, minimalInstance,
				"MQTT_USERNAME=translator", "MQTT_PASSWORD="+tc.password, "LOG_LEVEL=DEBUG", "LOG_FORMAT="+tc.format)
			if tc.connected {
				w.WaitFor(prefix+"status", payloadIs("online"), 10*time.Second)
				// The device list follows the subscription, which follows online.
				w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, lampIEEE) }, 5*time.Second)
				z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254}`, false)
				w.WaitFor(lampPrefix+"state", hasField("state.power", true), 5*time.Second)
				w.Publish(lampPrefix+"cmd", `{"id":"pw-1","values":{"power":false}}`, false)
				w.WaitFor("zigbee2mqtt/"+lampName+"/set", nil, 5*time.Second)
				z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"OFF"}`, false)
				w.WaitFor(lampPrefix+"cmd/response", hasField("status", "success"), 5*time.Second)
			} else {
				waitForLog(t, p, "mqtt connect failed", 10*time.Second)
				if n := w.Count(prefix+"status", payloadIs("online")); n != 0 {
					t.Errorf("status online with a wrong password")
				}
			}
			p.signal(syscall.SIGTERM)
			p.wait(15 * time.Second)
			out := p.Output()
			if !strings.Contains(out, "translator starting") {
				t.Fatalf("no log captured:\n%s", out)
			}
			for _, leak := range []string{secret, hex.EncodeToString([]byte(secret))} {
				if strings.Contains(out, leak) {
					t.Errorf("the password appears in the log:\n%s", out)
				}
			}
		})
	}
}

// TestSecurity_TLS proves the daemon connects to a TLS listener whose
// certificate chains to MQTT_CA_FILE, and refuses one signed by another CA
// (no online, a logged connect failure) instead of falling back to plain
// MQTT.
func TestSecurity_TLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t, "test broker CA")
	other, _ := newCA(t, "some other CA")
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	otherFile := writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	certFile, keyFile := newServerCert(t, dir, ca, caKey)

	cases := []struct {
		name      string
		caFile    string
		connected bool
	}{
		{"broker CA", caFile, true},
		{"other CA", otherFile, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tlsPort := mqtttest.FreePort(t)
			b := mqtttest.StartBroker(t, brokerUser,
				"listener "+strconv.Itoa(tlsPort)+" 127.0.0.1",
				"cafile "+caFile, "certfile "+certFile, "keyfile "+keyFile)
			waitListening(t, "127.0.0.1:"+strconv.Itoa(tlsPort))
			w := mqtttest.Connect(t, b.Addr, "watcher")
			w.Subscribe("IoT2mqtt/#")
			p := startTranslator(t, b, minimalInstance,
				"MQTT_HOST=mqtts://127.0.0.1", "MQTT_PORT="+strconv.Itoa(tlsPort), "MQTT_CA_FILE="+tc.caFile)
			if tc.connected {
				w.WaitFor(prefix+"status", payloadIs("online"), 10*time.Second)
				waitForLog(t, p, "mqtt connected", 5*time.Second)
				return
			}
			waitForLog(t, p, "mqtt connect failed", 10*time.Second)
			time.Sleep(3 * time.Second) // a retry or two, in case one of them got through
			if n := w.Count(prefix+"status", payloadIs("online")); n != 0 {
				t.Errorf("status online through a certificate the CA did not sign:\n%s", p.Output())
			}
			if out := p.Output(); !strings.Contains(out, "certificate") {
				t.Errorf("the connect failure does not mention the certificate:\n%s", out)
			}
		})
	}
}

// TestSecurity_HealthListensOnLoopback: without HTTP_ADDR the /health
// listener binds a loopback port, and it is not reachable on the host's
// other addresses.
func TestSecurity_HealthListensOnLoopback(t *testing.T) {
	_, _, _, p := setup(t, minimalInstance, "LOG_FORMAT=json")
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Message, "http listening for /health") {
				addr = line.Addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no \"http listening for /health\" line with an addr:\n%s", p.Output())
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("http listens on %q, want 127.0.0.1:<port>", addr)
	}
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), port), time.Second); err == nil {
			c.Close()
			t.Errorf("/health port %s answers on %s", port, ipn.IP)
		}
	}
}

// brokerUser keeps a Mosquitto started as root from dropping to the
// mosquitto user, which could not read the password file and certificates
// in the test's private temporary directory (without root it has no effect).
const brokerUser = "user root"

// waitForLog waits until the daemon's output contains s.
func waitForLog(t *testing.T, p *proc, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %s:\n%s", s, timeout, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newCA returns a self-signed CA certificate and its key.
func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// newServerCert writes a certificate for 127.0.0.1 and localhost signed by
// ca, and its key, into dir.
func newServerCert(t *testing.T, dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "server.pem", "CERTIFICATE", der), writePEM(t, dir, "server-key.pem", "PRIVATE KEY", keyDER)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
