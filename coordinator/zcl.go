package coordinator

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// ZCL data types the simulated devices use.
var typeIDs = map[string]byte{
	"bool": 0x10, "bitmap8": 0x18, "bitmap16": 0x19, "uint8": 0x20, "uint16": 0x21, "uint24": 0x22, "uint32": 0x23,
	"uint40": 0x24, "uint48": 0x25,
	"int8": 0x28, "int16": 0x29, "int32": 0x2B, "enum8": 0x30, "enum16": 0x31, "string": 0x42,
}

func typeNames() string {
	names := make([]string, 0, len(typeIDs))
	for n := range typeIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// typeSize is the encoded size of fixed-size types (0 for strings).
func typeSize(t byte) int {
	switch t {
	case 0x10, 0x18, 0x20, 0x28, 0x30:
		return 1
	case 0x19, 0x21, 0x29, 0x31:
		return 2
	case 0x22:
		return 3
	case 0x23, 0x2B:
		return 4
	case 0x24:
		return 5
	case 0x25:
		return 6
	case 0xF0: // IEEE address
		return 8
	}
	return 0
}

// analog types carry a reportable change in Configure Reporting.
func analog(t byte) bool {
	return (t >= 0x20 && t <= 0x2F) || (t >= 0x38 && t <= 0x3A) || (t >= 0xE0 && t <= 0xE2)
}

// checkValue reports why v cannot be the value of an attribute of type t:
// a string type takes a string of at most 254 bytes, every other type a
// whole number in its range (a bool 0 or 1).
func checkValue(t byte, v any) error {
	if t == 0x42 {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("value %s is not a string", valueText(v))
		}
		if len(s) > 254 {
			return fmt.Errorf("the string has %d bytes, more than 254", len(s))
		}
		return nil
	}
	f, ok := v.(float64)
	if !ok {
		return fmt.Errorf("value %s is not a number", valueText(v))
	}
	lo, hi := typeRange(t)
	switch {
	case f != math.Trunc(f):
		return fmt.Errorf("value %v is not a whole number", f)
	case f < lo || f > hi:
		return fmt.Errorf("value %v is outside %.0f..%.0f", f, lo, hi)
	}
	return nil
}

// typeRange is the smallest and largest value of a number type.
func typeRange(t byte) (lo, hi float64) {
	bits := 8 * typeSize(t)
	switch {
	case t == 0x10:
		return 0, 1
	case t >= 0x28 && t <= 0x2F:
		return -math.Exp2(float64(bits - 1)), math.Exp2(float64(bits-1)) - 1
	}
	return 0, math.Exp2(float64(bits)) - 1
}

// valueText shows a value of a description or control request as JSON.
func valueText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// numberValue turns the numbers and bools a Go caller passes into the
// float64 attributes hold (JSON numbers already are).
func numberValue(v any) any {
	if b, ok := v.(bool); ok {
		if b {
			return 1.0
		}
		return 0.0
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return float64(rv.Int())
	case rv.CanUint():
		return float64(rv.Uint())
	case rv.CanFloat():
		return rv.Float()
	}
	return v
}

func encodeValue(b buf, t byte, v any) buf {
	if t == 0x42 {
		s, _ := v.(string)
		return b.u8(byte(len(s))).bytes([]byte(s))
	}
	if raw, ok := v.([]byte); ok {
		return b.bytes(raw)
	}
	f, _ := v.(float64)
	n := uint64(int64(math.Round(f)))
	for i := range typeSize(t) {
		b = b.u8(byte(n >> (8 * i)))
	}
	return b
}

func decodeValue(r *reader, t byte) any {
	if t == 0x42 || t == 0x41 {
		return string(r.take(int(r.u8())))
	}
	size := typeSize(t)
	if size == 0 {
		return nil
	}
	raw := r.take(size)
	if t == 0xF0 {
		return append([]byte(nil), raw...)
	}
	var n uint64
	for i, c := range raw {
		n |= uint64(c) << (8 * i)
	}
	if t >= 0x28 && t <= 0x2F { // signed
		shift := 64 - 8*size
		return float64(int64(n<<shift) >> shift)
	}
	return float64(n)
}

// zclFrame is a parsed ZCL frame.
type zclFrame struct {
	fc       byte
	manuf    uint16
	tsn, cmd byte
	payload  []byte
}

func parseZCL(data []byte) (zclFrame, bool) {
	r := reader{b: data}
	f := zclFrame{fc: r.u8()}
	if f.fc&0x04 != 0 {
		f.manuf = r.u16()
	}
	f.tsn, f.cmd = r.u8(), r.u8()
	f.payload = r.rest()
	return f, !r.short
}

func (f zclFrame) clusterSpecific() bool   { return f.fc&0x03 == 1 }
func (f zclFrame) noDefaultResponse() bool { return f.fc&0x10 != 0 }

// reply builds a server-to-client frame answering f.
func (f zclFrame) reply(clusterSpecific bool, cmd byte, payload []byte) []byte {
	fc := byte(0x18)
	if clusterSpecific {
		fc = 0x19
	}
	b := buf{}
	if f.fc&0x04 != 0 {
		b = b.u8(fc | 0x04).u16(f.manuf)
	} else {
		b = b.u8(fc)
	}
	return b.u8(f.tsn).u8(cmd).bytes(payload)
}

// ZCL statuses.
const (
	statusSuccess        = 0x00
	statusUnsupCluster   = 0x81
	statusUnsupGeneral   = 0x82
	statusUnsupAttribute = 0x86
	statusNotFound       = 0x8B
)

// handleZCL runs a frame addressed to one of the device's endpoints and
// returns the device's answers (ZCL frames on the same cluster) and the
// attributes the frame changed.
func (d *device) handleZCL(ep byte, cluster uint16, f zclFrame) (answers [][]byte, changed []attrKey) {
	if f.clusterSpecific() {
		status := byte(statusSuccess)
		if d.faults.status > 0 { // a device that refuses a command does not carry it out
			d.faults.status--
			status = d.faults.code
		} else {
			changed, status = d.clusterCommand(ep, cluster, f)
		}
		switch {
		case cluster == 0x0101 && f.cmd <= 0x01: // Door Lock answers lock/unlock with its own response
			answers = append(answers, f.reply(true, f.cmd, []byte{status}))
		case cluster == 0x0004 && (f.cmd == 0x00 || f.cmd == 0x03): // Groups: add and remove answer with the group
			answers = append(answers, f.reply(true, f.cmd, buf{}.u8(status).bytes(f.payload[:min(2, len(f.payload))])))
		case !f.noDefaultResponse():
			answers = append(answers, f.reply(false, 0x0B, []byte{f.cmd, status}))
		}
		return answers, changed
	}
	switch f.cmd {
	case 0x00: // read attributes
		r := reader{b: f.payload}
		out := buf{}
		for len(r.b) >= 2 {
			id := r.u16()
			a, ok := d.attr(ep, cluster, id)
			if !ok {
				out = out.u16(id).u8(statusUnsupAttribute)
				continue
			}
			out = encodeValue(out.u16(id).u8(statusSuccess).u8(a.typ), a.typ, a.value)
		}
		return [][]byte{f.reply(false, 0x01, out)}, nil
	case 0x02, 0x03, 0x05: // write attributes (undivided, no response)
		r := reader{b: f.payload}
		for len(r.b) >= 3 {
			id, t := r.u16(), r.u8()
			v := decodeValue(&r, t)
			if r.short {
				break
			}
			if d.setAttr(ep, cluster, id, t, v) {
				changed = append(changed, attrKey{ep, cluster, id})
			}
		}
		if f.cmd == 0x05 {
			return nil, changed
		}
		return [][]byte{f.reply(false, 0x04, []byte{statusSuccess})}, changed
	case 0x06: // configure reporting
		r := reader{b: f.payload}
		for len(r.b) >= 3 {
			if r.u8() != 0 { // direction: we only keep reports we send
				r.take(4)
				continue
			}
			id, t := r.u16(), r.u8()
			r.u16()
			r.u16()
			if analog(t) {
				r.take(max(typeSize(t), 1))
			}
			d.reporting[attrKey{ep, cluster, id}] = true
			// A device reports a newly configured attribute at once, as
			// real ones do, so its state is known after pairing.
			if _, ok := d.attr(ep, cluster, id); ok {
				changed = append(changed, attrKey{ep, cluster, id})
			}
		}
		return [][]byte{f.reply(false, 0x07, []byte{statusSuccess})}, changed
	case 0x0B, 0x01, 0x04, 0x07, 0x0A: // responses and reports: nothing to answer
		return nil, nil
	}
	if f.noDefaultResponse() {
		return nil, nil
	}
	return [][]byte{f.reply(false, 0x0B, []byte{f.cmd, statusUnsupGeneral})}, nil
}

// clusterCommand changes the device's state the way the real device does
// for the cluster commands of On/Off, Level Control, Color Control, Window
// Covering, Door Lock and Thermostat, and returns the status to answer.
func (d *device) clusterCommand(ep byte, cluster uint16, f zclFrame) (changed []attrKey, status byte) {
	r := reader{b: f.payload}
	set := func(c, id uint16, t byte, v float64) {
		if d.setAttr(ep, c, id, t, v) {
			changed = append(changed, attrKey{ep, c, id})
		}
	}
	switch cluster {
	case 0x0006: // On/Off
		switch f.cmd {
		case 0x00, 0x40:
			set(0x0006, 0x0000, 0x10, 0)
		case 0x01, 0x41, 0x42:
			set(0x0006, 0x0000, 0x10, 1)
		case 0x02:
			set(0x0006, 0x0000, 0x10, 1-d.number(ep, 0x0006, 0x0000))
		default:
			return nil, statusUnsupCluster
		}
	case 0x0008: // Level Control
		switch f.cmd {
		case 0x00, 0x04:
			level := float64(r.u8())
			set(0x0008, 0x0000, 0x20, level)
			if f.cmd == 0x04 {
				set(0x0006, 0x0000, 0x10, map[bool]float64{true: 1, false: 0}[level > 1])
			}
		case 0x02, 0x06:
			mode, size := r.u8(), float64(r.u8())
			level := d.number(ep, 0x0008, 0x0000)
			if mode == 1 {
				size = -size
			}
			level = math.Max(1, math.Min(254, level+size))
			set(0x0008, 0x0000, 0x20, level)
			if f.cmd == 0x06 {
				set(0x0006, 0x0000, 0x10, 1)
			}
		case 0x01, 0x03, 0x05, 0x07:
		default:
			return nil, statusUnsupCluster
		}
	case 0x0300: // Color Control
		switch f.cmd {
		case 0x0A:
			set(0x0300, 0x0007, 0x21, float64(r.u16()))
			set(0x0300, 0x0008, 0x30, 2)
		case 0x07:
			x, y := r.u16(), r.u16()
			set(0x0300, 0x0003, 0x21, float64(x))
			set(0x0300, 0x0004, 0x21, float64(y))
			set(0x0300, 0x0008, 0x30, 1)
		case 0x06:
			h, s := r.u8(), r.u8()
			set(0x0300, 0x0000, 0x20, float64(h))
			set(0x0300, 0x0001, 0x20, float64(s))
			set(0x0300, 0x0008, 0x30, 0)
		case 0x43:
			h, s := r.u16(), r.u8()
			set(0x0300, 0x4000, 0x21, float64(h))
			set(0x0300, 0x0001, 0x20, float64(s))
			set(0x0300, 0x0008, 0x30, 0)
		case 0x00, 0x03:
			h := r.u8()
			set(0x0300, 0x0000, 0x20, float64(h))
		case 0x47, 0x4B, 0x4C, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09:
		default:
			return nil, statusUnsupCluster
		}
	case 0x0102: // Window Covering: lift percentage 0 = open, 100 = closed
		switch f.cmd {
		case 0x00:
			set(0x0102, 0x0008, 0x20, 0)
		case 0x01:
			set(0x0102, 0x0008, 0x20, 100)
		case 0x02:
		case 0x05:
			set(0x0102, 0x0008, 0x20, float64(r.u8()))
		case 0x08:
			set(0x0102, 0x0009, 0x20, float64(r.u8()))
		default:
			return nil, statusUnsupCluster
		}
	case 0x0004: // Groups: add, remove, remove all
		e := d.eps[ep]
		switch f.cmd {
		case 0x00:
			e.groups[r.u16()] = true
		case 0x03:
			id := r.u16()
			if !e.groups[id] {
				return nil, statusNotFound
			}
			delete(e.groups, id)
		case 0x04:
			clear(e.groups)
		default:
			return nil, statusUnsupCluster
		}
	case 0x0101: // Door Lock: lockState 1 locked, 2 unlocked
		switch f.cmd {
		case 0x00:
			set(0x0101, 0x0000, 0x30, 1)
		case 0x01:
			set(0x0101, 0x0000, 0x30, 2)
		default:
			return nil, statusUnsupCluster
		}
	case 0x0500: // IAS Zone: the enroll response enrolls the zone
		if f.cmd != 0x00 {
			return nil, statusUnsupCluster
		}
		r.u8()
		set(0x0500, 0x0011, 0x20, float64(r.u8()))
		set(0x0500, 0x0000, 0x30, 1)
	case 0x0201: // Thermostat: setpoint raise/lower
		if f.cmd != 0x00 {
			return nil, statusUnsupCluster
		}
		r.u8()
		amount := float64(int8(r.u8())) * 10
		set(0x0201, 0x0012, 0x29, d.number(ep, 0x0201, 0x0012)+amount)
	default:
		return nil, statusUnsupCluster
	}
	return changed, statusSuccess
}

// changed is what the device sends when an attribute changes: an attribute
// report, except for an IAS zone's status, which a zone announces with a Zone
// Status Change Notification.
func (d *device) changed(ep byte, cluster, id uint16) []byte {
	if cluster == 0x0500 && id == 0x0002 {
		zoneID, _ := d.attr(ep, 0x0500, 0x0011)
		b := buf{}.u8(0x19).u8(d.nextTSN()).u8(0x00).u16(uint16(d.number(ep, cluster, id))).u8(0)
		if zoneID != nil {
			b = encodeValue(b, 0x20, zoneID.value)
		} else {
			b = b.u8(0xFF)
		}
		return b.u16(0)
	}
	return d.report(ep, cluster, []uint16{id})
}

// report is a Report Attributes frame for attributes of one cluster.
func (d *device) report(ep byte, cluster uint16, ids []uint16) []byte {
	b := buf{}.u8(0x18).u8(d.nextTSN()).u8(0x0A)
	for _, id := range ids {
		a, ok := d.attr(ep, cluster, id)
		if !ok {
			continue
		}
		b = encodeValue(b.u16(id).u8(a.typ), a.typ, a.value)
	}
	return b
}
