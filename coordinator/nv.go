package coordinator

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Legacy NV item ids zigbee-herdsman reads and writes.
const (
	nvExtAddr         = 0x0001
	nvStartupOption   = 0x0003
	nvNIB             = 0x0021
	nvExtPanID        = 0x002D
	nvActiveKeyInfo   = 0x003A
	nvAlternKeyInfo   = 0x003B
	nvAPSLinkKeyTable = 0x004C
	nvAPSUseExtPanID  = 0x0047
	nvPrecfgKey       = 0x0062
	nvNwkKey          = 0x0082
	nvPanID           = 0x0083
	nvChanList        = 0x0084
	nvTCLKSeed        = 0x0101
)

// Extended NV tables (system id 1).
const (
	tableAddrMgr     = 0x0001
	tableTCLK        = 0x0004
	tableAPSKeyData  = 0x0006
	tableSecMaterial = 0x0007
)

// extKey names one entry of an extended NV table.
type extKey struct {
	sys         byte
	item, subID uint16
}

func (k extKey) String() string { return fmt.Sprintf("%d/%d/%d", k.sys, k.item, k.subID) }

// nvStore is the coordinator's non-volatile memory, kept in a file so a
// restart resumes the network. The devices that joined are the entries of
// its address manager table, as in the firmware: herdsman's backup reads
// them from there and a restore writes them back.
type nvStore struct {
	path   string
	legacy map[uint16][]byte
	ext    map[extKey][]byte
	dirty  bool // changed since the last save
}

// stateFile is the file layout: hex strings by id.
type stateFile struct {
	Legacy map[string]string `json:"legacy"`
	Ext    map[string]string `json:"extended"`
}

func newNVStore(path string, ieee uint64) (*nvStore, error) {
	s := &nvStore{path: path}
	s.factory(ieee)
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, s.save()
	}
	if err != nil {
		return nil, fmt.Errorf("coordinator state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("coordinator state %s: %w", path, err)
	}
	s.legacy, s.ext = map[uint16][]byte{}, map[extKey][]byte{}
	for k, v := range f.Legacy {
		id, err1 := strconv.ParseUint(k, 0, 16)
		b, err2 := hex.DecodeString(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("coordinator state %s: legacy item %q is malformed", path, k)
		}
		s.legacy[uint16(id)] = b
	}
	for k, v := range f.Ext {
		var key extKey
		if _, err := fmt.Sscanf(k, "%d/%d/%d", &key.sys, &key.item, &key.subID); err != nil {
			return nil, fmt.Errorf("coordinator state %s: extended item %q is malformed", path, k)
		}
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("coordinator state %s: extended item %q: %w", path, k, err)
		}
		s.ext[key] = b
	}
	s.dirty = false
	return s, nil
}

// factory is the NV of a coordinator fresh from the factory.
func (s *nvStore) factory(ieee uint64) {
	s.legacy = map[uint16][]byte{
		nvExtAddr:       buf{}.u64(ieee),
		nvStartupOption: {0},
		nvNwkKey:        make([]byte, 21), // 21 bytes selects herdsman's unaligned layouts
	}
	s.ext = map[extKey][]byte{}
	s.dirty = true
}

// wipeNetwork forgets the network, as a reset with STARTUP_OPTION 0x02 does.
func (s *nvStore) wipeNetwork() { s.factory(readU64(s.legacy[nvExtAddr])) }

// setLegacy writes a legacy item.
func (s *nvStore) setLegacy(id uint16, v []byte) {
	s.legacy[id] = v
	s.dirty = true
}

// setExt writes an extended item.
func (s *nvStore) setExt(k extKey, v []byte) {
	s.ext[k] = v
	s.dirty = true
}

// flush saves the store when it changed.
func (s *nvStore) flush() error {
	if !s.dirty {
		return nil
	}
	return s.save()
}

func (s *nvStore) save() error {
	s.dirty = false
	if s.path == "" {
		return nil
	}
	f := stateFile{Legacy: map[string]string{}, Ext: map[string]string{}}
	for id, v := range s.legacy {
		f.Legacy[fmt.Sprintf("0x%04x", id)] = hex.EncodeToString(v)
	}
	for k, v := range s.ext {
		f.Ext[k.String()] = hex.EncodeToString(v)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("coordinator state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("coordinator state: %w", err)
	}
	return os.Rename(tmp, s.path)
}

// formNetwork builds the NIB, keys and tables from the commissioning items
// herdsman wrote, as BDB formation does.
func (s *nvStore) formNetwork() {
	pan := s.legacy[nvPanID]
	if len(pan) < 2 {
		pan = []byte{0x62, 0x1a}
	}
	epid := s.legacy[nvAPSUseExtPanID]
	if len(epid) != 8 {
		epid = s.legacy[nvExtPanID]
	}
	if len(epid) != 8 {
		epid = s.legacy[nvExtAddr]
	}
	chans := s.legacy[nvChanList]
	if len(chans) < 4 {
		chans = buf{}.u32(1 << 11)
	}
	key := s.legacy[nvPrecfgKey]
	if len(key) != 16 {
		key = make([]byte, 16)
	}
	s.legacy[nvNIB] = buildNIB(pan, epid, chans)
	s.legacy[nvExtPanID] = append([]byte(nil), epid...)
	s.legacy[nvActiveKeyInfo] = append([]byte{0}, key...)
	s.legacy[nvAlternKeyInfo] = append([]byte{0}, key...)
	s.legacy[nvNwkKey] = append(append([]byte{0}, key...), 0, 0, 0, 0)
	s.legacy[nvTCLKSeed] = []byte{0x57, 0xef, 0x9e, 0x72, 0xaf, 0x40, 0xe0, 0xc5, 0xae, 0x5c, 0x53, 0x10, 0x0e, 0x47, 0xa8, 0x9c}
	table := buf{}.u16(0)
	for range 3 {
		table = table.bytes([]byte{0xfe, 0xff, 0, 0, 0})
	}
	s.legacy[nvAPSLinkKeyTable] = table
	s.createTable(tableAddrMgr, 32, bytesOf(0xff, 11))
	s.createTable(tableTCLK, 16, append(bytesOf(0, 16), 0xff, 0, 0))
	s.createTable(tableAPSKeyData, 3, bytesOf(0, 24))
	s.createTable(tableSecMaterial, 5, bytesOf(0, 12))
	s.dirty = true
}

func (s *nvStore) createTable(item uint16, n int, empty []byte) {
	for i := range n {
		k := extKey{1, item, uint16(i)}
		if _, ok := s.ext[k]; !ok {
			s.ext[k] = append([]byte(nil), empty...)
		}
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func addrMgrKey(i int) extKey { return extKey{1, tableAddrMgr, uint16(i)} }

// eachMember calls fn with the IEEE and NWK address of each device in the
// address manager table (user bits 1 associated, 2 security), until fn
// returns false.
func (s *nvStore) eachMember(fn func(ieee uint64, nwk uint16) bool) {
	for i := 0; ; i++ {
		v, ok := s.ext[addrMgrKey(i)]
		if !ok {
			return
		}
		if len(v) == 11 && v[0] != 0xff && v[0]&0x03 != 0 && !fn(readU64(v[3:]), uint16(v[1])|uint16(v[2])<<8) {
			return
		}
	}
}

// findMember returns the first member match accepts.
func (s *nvStore) findMember(match func(ieee uint64, nwk uint16) bool) (ieee uint64, nwk uint16, found bool) {
	s.eachMember(func(i uint64, n uint16) bool {
		if match(i, n) {
			ieee, nwk, found = i, n, true
		}
		return !found
	})
	return ieee, nwk, found
}

// nwkOf returns a member's NWK address.
func (s *nvStore) nwkOf(ieee uint64) (uint16, bool) {
	_, nwk, ok := s.findMember(func(i uint64, _ uint16) bool { return i == ieee })
	return nwk, ok
}

// ieeeOf returns the member with a NWK address.
func (s *nvStore) ieeeOf(nwk uint16) (uint64, bool) {
	ieee, _, ok := s.findMember(func(_ uint64, n uint16) bool { return n == nwk })
	return ieee, ok
}

// nextNWK is a NWK address no member has.
func (s *nvStore) nextNWK() uint16 {
	next := uint16(0x1001)
	s.eachMember(func(_ uint64, n uint16) bool {
		next = max(next, n+1)
		return true
	})
	return next
}

// addMember records a joined device in the first free entry of the
// address manager table, growing it when it is full.
func (s *nvStore) addMember(ieee uint64, nwk uint16) {
	i := 0
	for ; ; i++ {
		v, ok := s.ext[addrMgrKey(i)]
		if !ok || (len(v) > 0 && v[0] == 0xff) {
			break
		}
	}
	s.setExt(addrMgrKey(i), buf{}.u8(1).u16(nwk).u64(ieee))
}

// removeMember frees a device's entry.
func (s *nvStore) removeMember(ieee uint64) {
	for i := 0; ; i++ {
		v, ok := s.ext[addrMgrKey(i)]
		if !ok {
			return
		}
		if len(v) == 11 && v[0] != 0xff && readU64(v[3:]) == ieee {
			s.setExt(addrMgrKey(i), bytesOf(0xff, 11))
		}
	}
}

func readU64(b []byte) uint64 {
	r := reader{b: b}
	return r.u64()
}

// buildNIB lays out the 110-byte unaligned NIB herdsman parses.
func buildNIB(pan, epid, chans []byte) []byte {
	nib := make([]byte, 110)
	copy(nib, []byte{0x00, 0x05, 0x02, 0x14, 0x14, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x8f})
	nib[15] = 7
	nib[17], nib[18], nib[19] = 2, 5, 30
	mask := uint32(chans[0]) | uint32(chans[1])<<8 | uint32(chans[2])<<16 | uint32(chans[3])<<24
	channel := byte(11)
	for c := 11; c <= 26; c++ {
		if mask&(1<<c) != 0 {
			channel = byte(c)
			break
		}
	}
	nib[22] = channel
	copy(nib[33:35], pan)
	nib[35] = 9
	copy(nib[36:40], chans)
	nib[40], nib[41] = 15, 15
	copy(nib[53:61], epid)
	nib[61] = 1
	copy(nib[96:105], []byte{0x00, 0x00, 0x0f, 0x03, 0x00, 0x01, 0x78, 0x0a, 0x01})
	return nib
}

// network reads the formed network's identity from the NIB.
func (s *nvStore) network() (pan uint16, epid []byte, channel byte, ok bool) {
	nib := s.legacy[nvNIB]
	if len(nib) < 61 {
		return 0, nil, 0, false
	}
	pan = uint16(nib[33]) | uint16(nib[34])<<8
	return pan, nib[53:61], nib[22], pan != 0xFFFF && nib[22] != 0
}
