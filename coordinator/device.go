package coordinator

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Builtin holds the shipped device descriptions, one JSON file each.
//
//go:embed devices/*.json
var Builtin embed.FS

// Description is a simulated device as data: its identity, its node
// descriptor's type, and its endpoints with their clusters and attribute
// values. The Basic cluster's manufacturerName (0x0004) and modelId
// (0x0005) are what make zigbee-herdsman-converters recognise it.
type Description struct {
	// Model is the zigbee-herdsman-converters model the device is meant to
	// be recognised as (documentation and tests; the Basic attributes
	// decide).
	Model       string `json:"model"`
	Description string `json:"description"`
	// IEEE is the device's address, e.g. "0x000b57fffe123456".
	IEEE string `json:"ieee"`
	// Type is "router" (mains powered) or "end_device" (sleepy).
	Type             string     `json:"type"`
	ManufacturerCode uint16     `json:"manufacturer_code"`
	Endpoints        []Endpoint `json:"endpoints"`
	// File is where the description was read from.
	File string `json:"-"`
}

// Endpoint is one application endpoint of a device.
type Endpoint struct {
	ID       byte     `json:"id"`
	Profile  uint16   `json:"profile"`
	DeviceID uint16   `json:"device"`
	In       []uint16 `json:"in"`
	Out      []uint16 `json:"out"`
	// Attributes by cluster id and attribute id ("0x0006": {"0x0000":
	// ["bool", true]}): the ZCL type name and the value.
	Attributes map[string]map[string][2]any `json:"attributes"`
}

// LoadDescriptions reads the *.json descriptions of fsys, sorted by name.
func LoadDescriptions(fsys fs.FS, dir string) ([]Description, error) {
	names, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(dir, "*.json")))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Description
	var problems []string
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var d Description
		if err := json.Unmarshal(data, &d); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		d.File = n
		if _, err := d.compile(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		out = append(out, d)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("device descriptions:\n  %s", strings.Join(problems, "\n  "))
	}
	return out, nil
}

// LoadDescriptionDir reads a directory of descriptions a user keeps.
func LoadDescriptionDir(dir string) ([]Description, error) {
	return LoadDescriptions(os.DirFS(dir), ".")
}

// device is a simulated device at run time.
type device struct {
	desc    Description
	ieee    uint64
	eps     map[byte]*endpoint
	epOrder []byte
	tsn     byte
	// reporting: attributes with a configured report, by endpoint/cluster/attribute.
	reporting map[attrKey]bool
	faults    faults
}

type attrKey struct {
	ep      byte
	cluster uint16
	attr    uint16
}

type endpoint struct {
	Endpoint
	attrs map[uint16]map[uint16]*attribute
	// groups the endpoint is a member of (the Groups cluster's table).
	groups map[uint16]bool
}

type attribute struct {
	typ   byte
	value any // float64 for numbers and bools, string for strings
}

// faults are injected failures, each for the next N frames to the device.
type faults struct {
	confirm int  // fail the data confirm (MAC_NO_ACK)
	silent  int  // confirm, then answer nothing
	status  int  // answer cluster commands with statusCode
	code    byte // the status for status faults
}

// iasZoneDefaults gives an IAS Zone server the mandatory attributes a
// description leaves out: zone state (not enrolled), zone status (clear)
// and the CIE address (none), which zigbee-herdsman reads before enrolling.
func iasZoneDefaults(ep *endpoint) {
	zone := ep.attrs[0x0500]
	if zone == nil {
		zone = map[uint16]*attribute{}
		ep.attrs[0x0500] = zone
	}
	for id, a := range map[uint16]attribute{
		0x0000: {typ: 0x30, value: 0.0},
		0x0002: {typ: 0x19, value: 0.0},
		0x0010: {typ: 0xF0, value: make([]byte, 8)},
	} {
		if zone[id] == nil {
			zone[id] = &a
		}
	}
}

func (d Description) compile() (*device, error) {
	ieee, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(d.IEEE), "0x"), 16, 64)
	if err != nil || d.IEEE == "" {
		return nil, fmt.Errorf("ieee %q is not a 64-bit hex address", d.IEEE)
	}
	dev := &device{desc: d, ieee: ieee, eps: map[byte]*endpoint{}, reporting: map[attrKey]bool{}}
	if d.Type != "router" && d.Type != "end_device" {
		return nil, fmt.Errorf("type %q is not router or end_device", d.Type)
	}
	if len(d.Endpoints) == 0 {
		return nil, fmt.Errorf("no endpoints")
	}
	for _, e := range d.Endpoints {
		ep := &endpoint{Endpoint: e, attrs: map[uint16]map[uint16]*attribute{}, groups: map[uint16]bool{}}
		for cs, attrs := range e.Attributes {
			c, err := strconv.ParseUint(cs, 0, 16)
			if err != nil {
				return nil, fmt.Errorf("endpoint %d: cluster %q is not a number", e.ID, cs)
			}
			ep.attrs[uint16(c)] = map[uint16]*attribute{}
			for as, tv := range attrs {
				a, err := strconv.ParseUint(as, 0, 16)
				if err != nil {
					return nil, fmt.Errorf("endpoint %d cluster %s: attribute %q is not a number", e.ID, cs, as)
				}
				name, _ := tv[0].(string)
				typ, ok := typeIDs[name]
				if !ok {
					return nil, fmt.Errorf("endpoint %d cluster %s attribute %s: type %q is not one of %s", e.ID, cs, as, name, typeNames())
				}
				v := tv[1]
				if b, ok := v.(bool); ok {
					v = map[bool]float64{false: 0, true: 1}[b]
				}
				ep.attrs[uint16(c)][uint16(a)] = &attribute{typ: typ, value: v}
			}
		}
		if slices.Contains(e.In, 0x0500) {
			iasZoneDefaults(ep)
		}
		dev.eps[e.ID] = ep
		dev.epOrder = append(dev.epOrder, e.ID)
	}
	if _, ok := dev.attr(dev.epOrder[0], 0x0000, 0x0005); !ok {
		return nil, fmt.Errorf("endpoint %d has no Basic modelId (cluster 0x0000 attribute 0x0005)", dev.epOrder[0])
	}
	return dev, nil
}

func (d *device) attr(ep byte, cluster, id uint16) (*attribute, bool) {
	e := d.eps[ep]
	if e == nil {
		return nil, false
	}
	a, ok := e.attrs[cluster][id]
	return a, ok
}

// setAttr changes an attribute, creating it with typ when absent. It
// reports whether the value changed.
func (d *device) setAttr(ep byte, cluster, id uint16, typ byte, v any) bool {
	e := d.eps[ep]
	if e == nil {
		return false
	}
	if e.attrs[cluster] == nil {
		e.attrs[cluster] = map[uint16]*attribute{}
	}
	a := e.attrs[cluster][id]
	if a == nil {
		e.attrs[cluster][id] = &attribute{typ: typ, value: v}
		return true
	}
	changed := fmt.Sprint(a.value) != fmt.Sprint(v)
	a.value = v
	return changed
}

func (d *device) number(ep byte, cluster, id uint16) float64 {
	if a, ok := d.attr(ep, cluster, id); ok {
		if f, ok := a.value.(float64); ok {
			return f
		}
	}
	return 0
}

func (d *device) nextTSN() byte {
	d.tsn++
	return d.tsn
}

// nodeDescriptor is the ZDO node descriptor after the status and NWK
// address: logical type, 2.4 GHz, MAC capabilities, manufacturer code.
func (d *device) nodeDescriptor() []byte {
	logical := byte(1)
	if d.desc.Type == "end_device" {
		logical = 2
	}
	return buf{}.u8(logical).u8(0x40).u8(d.macCapabilities()).u16(d.desc.ManufacturerCode).u8(0x52).u16(0x52).u16(0x2c00).u16(0x52).u8(0)
}

// macCapabilities: a mains-powered router (0x8E), or a sleepy end device
// that only asks for an address (0x80).
func (d *device) macCapabilities() byte {
	if d.desc.Type == "end_device" {
		return 0x80
	}
	return 0x8E
}

func (e *endpoint) simpleDescriptor() []byte {
	b := buf{}.u8(e.ID).u16(e.Profile).u16(e.DeviceID).u8(1).u8(byte(len(e.In)))
	for _, c := range e.In {
		b = b.u16(c)
	}
	b = b.u8(byte(len(e.Out)))
	for _, c := range e.Out {
		b = b.u16(c)
	}
	return b
}
