// Package coordinator emulates a TI Z-Stack coordinator (ZNP) on TCP, so the
// real Zigbee2MQTT forms a network, interviews devices, receives their
// reports and commands them, without hardware. It speaks the MT protocol
// to zigbee-herdsman's zstack adapter, keeps its non-volatile state in a
// file, and simulates devices at the ZDO/ZCL level from data files.
//
// It imports nothing of the translator: it is a Zigbee network as seen
// through a coordinator, nothing more.
package coordinator

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// MT frame types (the top three bits of CMD0) and subsystems.
const (
	typeSREQ = 1
	typeAREQ = 2
	typeSRSP = 3

	subSYS    = 0x01
	subAF     = 0x04
	subZDO    = 0x05
	subUTIL   = 0x07
	subAPPCNF = 0x0F
)

// frame is one MT frame: 0xFE LEN CMD0 CMD1 DATA FCS.
type frame struct {
	typ, sub, cmd byte
	data          []byte
}

func (f frame) String() string {
	return fmt.Sprintf("%d/%#02x/%#02x %x", f.typ, f.sub, f.cmd, f.data)
}

// readFrame reads the next frame with a valid checksum, skipping bytes up
// to a start byte (herdsman writes a stray 0xEF at connect) and frames
// whose checksum is wrong.
func readFrame(r *bufio.Reader) (frame, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		if b != 0xFE {
			continue
		}
		var head [3]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return frame{}, err
		}
		data := make([]byte, int(head[0])+1)
		if _, err := io.ReadFull(r, data); err != nil {
			return frame{}, err
		}
		fcs := head[0] ^ head[1] ^ head[2]
		for _, c := range data[:len(data)-1] {
			fcs ^= c
		}
		if fcs != data[len(data)-1] {
			continue
		}
		return frame{typ: head[1] >> 5, sub: head[1] & 0x1F, cmd: head[2], data: data[:len(data)-1]}, nil
	}
}

// encode renders f as bytes on the wire.
func (f frame) encode() []byte {
	out := make([]byte, 0, len(f.data)+5)
	out = append(out, 0xFE, byte(len(f.data)), f.typ<<5|f.sub, f.cmd)
	out = append(out, f.data...)
	fcs := byte(0)
	for _, c := range out[1:] {
		fcs ^= c
	}
	return append(out, fcs)
}

// buf builds little-endian payloads.
type buf []byte

func (b buf) u8(v byte) buf      { return append(b, v) }
func (b buf) u16(v uint16) buf   { return binary.LittleEndian.AppendUint16(b, v) }
func (b buf) u32(v uint32) buf   { return binary.LittleEndian.AppendUint32(b, v) }
func (b buf) u64(v uint64) buf   { return binary.LittleEndian.AppendUint64(b, v) }
func (b buf) bytes(v []byte) buf { return append(b, v...) }

// reader reads little-endian fields; reading past the end yields zeros and
// sets short.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.short = true
		out := make([]byte, n)
		copy(out, r.b)
		r.b = nil
		return out
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte    { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) rest() []byte {
	out := r.b
	r.b = nil
	return out
}
