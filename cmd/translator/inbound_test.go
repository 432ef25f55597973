package main

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// statePublish encodes the PUBLISH a Zigbee2MQTT light state arrives in.
func statePublish(t testing.TB, qos byte) (wire []byte, topic string, payload []byte) {
	t.Helper()
	topic = "zigbee2mqtt/living_room_lamp"
	payload = []byte(`{"state":"ON","brightness":200,"color_temp":350,"color_mode":"color_temp",` +
		`"linkquality":120,"update":{"state":"idle","installed_version":1,"latest_version":1},` +
		`"last_seen":"2026-11-25T03:33:42.000Z"}`)
	p := &packets.Publish{Topic: topic, Payload: payload, QoS: qos, Properties: &packets.Properties{}}
	if qos > 0 {
		p.PacketID = 7
	}
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), topic, payload
}

// The MQTT client under the daemon is paho.golang with a patched packet
// decoder (third_party/paho.golang/PATCHES.md). These tests fail if an
// update of that dependency loses the patch or breaks decoding.
func TestInboundPublish_Decodes(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		wire, topic, payload := statePublish(t, qos)
		cp, err := packets.ReadPacket(bytes.NewReader(wire))
		if err != nil {
			t.Fatalf("qos %d: %v", qos, err)
		}
		p, ok := cp.Content.(*packets.Publish)
		if !ok {
			t.Fatalf("qos %d: got %T, want *packets.Publish", qos, cp.Content)
		}
		if p.Topic != topic || !bytes.Equal(p.Payload, payload) || p.QoS != qos {
			t.Errorf("qos %d: got topic %q qos %d payload %q, want %q %d %q", qos, p.Topic, p.QoS, p.Payload, topic, qos, payload)
		}
		if qos == 1 && p.PacketID != 7 {
			t.Errorf("packet id: got %d, want 7", p.PacketID)
		}
	}
}

func TestInboundPublish_TruncatedIsAnError(t *testing.T) {
	wire, _, _ := statePublish(t, 1)
	for _, cut := range []int{1, 2, 5, 20, len(wire) - 1} {
		if _, err := packets.ReadPacket(bytes.NewReader(wire[:cut])); !errors.Is(err, io.EOF) {
			t.Errorf("%d of %d bytes: got %v, want io.EOF", cut, len(wire), err)
		}
	}
	// A topic length that runs past the end of the packet body.
	bad := []byte{0x30, 4, 0, 9, 'a', 'b'}
	if _, err := packets.ReadPacket(bytes.NewReader(bad)); !errors.Is(err, io.EOF) {
		t.Errorf("topic longer than the body: got %v, want io.EOF", err)
	}
}

// The inbound queue keeps decoded payloads without copying them, so the
// decoder must give every packet a buffer of its own and keep no reference
// to it.
func TestInboundPublish_PayloadIsNotReused(t *testing.T) {
	wire, _, payload := statePublish(t, 1)
	other := bytes.ReplaceAll(wire, []byte(`"ON"`), []byte(`"NO"`))
	r := bytes.NewReader(append(append([]byte(nil), wire...), other...))
	first, err := packets.ReadPacket(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := packets.ReadPacket(r); err != nil {
		t.Fatal(err)
	}
	if got := first.Content.(*packets.Publish).Payload; !bytes.Equal(got, payload) {
		t.Errorf("first payload after decoding a second packet: got %q, want %q", got, payload)
	}
	if got := cap(first.Content.(*packets.Publish).Payload); got > len(wire) {
		t.Errorf("payload buffer capacity %d exceeds the %d-byte packet", got, len(wire))
	}
}

// TestInboundPublish_AllocatesLittle counts the bytes allocated to decode a
// 234-byte state message. paho.golang v0.23.0 as released allocates 4.7 KB
// for it (bytes.Buffer growth in io.CopyN, for the body and the topic, and
// io.ReadAll for the payload); the patched decoder allocates the body once
// plus the topic and a few small structs, 0.85 KB.
func TestInboundPublish_AllocatesLittle(t *testing.T) {
	wire, _, _ := statePublish(t, 1)
	r := bytes.NewReader(wire)
	decode := func() {
		r.Reset(wire)
		if _, err := packets.ReadPacket(r); err != nil {
			t.Fatal(err)
		}
	}
	decode()
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		decode()
	}
	runtime.ReadMemStats(&after)
	perPacket := int(after.TotalAlloc-before.TotalAlloc) / n
	if limit := len(wire) + 1024; perPacket > limit {
		t.Errorf("decoding a %d-byte PUBLISH allocated %d bytes, want at most %d", len(wire), perPacket, limit)
	}
}

// onlyReader hides every method but Read, like a connection without
// ReadByte.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// The remaining length is a variable byte integer of one to four bytes; the
// decoder reads it byte by byte, through ReadByte where the reader has it.
func TestReadPacket_RemainingLengths(t *testing.T) {
	for _, size := range []int{0, 100, 200, 20_000, 2_100_000} {
		payload := bytes.Repeat([]byte{'x'}, size)
		p := &packets.Publish{Topic: "t", Payload: payload, QoS: 1, PacketID: 3, Properties: &packets.Properties{}}
		var b bytes.Buffer
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]io.Reader{"ByteReader": bytes.NewReader(b.Bytes()), "plain Reader": onlyReader{bytes.NewReader(b.Bytes())}} {
			cp, err := packets.ReadPacket(r)
			if err != nil {
				t.Fatalf("%d-byte payload, %s: %v", size, name, err)
			}
			got := cp.Content.(*packets.Publish)
			if got.Topic != "t" || got.PacketID != 3 || !bytes.Equal(got.Payload, payload) {
				t.Errorf("%d-byte payload, %s: got topic %q id %d and %d payload bytes", size, name, got.Topic, got.PacketID, len(got.Payload))
			}
		}
	}
}

func TestReadPacket_MalformedLength(t *testing.T) {
	for name, tc := range map[string]struct {
		wire []byte
		want error
	}{
		"five length bytes":       {[]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, nil}, // any error
		"length cut short":        {[]byte{0x30, 0x80}, io.EOF},
		"property length cut off": {[]byte{0x40, 4, 0, 1, 0x00, 0x80}, io.EOF},
	} {
		_, err := packets.ReadPacket(bytes.NewReader(tc.wire))
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		case tc.want == nil && !strings.Contains(err.Error(), "longer than 4 bytes"):
			t.Errorf("%s: got %v, want the length named as too long", name, err)
		}
	}
}

// A subscription identifier is a variable byte integer inside the
// properties; it decodes with the same reader as the remaining length.
func TestReadPacket_SubscriptionIdentifier(t *testing.T) {
	for _, id := range []int{1, 127, 128, 300, 268_435_455} {
		p := &packets.Publish{Topic: "t", Payload: []byte("x"), Properties: &packets.Properties{SubscriptionIdentifier: &id}}
		var b bytes.Buffer
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		cp, err := packets.ReadPacket(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("identifier %d: %v", id, err)
		}
		got := cp.Content.(*packets.Publish).Properties.SubscriptionIdentifier
		if got == nil || *got != id {
			t.Errorf("identifier %d: decoded %v", id, got)
		}
	}
	// Property 0x0B (subscription identifier) whose integer is cut off by the
	// end of the property list.
	cut := []byte{0x30, 6, 0, 1, 't', 2, 0x0B, 0x80}
	if _, err := packets.ReadPacket(bytes.NewReader(cut)); err == nil {
		t.Error("a cut-off subscription identifier decoded without an error")
	}
}

// Every inbound packet passes through the decoder, and at QoS 1 most are
// PUBACKs, several per bench message. The release allocated 13 times for a
// state PUBLISH and 9 for a PUBACK, four of them for each variable byte
// integer (a bytes.Buffer and its array) and one for the header byte; the
// patched decoder reads those bytes through ReadByte, and allocates a PUBLISH
// or PUBACK together with its Properties and body reader (a PUBACK's short
// body too), so a PUBACK is one allocation.
func TestReadPacket_FewAllocations(t *testing.T) {
	wire, _, _ := statePublish(t, 1)
	for _, tc := range []struct {
		name string
		wire []byte
		max  float64
	}{
		{"state PUBLISH", wire, 3},
		{"PUBACK", []byte{0x40, 2, 0, 7}, 1},
		{"PUBACK with a reason code", []byte{0x40, 3, 0, 7, 0x10}, 1},
	} {
		r := bytes.NewReader(tc.wire)
		got := testing.AllocsPerRun(100, func() {
			r.Reset(tc.wire)
			if _, err := packets.ReadPacket(r); err != nil {
				t.Fatal(err)
			}
		})
		if got > tc.max {
			t.Errorf("%s: %.0f allocations per decode, want at most %.0f", tc.name, got, tc.max)
		}
	}
}

// PUBACKs of every length decode the same whether the body fits the room
// kept for it inside the packet (up to 4 bytes) or not.
func TestReadPacket_Puback(t *testing.T) {
	reason := []byte{0x1F, 0, 4, 'd', 'e', 'n', 'y'} // reason string property "deny"
	for _, tc := range []struct {
		name       string
		wire       []byte
		wantCode   byte
		wantReason string
	}{
		{"success, 2 bytes", []byte{0x40, 2, 0x12, 0x34}, 0, ""},
		{"reason code, 3 bytes", []byte{0x40, 3, 0x12, 0x34, 0x87}, 0x87, ""},
		{"reason code and empty properties, 4 bytes", []byte{0x40, 4, 0x12, 0x34, 0x10, 0}, 0x10, ""},
		{"reason string property", append([]byte{0x40, byte(4 + len(reason)), 0x12, 0x34, 0x87, byte(len(reason))}, reason...), 0x87, "deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := packets.ReadPacket(bytes.NewReader(tc.wire))
			if err != nil {
				t.Fatal(err)
			}
			ack, ok := cp.Content.(*packets.Puback)
			if !ok {
				t.Fatalf("content %T, want *packets.Puback", cp.Content)
			}
			if cp.Type != packets.PUBACK || ack.PacketID != 0x1234 || ack.ReasonCode != tc.wantCode {
				t.Errorf("got type %d id %#x code %#x, want type %d id 0x1234 code %#x", cp.Type, ack.PacketID, ack.ReasonCode, packets.PUBACK, tc.wantCode)
			}
			if ack.Properties == nil {
				t.Fatal("Properties is nil")
			}
			if got := ack.Properties.ReasonString; got != tc.wantReason {
				t.Errorf("reason string %q, want %q", got, tc.wantReason)
			}
		})
	}
}
