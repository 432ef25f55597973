package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// The store keeps packets in the order of Put, encoded byte for byte as
// paho encodes them, both those it encodes itself (no properties) and those
// it leaves to paho.
func TestPacketStore_KeepsEncodedPacketsInOrder(t *testing.T) {
	for _, props := range []*packets.Properties{nil, {User: []packets.User{{Key: "k", Value: "v"}}}} {
		t.Run(fmt.Sprintf("properties %v", props != nil), func(t *testing.T) { testPacketStore(t, props) })
	}
}

func testPacketStore(t *testing.T, props *packets.Properties) {
	s := newPacketStore()
	put := func(id uint16, topic string) *packets.Publish {
		p := &packets.Publish{Topic: topic, Payload: []byte(`{"state":"ON"}`), QoS: 1, PacketID: id, Retain: true, Properties: props}
		if err := s.Put(id, packets.PUBLISH, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	put(9, "a")
	want := put(2, "b")
	put(5, "c")

	ids, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []uint16{9, 2, 5}) {
		t.Errorf("List: got %v, want [9 2 5] (the order of Put)", ids)
	}

	var encoded bytes.Buffer
	if _, err := want.WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	if got := s.encoded(2); !bytes.Equal(got, encoded.Bytes()) {
		t.Errorf("encoded(2): got % x, want % x", got, encoded.Bytes())
	}
	r, err := s.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := packets.ReadPacket(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := cp.Content.(*packets.Publish); got.Topic != "b" || got.PacketID != 2 || !got.Retain || string(got.Payload) != `{"state":"ON"}` {
		t.Errorf("Get(2) decodes to %+v", got)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Errorf("Get(2) has %d bytes after the packet", len(rest))
	}

	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(2); err == nil {
		t.Error("deleting a packet twice: got no error")
	}
	if _, err := s.Get(2); err == nil {
		t.Error("Get after Delete: got no error")
	}
	if s.encoded(2) != nil {
		t.Error("encoded after Delete: got bytes, want nil")
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.List(); len(ids) != 0 {
		t.Errorf("List after Reset: got %v, want none", ids)
	}
}
