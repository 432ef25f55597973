package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/eclipse/paho.golang/packets"
)

// packetStore keeps the encoded packets of the MQTT session in memory, as
// paho's memory store does, and lets publishNow write a stored PUBLISH as
// it is: the session encodes every QoS 1 message for the store anyway, so
// encoding it a second time for the connection would be wasted work. Each
// packet gets one buffer of about its final size.
type packetStore struct {
	mu   sync.Mutex
	data map[uint16]storedPacket
	seq  uint64 // order of Put, for List
}

type storedPacket struct {
	seq   uint64
	bytes []byte
}

func newPacketStore() *packetStore {
	return &packetStore{data: map[uint16]storedPacket{}}
}

// Put stores the encoded packet under its identifier.
// A PUBLISH without properties (every one the daemon makes) is encoded
// here, into one buffer of its exact size; other packets by paho.
func (s *packetStore) Put(id uint16, _ byte, w io.WriterTo) error {
	var enc []byte
	if p, ok := w.(*packets.Publish); ok && p.Properties == nil {
		enc = appendPublish(make([]byte, 0, publishSize(p)), p.Topic, p.Payload, p.QoS, p.Retain, p.Duplicate, p.PacketID)
	} else {
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			return fmt.Errorf("encode packet %d for the session: %w", id, err)
		}
		enc = buf.Bytes()
	}
	s.mu.Lock()
	s.seq++
	s.data[id] = storedPacket{seq: s.seq, bytes: enc}
	s.mu.Unlock()
	return nil
}

// publishSize is the encoded size of a PUBLISH without properties: the
// longest fixed header, topic, packet identifier, property length, payload.
func publishSize(p *packets.Publish) int {
	return 5 + 2 + len(p.Topic) + 2 + 1 + len(p.Payload)
}

// encoded returns the stored bytes of packet id; nil when it is not stored.
// The caller must not change them.
func (s *packetStore) encoded(id uint16) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[id].bytes
}

// Get returns a reader over the stored packet.
func (s *packetStore) Get(id uint16) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.data[id]
	if !ok {
		return nil, fmt.Errorf("packet %d is not in the session store", id)
	}
	return io.NopCloser(bytes.NewReader(p.bytes)), nil
}

// Delete removes packet id.
func (s *packetStore) Delete(id uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data[id]; !ok {
		return fmt.Errorf("delete packet %d: not in the session store", id)
	}
	delete(s.data, id)
	return nil
}

// Quarantine drops a packet the session found corrupt.
func (s *packetStore) Quarantine(id uint16) error { return s.Delete(id) }

// List returns the stored identifiers in the order they were put.
func (s *packetStore) List() ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uint16, 0, len(s.data))
	for id := range s.data {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint16) int { return cmp.Compare(s.data[a].seq, s.data[b].seq) })
	return ids, nil
}

// Reset deletes every stored packet.
func (s *packetStore) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.data)
	return nil
}
