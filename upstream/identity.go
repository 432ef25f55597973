package upstream

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IdentityFileName is the file in the data directory that keeps the network
// identity last used.
const IdentityFileName = "network-identity.json"

// DefaultChannel is used when neither the instance nor the stored identity
// names a channel. It is not random: 11 is Zigbee2MQTT's default and one of
// the channels least likely to clash with common Wi-Fi set-ups.
const DefaultChannel = 11

// NetworkIdentity is what identifies a Zigbee network to its paired devices.
// Changing any of it orphans every device. Its String method and its JSON
// encoding leave the network key out, so it is safe to log.
type NetworkIdentity struct {
	// Channel is the radio channel, 11–26.
	Channel int `json:"channel"`
	// PanID is the 16-bit PAN ID, 0x0001–0xFFFE.
	PanID int `json:"pan_id"`
	// ExtPanID is the extended PAN ID as 16 lower-case hex characters.
	ExtPanID string `json:"ext_pan_id"`
	// NetworkKey is the network key as 32 lower-case hex characters. Never
	// log it.
	NetworkKey string `json:"-"`
}

// String describes the identity without the network key.
func (id NetworkIdentity) String() string {
	return fmt.Sprintf("channel=%d pan_id=0x%04x ext_pan_id=%s network_key=%s",
		id.Channel, id.PanID, id.ExtPanID, RedactedValue)
}

// ApplyTo copies the identity into the adapter settings Render reads.
func (id NetworkIdentity) ApplyTo(a *Adapter) {
	a.Channel, a.ChannelSet = id.Channel, true
	a.PanID = id.PanID
	a.ExtPanID = id.ExtPanID
	a.NetworkKey = id.NetworkKey
}

// storedIdentity is the on-disk form, which does include the key.
type storedIdentity struct {
	Channel    int    `json:"channel"`
	PanID      int    `json:"pan_id"`
	ExtPanID   string `json:"ext_pan_id"`
	NetworkKey string `json:"network_key"`
}

// IdentityResult is what ResolveIdentity decided.
type IdentityResult struct {
	// Identity is the identity to use.
	Identity NetworkIdentity
	// Path is the identity file.
	Path string
	// Generated is true when values were generated and stored just now; the
	// caller should log "generated network identity, stored in <Path>"
	// (never the key itself).
	Generated bool
	// Reset is true when reset_network allowed the instance to replace a
	// different stored identity.
	Reset bool
}

// IdentityMismatchError reports instance values that differ from the stored
// identity while reset_network is off.
type IdentityMismatchError struct {
	// Path is the identity file.
	Path string
	// Fields are the differing instance fields, e.g. "pan_id".
	Fields []string
	// Details describe each difference; the network key is never shown.
	Details []string
}

// Error names the differing fields and how to accept the change.
func (e *IdentityMismatchError) Error() string {
	return fmt.Sprintf("network identity: the instance's %s differ(s) from the identity stored in %s (%s); "+
		"changing it orphans every paired device — set reset_network: true to form a new network",
		strings.Join(e.Fields, ", "), e.Path, strings.Join(e.Details, "; "))
}

// ResolveIdentity decides the network identity for an embedded instance and
// keeps it in dataDir/network-identity.json (mode 0600):
//
//   - values the instance sets are used; if an identity is stored and any of
//     them differs, it fails with *IdentityMismatchError unless
//     inst.ResetNetwork, in which case the instance's values replace the
//     stored ones;
//   - values the instance leaves unset come from the stored identity;
//   - with nothing stored, unset values are generated (crypto/rand; channel
//     DefaultChannel) and stored BEFORE they are returned, with Generated set.
//
// A stored file that cannot be read or parsed is an error: it is never
// silently replaced.
func ResolveIdentity(dataDir string, inst *Instance) (IdentityResult, error) {
	path := filepath.Join(dataDir, IdentityFileName)
	res := IdentityResult{Path: path}
	if inst == nil || inst.Adapter == nil {
		return res, errors.New("network identity: instance has no serial_port (translator-only mode)")
	}
	a := inst.Adapter
	stored, found, err := LoadIdentity(path)
	if err != nil {
		return res, err
	}

	if found {
		var fields, details []string
		differs := func(field, detail string) {
			fields = append(fields, field)
			details = append(details, detail)
		}
		if a.ChannelSet && a.Channel != stored.Channel {
			differs("channel", fmt.Sprintf("channel %d, stored %d", a.Channel, stored.Channel))
		}
		if a.PanID != 0 && a.PanID != stored.PanID {
			differs("pan_id", fmt.Sprintf("pan_id 0x%04x, stored 0x%04x", a.PanID, stored.PanID))
		}
		if a.ExtPanID != "" && a.ExtPanID != stored.ExtPanID {
			differs("ext_pan_id", fmt.Sprintf("ext_pan_id %s, stored %s", a.ExtPanID, stored.ExtPanID))
		}
		if a.NetworkKey != "" && a.NetworkKey != stored.NetworkKey {
			differs("network_key", "network_key differs from the stored key")
		}
		if len(fields) == 0 {
			res.Identity = stored
			return res, nil
		}
		if !inst.ResetNetwork {
			return res, &IdentityMismatchError{Path: path, Fields: fields, Details: details}
		}
		res.Reset = true
	}

	id := stored // zero when nothing is stored
	if a.ChannelSet || !found {
		id.Channel = a.Channel
		if !a.ChannelSet {
			id.Channel = DefaultChannel
		}
	}
	if a.PanID != 0 {
		id.PanID = a.PanID
	}
	if a.ExtPanID != "" {
		id.ExtPanID = a.ExtPanID
	}
	if a.NetworkKey != "" {
		id.NetworkKey = a.NetworkKey
	}
	if id.PanID == 0 || id.ExtPanID == "" || id.NetworkKey == "" {
		if err := generate(&id); err != nil {
			return res, fmt.Errorf("network identity: generate: %w", err)
		}
		res.Generated = true
	}
	if err := SaveIdentity(path, id); err != nil {
		return res, err
	}
	res.Identity = id
	return res, nil
}

// generate fills the unset PAN ID, extended PAN ID and network key with
// random values.
func generate(id *NetworkIdentity) error {
	for id.PanID == 0 {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		// 0x0000 and 0xFFFF are reserved; 0x1a62 is Zigbee2MQTT's
		// well-known default.
		if p := int(binary.BigEndian.Uint16(b[:])); p != 0 && p != 0xFFFF && p != 0x1a62 {
			id.PanID = p
		}
	}
	for id.ExtPanID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		if !bytes.Equal(b[:], make([]byte, 8)) && !bytes.Equal(b[:], bytes.Repeat([]byte{0xff}, 8)) &&
			!bytes.Equal(b[:], bytes.Repeat([]byte{0xdd}, 8)) {
			id.ExtPanID = hex.EncodeToString(b[:])
		}
	}
	if id.NetworkKey == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		id.NetworkKey = hex.EncodeToString(b[:])
	}
	return nil
}

// LoadIdentity reads a stored identity. found is false when the file does not
// exist; a file that exists but is invalid is an error.
func LoadIdentity(path string) (id NetworkIdentity, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("network identity: %w", err)
	}
	var s storedIdentity
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return id, false, fmt.Errorf("network identity: %s is not valid (%v); fix or remove it", path, err)
	}
	id = NetworkIdentity(s)
	id.ExtPanID = strings.ToLower(id.ExtPanID)
	id.NetworkKey = strings.ToLower(id.NetworkKey)
	if err := id.check(); err != nil {
		return id, false, fmt.Errorf("network identity: %s: %w; fix or remove it", path, err)
	}
	return id, true, nil
}

// SaveIdentity writes the identity atomically with mode 0600.
func SaveIdentity(path string, id NetworkIdentity) error {
	if err := id.check(); err != nil {
		return fmt.Errorf("network identity: %w", err)
	}
	data, err := json.MarshalIndent(storedIdentity(id), "", "  ")
	if err != nil {
		return fmt.Errorf("network identity: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("network identity: store: %w", err)
	}
	return nil
}

func (id NetworkIdentity) check() error {
	switch {
	case id.Channel < 11 || id.Channel > 26:
		return fmt.Errorf("channel %d is out of range 11–26", id.Channel)
	case id.PanID < 1 || id.PanID > 0xFFFE:
		return fmt.Errorf("pan_id %d is out of range 0x0001–0xFFFE", id.PanID)
	case len(id.ExtPanID) != 16 || !hexRe.MatchString(id.ExtPanID):
		return errors.New("ext_pan_id must be 16 hex characters")
	case len(id.NetworkKey) != 32 || !hexRe.MatchString(id.NetworkKey):
		return errors.New("network_key must be 32 hex characters")
	}
	return nil
}
