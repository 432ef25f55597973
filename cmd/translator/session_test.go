package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// connectedSession is the daemon's kind of session (its packet store on
// both sides) after a CONNACK that allows receiveMax messages in flight;
// what the session writes lands in conn.
func connectedSession(t *testing.T, receiveMax uint16) (*state.State, *bytes.Buffer) {
	t.Helper()
	s := state.New(newPacketStore(), newPacketStore())
	conn := &bytes.Buffer{}
	ca := &packets.Connack{Properties: &packets.Properties{ReceiveMaximum: &receiveMax}}
	if err := s.ConAckReceived(conn, &packets.Connect{CleanStart: true}, ca); err != nil {
		t.Fatal(err)
	}
	return s, conn
}

func puback(id uint16) *packets.ControlPacket {
	return &packets.ControlPacket{FixedHeader: packets.FixedHeader{Type: packets.PUBACK},
		Content: &packets.Puback{PacketID: id, Properties: &packets.Properties{}}}
}

// A QoS 1 publication while the broker's receive maximum leaves room, and
// its acknowledgement, cost the packet store's one encoded buffer and the
// map entries of the identifier: no contexts to wait with (the release made
// two and registered a callback for every publication) and no debug-log
// arguments.
func TestSession_PublishWithRoomAllocatesLittle(t *testing.T) {
	s, _ := connectedSession(t, 100)
	acks := make(chan packets.ControlPacket, 1)
	pb := &packets.Publish{Topic: "IoT2mqtt/v1/instances/test/devices/lamp/state", Payload: []byte(`{"state":{"power":true}}`), QoS: 1}
	got := testing.AllocsPerRun(200, func() {
		pb.PacketID = 0
		if err := s.AddToSession(tryOnly, pb, acks); err != nil {
			t.Fatal(err)
		}
		if err := s.PacketReceived(puback(pb.PacketID), nil); err != nil {
			t.Fatal(err)
		}
		<-acks
	})
	// The puback helper itself allocates 3 objects.
	if got > 3+2 {
		t.Errorf("%.1f allocations per publication and acknowledgement, want at most 5", got)
	}
}

// With the receive maximum used up, a publication waits for a slot: an
// acknowledgement frees one, its own context ends the wait with that
// context's error, and a dropped connection ends it with ErrNoConnection.
func TestSession_PublishWaitsForRoom(t *testing.T) {
	full := func(t *testing.T) (*state.State, chan packets.ControlPacket, uint16) {
		s, _ := connectedSession(t, 1)
		acks := make(chan packets.ControlPacket, 4)
		first := &packets.Publish{Topic: "a", QoS: 1}
		if err := s.AddToSession(tryOnly, first, acks); err != nil {
			t.Fatal(err)
		}
		if err := s.AddToSession(tryOnly, &packets.Publish{Topic: "b", QoS: 1}, acks); !errors.Is(err, context.Canceled) {
			t.Fatalf("second publication with the window full and no wait: err %v, want context.Canceled", err)
		}
		return s, acks, first.PacketID
	}
	wait := func(s *state.State, acks chan packets.ControlPacket, ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() { done <- s.AddToSession(ctx, &packets.Publish{Topic: "c", QoS: 1}, acks) }()
		return done
	}
	ended := func(t *testing.T, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("AddToSession still waiting")
			return nil
		}
	}

	t.Run("an acknowledgement frees the slot", func(t *testing.T) {
		s, acks, id := full(t)
		done := wait(s, acks, context.Background())
		if err := s.PacketReceived(puback(id), nil); err != nil {
			t.Fatal(err)
		}
		if err := ended(t, done); err != nil {
			t.Errorf("err %v, want nil", err)
		}
	})
	t.Run("the caller's context ends the wait", func(t *testing.T) {
		s, acks, _ := full(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := wait(s, acks, ctx)
		cancel()
		if err := ended(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
	t.Run("a dropped connection ends the wait", func(t *testing.T) {
		s, acks, _ := full(t)
		done := wait(s, acks, context.Background())
		time.Sleep(10 * time.Millisecond) // waiting by now; if not, it finds no connection: the same error
		if err := s.ConnectionLost(nil); err != nil {
			t.Fatal(err)
		}
		if err := ended(t, done); !errors.Is(err, session.ErrNoConnection) {
			t.Errorf("err %v, want session.ErrNoConnection", err)
		}
	})
}

// The PUBACK for an inbound QoS 1 PUBLISH is the 4-byte success form
// (remaining length 2, MQTT 5 section 3.4.2.1), written in one piece.
func TestSession_AckIsShortPuback(t *testing.T) {
	s, conn := connectedSession(t, 10)
	pb := &packets.Publish{Topic: "zigbee2mqtt/lamp", QoS: 1, PacketID: 0x0102}
	if err := s.Ack(pb); err != nil {
		t.Fatal(err)
	}
	if got, want := conn.Bytes(), []byte{0x40, 2, 1, 2}; !bytes.Equal(got, want) {
		t.Errorf("wrote % x, want % x", got, want)
	}
	got := testing.AllocsPerRun(100, func() {
		conn.Reset()
		if err := s.Ack(pb); err != nil {
			t.Fatal(err)
		}
	})
	if got > 1 {
		t.Errorf("%.1f allocations per PUBACK, want at most 1", got)
	}
}

// A PUBACK that is not the plain success form keeps its reason code.
func TestPubackWriteTo_ReasonCode(t *testing.T) {
	var buf bytes.Buffer
	if _, err := (&packets.Puback{PacketID: 7, ReasonCode: 0x10, Properties: &packets.Properties{}}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.Bytes(), []byte{0x40, 4, 0, 7, 0x10, 0}; !bytes.Equal(got, want) {
		t.Errorf("wrote % x, want % x", got, want)
	}
}

// The session paho's reader calls starts holdAck for an inbound QoS 1
// PUBLISH, before the message is handed on, and for nothing else.
func TestHoldingSession_HoldsForInboundQoS1(t *testing.T) {
	held := 0
	s := holdingSession{State: state.NewInMemory(), hold: func() { held++ }}
	deliver := make(chan *packets.Publish, 4)
	for _, tt := range []struct {
		name string
		p    packets.ControlPacket
		want int // holds after it
	}{
		{"QoS 0 PUBLISH", packets.ControlPacket{Content: &packets.Publish{Topic: "zigbee2mqtt/a"}}, 0},
		{"QoS 1 PUBLISH", packets.ControlPacket{Content: &packets.Publish{Topic: "zigbee2mqtt/a", QoS: 1, PacketID: 7}}, 1},
		{"PUBACK", packets.ControlPacket{Content: &packets.Puback{PacketID: 9}}, 1},
	} {
		if err := s.PacketReceived(&tt.p, deliver); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if held != tt.want {
			t.Errorf("after a %s: %d holds, want %d", tt.name, held, tt.want)
		}
	}
	if len(deliver) != 2 {
		t.Errorf("%d messages handed on, want the 2 PUBLISHes", len(deliver))
	}
}
