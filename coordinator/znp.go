package coordinator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Device states of the Z-Stack state machine.
const (
	stateHold         = 0
	stateCoordStart   = 8
	stateCoordStarted = 9
)

// Firmware identity answered to SYS.version: product 1 is Z-Stack 3.x.0.
var versionInfo = buf{}.u8(2).u8(1).u8(2).u8(7).u8(1).u32(20240710)

// Config configures an Emulator.
type Config struct {
	// Listen is the TCP address zigbee-herdsman connects to, e.g.
	// 127.0.0.1:6638 (":0" picks a free port).
	Listen string
	// StatePath is the file holding the NV state; "" keeps it in memory.
	StatePath string
	// IEEE is the coordinator's address (default 0x00124b00cafe0001).
	IEEE uint64
	// Devices are the devices that can join.
	Devices []Description
	// Logf, when set, receives one line per event (joins, faults, drops).
	Logf func(format string, args ...any)
}

// Emulator is an emulated Z-Stack coordinator with simulated devices.
type Emulator struct {
	cfg Config
	ln  net.Listener

	mu          sync.Mutex
	nv          *nvStore
	state       byte
	endpoints   map[byte][]byte // registered AF endpoints: simple descriptor
	groups      map[uint16]bool
	permitUntil time.Time
	devices     map[uint64]*device // every described device, joined or not
	conn        net.Conn
	writeMu     sync.Mutex
	wg          sync.WaitGroup
}

// New prepares an emulator; Start listens.
func New(cfg Config) (*Emulator, error) {
	if cfg.IEEE == 0 {
		cfg.IEEE = 0x00124b00cafe0001
	}
	nv, err := newNVStore(cfg.StatePath, cfg.IEEE)
	if err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, nv: nv, endpoints: map[byte][]byte{}, groups: map[uint16]bool{}, devices: map[uint64]*device{}}
	for _, desc := range cfg.Devices {
		dev, err := desc.compile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", desc.File, err)
		}
		if _, dup := e.devices[dev.ieee]; dup {
			return nil, fmt.Errorf("%s: ieee %s is described twice", desc.File, desc.IEEE)
		}
		e.devices[dev.ieee] = dev
	}
	return e, nil
}

func (e *Emulator) logf(format string, args ...any) {
	if e.cfg.Logf != nil {
		e.cfg.Logf(format, args...)
	}
}

// Start listens and serves zigbee-herdsman, one connection at a time, until
// ctx ends.
func (e *Emulator) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	e.ln = ln
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		<-ctx.Done()
		ln.Close()
		e.Drop()
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.serve(c)
		}
	}()
	return nil
}

// Addr is the address the emulator listens on.
func (e *Emulator) Addr() string { return e.ln.Addr().String() }

// Wait returns when Start's goroutines have ended (after ctx ended).
func (e *Emulator) Wait() { e.wg.Wait() }

// Drop closes zigbee-herdsman's connection, as a networked coordinator that
// loses power does. Zigbee2MQTT exits when its adapter disconnects.
func (e *Emulator) Drop() {
	e.mu.Lock()
	c := e.conn
	e.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (e *Emulator) serve(c net.Conn) {
	e.mu.Lock()
	e.conn = c
	e.state = stateHold
	e.endpoints, e.groups = map[byte][]byte{}, map[uint16]bool{}
	e.mu.Unlock()
	e.logf("zigbee-herdsman connected from %s", c.RemoteAddr())
	r := bufio.NewReader(c)
	for {
		f, err := readFrame(r)
		if err != nil {
			break
		}
		e.handle(f)
	}
	c.Close()
	e.mu.Lock()
	if e.conn == c {
		e.conn = nil
	}
	e.mu.Unlock()
	e.logf("zigbee-herdsman disconnected")
}

// send writes frames to zigbee-herdsman in order.
func (e *Emulator) send(frames ...frame) {
	e.mu.Lock()
	c := e.conn
	e.mu.Unlock()
	if c == nil {
		return
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	for _, f := range frames {
		if _, err := c.Write(f.encode()); err != nil {
			return
		}
	}
}

func srsp(sub, cmd byte, data []byte) frame {
	return frame{typ: typeSRSP, sub: sub, cmd: cmd, data: data}
}
func areq(sub, cmd byte, data []byte) frame {
	return frame{typ: typeAREQ, sub: sub, cmd: cmd, data: data}
}

// handle answers one frame: the SRSP first, then any AREQs, as the
// firmware does.
func (e *Emulator) handle(f frame) {
	e.mu.Lock()
	out := e.dispatch(f)
	if err := e.nv.flush(); err != nil {
		e.logf("%v", err)
	}
	e.mu.Unlock()
	e.send(out...)
}

func (e *Emulator) dispatch(f frame) []frame {
	r := &reader{b: f.data}
	switch f.sub {
	case subSYS:
		return e.sys(f, r)
	case subUTIL:
		return e.util(f, r)
	case subAPPCNF:
		return e.appcnf(f, r)
	case subAF:
		return e.af(f, r)
	case subZDO:
		return e.zdo(f, r)
	}
	if f.typ == typeSREQ {
		return []frame{srsp(f.sub, f.cmd, []byte{0})}
	}
	return nil
}

func (e *Emulator) sys(f frame, r *reader) []frame {
	ok := func(data []byte) []frame { return []frame{srsp(subSYS, f.cmd, data)} }
	nv := e.nv
	switch f.cmd {
	case 0x00: // resetReq (AREQ): apply the startup option, back to HOLD
		if opt := nv.legacy[nvStartupOption]; len(opt) > 0 && opt[0]&0x02 != 0 {
			nv.wipeNetwork()
		}
		e.state = stateHold
		e.endpoints, e.groups = map[byte][]byte{}, map[uint16]bool{}
		return []frame{areq(subSYS, 0x80, buf{}.u8(0).bytes(versionInfo[:5]))}
	case 0x01:
		return ok(buf{}.u16(0x0179))
	case 0x02:
		return ok(versionInfo)
	case 0x04:
		return ok(nv.legacy[nvExtAddr])
	case 0x13: // osalNvLength
		return ok(buf{}.u16(uint16(len(nv.legacy[r.u16()]))))
	case 0x08, 0x1C: // osalNvRead, osalNvReadExt
		id := r.u16()
		off := int(r.u8())
		if f.cmd == 0x1C {
			off |= int(r.u8()) << 8
		}
		v, exists := nv.legacy[id]
		if !exists || off > len(v) {
			return ok([]byte{0x0A, 0})
		}
		v = v[off:]
		if len(v) > 244 {
			v = v[:244]
		}
		return ok(buf{}.u8(0).u8(byte(len(v))).bytes(v))
	case 0x09, 0x1D: // osalNvWrite, osalNvWriteExt
		id := r.u16()
		var off, n int
		if f.cmd == 0x1D {
			off, n = int(r.u16()), int(r.u16())
		} else {
			off, n = int(r.u8()), int(r.u8())
		}
		data := r.take(n)
		v, exists := nv.legacy[id]
		if !exists {
			return ok([]byte{0x0A})
		}
		if need := off + len(data); need > len(v) {
			v = append(v, make([]byte, need-len(v))...)
		}
		copy(v[off:], data)
		nv.setLegacy(id, v)
		return ok([]byte{0})
	case 0x07: // osalNvItemInit
		id, size, n := r.u16(), int(r.u16()), int(r.u8())
		init := r.take(n)
		if _, exists := nv.legacy[id]; exists {
			return ok([]byte{0})
		}
		v := make([]byte, size)
		copy(v, init)
		nv.setLegacy(id, v)
		return ok([]byte{0x09})
	case 0x12: // osalNvDelete
		delete(nv.legacy, r.u16())
		nv.dirty = true
		return ok([]byte{0})
	case 0x32: // nvLength
		k := extKey{r.u8(), r.u16(), r.u16()}
		return ok(buf{}.u32(uint32(len(nv.ext[k]))))
	case 0x33: // nvRead
		k := extKey{r.u8(), r.u16(), r.u16()}
		off, n := int(r.u16()), int(r.u8())
		v, exists := nv.ext[k]
		if !exists || off > len(v) {
			return ok([]byte{0x0A, 0})
		}
		v = v[off:min(len(v), off+n)]
		return ok(buf{}.u8(0).u8(byte(len(v))).bytes(v))
	case 0x30: // nvCreate
		k := extKey{r.u8(), r.u16(), r.u16()}
		size := int(r.u32())
		if _, exists := nv.ext[k]; !exists {
			nv.setExt(k, make([]byte, size))
		}
		return ok([]byte{0})
	case 0x34, 0x35: // nvWrite, nvUpdate
		k := extKey{r.u8(), r.u16(), r.u16()}
		off, n := int(r.u16()), int(r.u8())
		data := r.take(n)
		v := nv.ext[k]
		if need := off + len(data); need > len(v) {
			v = append(v, make([]byte, need-len(v))...)
		}
		copy(v[off:], data)
		nv.setExt(k, v)
		return ok([]byte{0})
	case 0x31: // nvDelete
		delete(nv.ext, extKey{r.u8(), r.u16(), r.u16()})
		nv.dirty = true
		return ok([]byte{0})
	case 0x0F: // stackTune
		return ok([]byte{0})
	}
	if f.typ == typeSREQ {
		return ok([]byte{0})
	}
	return nil
}

func (e *Emulator) util(f frame, r *reader) []frame {
	ok := func(data []byte) []frame { return []frame{srsp(subUTIL, f.cmd, data)} }
	switch f.cmd {
	case 0x00: // getDeviceInfo
		short := uint16(0xFFFE)
		if e.state == stateCoordStarted {
			short = 0
		}
		return ok(buf{}.u8(0).bytes(e.nv.legacy[nvExtAddr]).u16(short).u8(7).u8(e.state).u8(0))
	case 0x4A: // assocGetWithAddress: no association table
		return ok(buf{}.u16(0xFFFE).u16(0xFFFF).u8(0xFF))
	}
	return ok([]byte{0})
}

func (e *Emulator) appcnf(f frame, r *reader) []frame {
	out := []frame{srsp(subAPPCNF, f.cmd, []byte{0})}
	if f.cmd == 0x05 && r.u8()&0x04 != 0 { // bdbStartCommissioning: form
		e.nv.formNetwork()
		e.state = stateCoordStarted
		pan, _, ch, _ := e.nv.network()
		e.logf("formed a network: PAN 0x%04x, channel %d", pan, ch)
		out = append(out, areq(subZDO, 0xC0, []byte{stateCoordStart}), areq(subZDO, 0xC0, []byte{stateCoordStarted}))
	}
	return out
}

// errNoDevice is returned by the control interface for unknown devices.
var errNoDevice = errors.New("no such device")

// invalidError is a control request that cannot be carried out as asked:
// a malformed field, or a part the device does not have.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}
