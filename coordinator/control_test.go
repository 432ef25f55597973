package coordinator

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// mtClient plays zigbee-herdsman's side of the emulator's TCP connection.
type mtClient struct {
	t       *testing.T
	c       net.Conn
	r       *bufio.Reader
	pending []frame // AREQs read while waiting for something else
}

func dialMT(t *testing.T, addr string) *mtClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &mtClient{t: t, c: c, r: bufio.NewReader(c)}
}

// read reads the next frame, failing the test after two seconds.
func (m *mtClient) read() (frame, error) {
	m.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	return readFrame(m.r)
}

// request sends an SREQ and returns its SRSP.
func (m *mtClient) request(sub, cmd byte, data []byte) frame {
	m.t.Helper()
	if _, err := m.c.Write(frame{typ: typeSREQ, sub: sub, cmd: cmd, data: data}.encode()); err != nil {
		m.t.Fatal(err)
	}
	for {
		f, err := m.read()
		if err != nil {
			m.t.Fatalf("waiting for the answer to %d/%#02x: %v", sub, cmd, err)
		}
		if f.typ == typeSRSP && f.sub == sub && f.cmd == cmd {
			return f
		}
		m.pending = append(m.pending, f)
	}
}

// await returns the next AREQ sub/cmd, skipping others.
func (m *mtClient) await(sub, cmd byte) (frame, error) {
	for len(m.pending) > 0 {
		f := m.pending[0]
		m.pending = m.pending[1:]
		if f.typ == typeAREQ && f.sub == sub && f.cmd == cmd {
			return f, nil
		}
	}
	for {
		f, err := m.read()
		if err != nil {
			return frame{}, err
		}
		if f.typ == typeAREQ && f.sub == sub && f.cmd == cmd {
			return f, nil
		}
	}
}

// The control interface drives the simulated devices over a live
// connection, and answers a request it cannot carry out with a status and a
// message that says why: 400 for a malformed request or a part the device
// does not have, 404 for an unknown device, 409 when the network cannot do
// it now.
func TestControl(t *testing.T) {
	var descs []Description
	all, err := LoadDescriptions(Builtin, "devices")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.Model == "SNZB-02" || d.Model == "E1743" {
			descs = append(descs, d)
		}
	}
	e, err := New(Config{Listen: "127.0.0.1:0", Devices: descs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); e.Wait() }()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m := dialMT(t, e.Addr())
	m.request(subSYS, 0x01, nil) // ping: the emulator now serves this connection
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	const sensor, remote = `"ieee":"0x00124b0022a3b4c5"`, `"ieee":"0x680ae2fffe7d8e9f"`
	form := func() { m.request(subAPPCNF, 0x05, []byte{0x04}) }                      // bdbStartCommissioning: formation
	permit := func() { m.request(subZDO, 0x36, []byte{0x0F, 0xFC, 0xFF, 60, 0x00}) } // mgmtPermitJoinReq, 60 s
	tests := []struct {
		name       string
		before     func()
		path, body string // POST unless body is empty
		wantCode   int
		wantBody   string
		wantFrame  [2]byte // the AREQ the client must receive (subsystem, command); zero: none checked
		wantData   string  // a hex substring of that frame's data
	}{
		{name: "devices", path: "/devices", wantCode: 200, wantBody: `"model":"SNZB-02","type":"end_device","joined":false`},
		{name: "malformed body", path: "/join", body: `{`, wantCode: 400, wantBody: "body: unexpected EOF"},
		{name: "malformed address", path: "/join", body: `{"ieee":"zz"}`, wantCode: 400, wantBody: `ieee "zz" is not a 64-bit hex address`},
		{name: "unknown device", path: "/join", body: `{"ieee":"0x1"}`, wantCode: 404, wantBody: "join 0x0000000000000001: no such device"},
		{name: "network not formed", path: "/join", body: `{` + sensor + `}`, wantCode: 409, wantBody: "the network is not up"},
		{name: "joining not permitted", before: form, path: "/join", body: `{` + sensor + `}`, wantCode: 409, wantBody: "does not permit joining"},
		{name: "join", before: permit, path: "/join", body: `{` + sensor + `}`, wantCode: 200, wantBody: "ok",
			wantFrame: [2]byte{subZDO, 0xC1}, wantData: "c5b4a322004b1200"}, // endDeviceAnnceInd with the address
		{name: "set reports", path: "/set", body: `{` + sensor + `,"cluster":"0x0402","attribute":"0x0000","value":1850}`, wantCode: 200, wantBody: "ok",
			wantFrame: [2]byte{subAF, 0x81}, wantData: "0a0000293a07"}, // Report Attributes: measuredValue int16 1850
		{name: "set a word on a number", path: "/set", body: `{` + sensor + `,"cluster":"0x0402","attribute":"0x0000","value":"warm"}`, wantCode: 400,
			wantBody: `attribute 0x0000 of cluster 0x0402: value "warm" is not a number`},
		{name: "set out of range", path: "/set", body: `{` + sensor + `,"cluster":"0x0402","attribute":"0x0000","value":40000}`, wantCode: 400,
			wantBody: "value 40000 is outside -32768..32767"},
		{name: "set a missing attribute", path: "/set", body: `{` + sensor + `,"cluster":"0x0402","attribute":"0x1234","value":1}`, wantCode: 400,
			wantBody: "endpoint 1 has no attribute 0x1234 in cluster 0x0402"},
		{name: "set a malformed cluster", path: "/set", body: `{` + sensor + `,"cluster":"temp","attribute":"0x0000","value":1}`, wantCode: 400,
			wantBody: `cluster "temp" and attribute "0x0000" must be numbers`},
		{name: "command from a device that did not join", path: "/command", body: `{` + remote + `,"cluster":"0x0006","command":2}`, wantCode: 404,
			wantBody: "command 0x680ae2fffe7d8e9f: no such device"},
		{name: "unknown fault", path: "/fault", body: `{` + sensor + `,"kind":"boom"}`, wantCode: 400,
			wantBody: `fault "boom" is not one of confirm, silent, status`},
		{name: "leave", path: "/leave", body: `{` + sensor + `}`, wantCode: 200, wantBody: "ok",
			wantFrame: [2]byte{subZDO, 0xC9}, wantData: "c5b4a322004b1200"}, // leaveInd with the address
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		var resp *http.Response
		var err error
		if tt.body == "" {
			resp, err = http.Get(srv.URL + tt.path)
		} else {
			resp, err = http.Post(srv.URL+tt.path, "application/json", strings.NewReader(tt.body))
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("%s: got %d %q, want %d with %q", tt.name, resp.StatusCode, body, tt.wantCode, tt.wantBody)
		}
		if tt.wantFrame != [2]byte{} {
			f, err := m.await(tt.wantFrame[0], tt.wantFrame[1])
			if err != nil {
				t.Fatalf("%s: no frame %#02x/%#02x: %v", tt.name, tt.wantFrame[0], tt.wantFrame[1], err)
			}
			if got := hex.EncodeToString(f.data); !strings.Contains(got, tt.wantData) {
				t.Errorf("%s: frame data %s, want it to contain %s", tt.name, got, tt.wantData)
			}
		}
	}

	// drop: the coordinator closes zigbee-herdsman's connection.
	resp, err := http.Post(srv.URL+"/drop", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := m.await(0xFF, 0xFF); !errors.Is(err, io.EOF) {
		t.Errorf("after /drop the connection reads %v, want EOF", err)
	}
}
