package coordinator

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// names maps the command names of the recorded MT traces to subsystem and
// command id.
var names = map[string][2]byte{
	"SYS.ping": {subSYS, 0x01}, "SYS.version": {subSYS, 0x02}, "SYS.getExtAddr": {subSYS, 0x04},
	"SYS.osalNvLength": {subSYS, 0x13}, "SYS.osalNvReadExt": {subSYS, 0x1C}, "SYS.osalNvWriteExt": {subSYS, 0x1D},
	"SYS.osalNvItemInit": {subSYS, 0x07}, "SYS.osalNvDelete": {subSYS, 0x12}, "SYS.nvLength": {subSYS, 0x32},
	"SYS.nvRead": {subSYS, 0x33}, "SYS.resetReq": {subSYS, 0x00}, "SYS.resetInd": {subSYS, 0x80},
	"APP_CNF.bdbSetChannel": {subAPPCNF, 0x08}, "APP_CNF.bdbStartCommissioning": {subAPPCNF, 0x05},
	"ZDO.extNwkInfo": {subZDO, 0x50}, "ZDO.stateChangeInd": {subZDO, 0xC0}, "ZDO.activeEpReq": {subZDO, 0x05},
	"ZDO.activeEpRsp": {subZDO, 0x85}, "ZDO.simpleDescReq": {subZDO, 0x04}, "ZDO.simpleDescRsp": {subZDO, 0x84},
	"AF.register": {subAF, 0x00}, "ZDO.extFindGroup": {subZDO, 0x4A}, "ZDO.extAddGroup": {subZDO, 0x4B},
	"UTIL.getDeviceInfo": {subUTIL, 0x00}, "ZDO.startupFromApp": {subZDO, 0x40},
}

type traceLine struct {
	dir, typ, name string
	data           []byte
}

func readTrace(t *testing.T, name string) []traceLine {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "reference", "z2m-recordings", name)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no recorded trace (%v): ../shared sits beside the repository in CI", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []traceLine
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		l := traceLine{dir: fields[1], typ: fields[2], name: fields[3]}
		if len(fields) > 4 {
			l.data, _ = hex.DecodeString(fields[4])
		}
		out = append(out, l)
	}
	return out
}

// The emulator answers the coordinator's part of a recorded fresh start
// (network formation, endpoint registration, backup) byte for byte as the
// verified emulation did, up to the first device joining.
func TestTrace_FreshStart(t *testing.T) {
	lines := readTrace(t, "zemu-trace-fresh.txt.gz")
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var pending []frame // what the emulator sent and the trace has not matched yet
	checked := 0
	skip := make([]bool, len(lines))
	for i, l := range lines {
		if l.name == "ZDO.tcDeviceInd" {
			break
		}
		id, known := names[l.name]
		known = known && !skip[i]
		switch {
		case l.dir == "->" && known:
			typ := byte(typeSREQ)
			if l.typ == "AREQ" {
				typ = typeAREQ
			}
			pending = append(pending, e.dispatch(frame{typ: typ, sub: id[0], cmd: id[1], data: l.data})...)
		case l.dir == "<-" && known:
			if len(pending) == 0 {
				t.Fatalf("trace line %d: %s %s %x: the emulator sent nothing", i+1, l.typ, l.name, l.data)
			}
			got := pending[0]
			pending = pending[1:]
			if got.sub != id[0] || got.cmd != id[1] || hex.EncodeToString(got.data) != hex.EncodeToString(l.data) {
				t.Errorf("trace line %d: %s %s\n got  %s\n want %x", i+1, l.typ, l.name, got, l.data)
			}
			checked++
		case l.dir == "->":
			pending = nil // a command outside this test's scope: skip its answers
			for j := i + 1; j < len(lines) && lines[j].dir == "<-"; j++ {
				skip[j] = true
			}
		}
	}
	if checked < 200 {
		t.Errorf("checked %d answers, want the whole coordinator start", checked)
	}
}
