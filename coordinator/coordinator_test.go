package coordinator

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"testing"
)

// Frames are found after stray bytes (herdsman's 0xEF at connect), and a
// frame with a wrong checksum is skipped.
func TestReadFrame(t *testing.T) {
	good := frame{typ: typeSREQ, sub: subSYS, cmd: 0x13, data: []byte{0x82, 0x00}}.encode()
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xFF
	tests := []struct {
		name string
		in   []byte
	}{
		{"plain", good},
		{"after a stray 0xEF", append([]byte{0xEF}, good...)},
		{"after a frame with a bad checksum", append(bad, good...)},
	}
	for _, tt := range tests {
		f, err := readFrame(bufio.NewReader(bytes.NewReader(tt.in)))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got, want := f.String(), "1/0x01/0x13 8200"; got != want {
			t.Errorf("%s: got %s, want %s", tt.name, got, want)
		}
	}
	if got, want := hex.EncodeToString(good), "fe0221138200b2"; got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
}

// Cluster commands change the simulated bulb as the real one changes.
func TestDevice_ClusterCommands(t *testing.T) {
	bulb := builtinDevice(t, "LED1545G12")
	tests := []struct {
		name          string
		cluster       uint16
		zcl           string // the frame Zigbee2MQTT sends
		attrCluster   uint16
		attr          uint16
		want          float64
		defaultAnswer string // the Default Response
	}{
		{"off", 0x0006, "011c00", 0x0006, 0x0000, 0, "181c0b0000"},
		{"on", 0x0006, "011d01", 0x0006, 0x0000, 1, "181d0b0100"},
		{"toggle", 0x0006, "011e02", 0x0006, 0x0000, 0, "181e0b0200"},
		{"moveToLevelWithOnOff 100", 0x0008, "011f04640000000000", 0x0008, 0x0000, 100, "181f0b0400"},
		{"moveToColorTemp 300", 0x0300, "01200a2c0100000000", 0x0300, 0x0007, 300, "18200b0a00"},
		{"unsupported command", 0x0006, "0121ff", 0x0006, 0x0000, 1, "18210bff81"},
	}
	for _, tt := range tests {
		data, _ := hex.DecodeString(tt.zcl)
		f, _ := parseZCL(data)
		answers, _ := bulb.handleZCL(1, tt.cluster, f)
		if len(answers) != 1 || hex.EncodeToString(answers[0]) != tt.defaultAnswer {
			t.Errorf("%s: answers %x, want %s", tt.name, answers, tt.defaultAnswer)
		}
		if got := bulb.number(1, tt.attrCluster, tt.attr); got != tt.want {
			t.Errorf("%s: attribute = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The state file is written when the NV changes, not for reads; the
// devices that joined are kept in the address manager table and known to
// an emulator started again on the same file.
func TestNVStore_Persistence(t *testing.T) {
	path := t.TempDir() + "/state.json"
	nv, err := newNVStore(path, 0x00124b00cafe0001)
	if err != nil {
		t.Fatal(err)
	}
	nv.formNetwork()
	nv.addMember(0x000d6ffffe4b5c6d, 0x1001)
	if err := nv.flush(); err != nil {
		t.Fatal(err)
	}
	e := &Emulator{nv: nv}
	for _, read := range []frame{
		{typ: typeSREQ, sub: subSYS, cmd: 0x13, data: []byte{0x21, 0x00}},              // osalNvLength NIB
		{typ: typeSREQ, sub: subSYS, cmd: 0x1C, data: []byte{0x21, 0x00, 0x00, 0x00}},  // osalNvReadExt NIB
		{typ: typeSREQ, sub: subSYS, cmd: 0x33, data: []byte{1, 1, 0, 0, 0, 0, 0, 11}}, // nvRead address manager
	} {
		e.dispatch(read)
		if nv.dirty {
			t.Errorf("%s marked the NV changed", read)
		}
	}
	again, err := newNVStore(path, 0x00124b00cafe0001)
	if err != nil {
		t.Fatal(err)
	}
	if nwk, ok := again.nwkOf(0x000d6ffffe4b5c6d); !ok || nwk != 0x1001 {
		t.Errorf("after a restart the member is %#04x, %v; want 0x1001, true", nwk, ok)
	}
	if got := again.nextNWK(); got != 0x1002 {
		t.Errorf("nextNWK = %#04x, want 0x1002", got)
	}
	again.removeMember(0x000d6ffffe4b5c6d)
	if _, ok := again.nwkOf(0x000d6ffffe4b5c6d); ok {
		t.Error("the member is still there after removeMember")
	}
}

// A lock answers lock/unlock with its own response; a status fault makes it
// refuse each of the next commands once, without moving the bolt.
func TestDevice_LockStatusFault(t *testing.T) {
	lock := builtinDevice(t, "YRD226HA2619")
	lock.faults.status, lock.faults.code = 2, 0x87
	tests := []struct {
		zcl, answer string
		lockState   float64
	}{
		{"011001", "19100187", 0}, // unlock refused
		{"011100", "19110087", 0}, // lock refused
		{"011201", "19120100", 2}, // unlocked
		{"011300", "19130000", 1}, // locked
	}
	lock.setAttr(1, 0x0101, 0x0000, 0x30, 0)
	for _, tt := range tests {
		data, _ := hex.DecodeString(tt.zcl)
		f, _ := parseZCL(data)
		answers, _ := lock.handleZCL(1, 0x0101, f)
		if len(answers) != 1 || hex.EncodeToString(answers[0]) != tt.answer {
			t.Errorf("%s: answers %x, want %s", tt.zcl, answers, tt.answer)
		}
		if got := lock.number(1, 0x0101, 0x0000); got != tt.lockState {
			t.Errorf("%s: lockState = %v, want %v", tt.zcl, got, tt.lockState)
		}
	}
}

// builtinDevice compiles the shipped description of a model.
func builtinDevice(t *testing.T, model string) *device {
	t.Helper()
	descs, err := LoadDescriptions(Builtin, "devices")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range descs {
		if d.Model == model {
			dev, err := d.compile()
			if err != nil {
				t.Fatal(err)
			}
			return dev
		}
	}
	t.Fatalf("no built-in description of %s", model)
	return nil
}

// The Groups cluster keeps the endpoint's groups and answers add and remove
// with the group, as zigbee-herdsman's addToGroup expects.
func TestDevice_Groups(t *testing.T) {
	bulb := builtinDevice(t, "LED1545G12")
	tests := []struct {
		name, zcl, answer string
		member            bool
	}{
		{"add group 1", "01300001000000", "19300000" + "0100", true},
		{"remove group 1", "0131030100", "19310300" + "0100", false},
		{"remove group 1 again", "0132030100", "1932038b" + "0100", false},
		{"add, then remove all", "01330001000000", "19330000" + "0100", true},
	}
	for _, tt := range tests {
		data, _ := hex.DecodeString(tt.zcl)
		f, _ := parseZCL(data)
		answers, _ := bulb.handleZCL(1, 0x0004, f)
		if len(answers) != 1 || hex.EncodeToString(answers[0]) != tt.answer {
			t.Errorf("%s: answers %x, want %s", tt.name, answers, tt.answer)
		}
		if got := bulb.eps[1].groups[1]; got != tt.member {
			t.Errorf("%s: member of group 1 = %v, want %v", tt.name, got, tt.member)
		}
	}
	f, _ := parseZCL([]byte{0x01, 0x34, 0x04})
	bulb.handleZCL(1, 0x0004, f)
	if len(bulb.eps[1].groups) != 0 {
		t.Errorf("remove all left groups %v", bulb.eps[1].groups)
	}
}
