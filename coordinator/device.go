package coordinator

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
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
// Its error lists every problem of every file, each with the file's name
// (and line and column where the JSON itself is wrong).
func LoadDescriptions(fsys fs.FS, dir string) ([]Description, error) {
	return loadDescriptions(fsys, dir, "")
}

// LoadDescriptionDir reads a directory of descriptions a user keeps; it
// must hold at least one. Files are named by their path.
func LoadDescriptionDir(dir string) ([]Description, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("device descriptions: %w", err)
	}
	descs, err := loadDescriptions(os.DirFS(dir), ".", dir)
	if err == nil && len(descs) == 0 {
		return nil, fmt.Errorf("device descriptions: no *.json file in %s", dir)
	}
	return descs, err
}

// loadDescriptions reads the *.json files of dir in fsys, naming each by
// its path under prefix.
func loadDescriptions(fsys fs.FS, dir, prefix string) ([]Description, error) {
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
		n = filepath.Join(prefix, n)
		d, err := decodeDescription(data)
		if err != nil {
			problems = append(problems, n+":"+err.Error())
			continue
		}
		d.File = n
		if _, err := d.compile(); err != nil {
			for _, p := range strings.Split(err.Error(), "\n") {
				problems = append(problems, n+": "+p)
			}
			continue
		}
		out = append(out, d)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("device descriptions:\n  %s", strings.Join(problems, "\n  "))
	}
	return out, nil
}

// decodeDescription decodes one description strictly: an unknown field is
// an error, so a misspelt key does not vanish. The error starts with
// "line:column: ".
func decodeDescription(data []byte) (Description, error) {
	var d Description
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&d)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return d, nil
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	// The json errors count the bytes read up to and including the one at
	// fault; an unknown field is found by its key.
	offset := dec.InputOffset()
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset - 1
	case errors.As(err, &typ):
		offset = typ.Offset - 1
	case strings.HasPrefix(msg, "unknown field "):
		if at := bytes.Index(data, []byte(strings.TrimPrefix(msg, "unknown field "))); at >= 0 {
			offset = int64(at)
		}
	}
	line, col := position(data, offset)
	return d, fmt.Errorf("%d:%d: %s", line, col, msg)
}

// position is the line and column, both from 1, of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
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

// compile checks a description and builds the device from it. Its error
// lists every problem of the description, one per line.
func (d Description) compile() (*device, error) {
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ieee, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(d.IEEE), "0x"), 16, 64)
	if err != nil || d.IEEE == "" {
		problem("ieee %q is not a 64-bit hex address", d.IEEE)
	}
	dev := &device{desc: d, ieee: ieee, eps: map[byte]*endpoint{}, reporting: map[attrKey]bool{}}
	if d.Type != "router" && d.Type != "end_device" {
		problem("type %q is not router or end_device", d.Type)
	}
	if len(d.Endpoints) == 0 {
		problem("no endpoints")
	}
	for _, e := range d.Endpoints {
		switch {
		case e.ID == 0 || e.ID > 240:
			problem("endpoint %d: the id must be 1 to 240", e.ID)
		case dev.eps[e.ID] != nil:
			problem("endpoint %d is described twice", e.ID)
		}
		ep := &endpoint{Endpoint: e, attrs: map[uint16]map[uint16]*attribute{}, groups: map[uint16]bool{}}
		var attrProblems []string
		for cs, attrs := range e.Attributes {
			c, err := strconv.ParseUint(cs, 0, 16)
			if err != nil {
				attrProblems = append(attrProblems, fmt.Sprintf("endpoint %d: cluster %q is not a number", e.ID, cs))
				continue
			}
			ep.attrs[uint16(c)] = map[uint16]*attribute{}
			for as, tv := range attrs {
				where := fmt.Sprintf("endpoint %d cluster %s attribute %s", e.ID, cs, as)
				a, err := strconv.ParseUint(as, 0, 16)
				if err != nil {
					attrProblems = append(attrProblems, fmt.Sprintf("endpoint %d cluster %s: attribute %q is not a number", e.ID, cs, as))
					continue
				}
				name, _ := tv[0].(string)
				typ, ok := typeIDs[name]
				if !ok {
					attrProblems = append(attrProblems, fmt.Sprintf("%s: type %s is not one of %s", where, valueText(tv[0]), typeNames()))
					continue
				}
				v := numberValue(tv[1])
				if err := checkValue(typ, v); err != nil {
					attrProblems = append(attrProblems, fmt.Sprintf("%s (%s): %v", where, name, err))
					continue
				}
				ep.attrs[uint16(c)][uint16(a)] = &attribute{typ: typ, value: v}
			}
		}
		sort.Strings(attrProblems) // the attributes are a map: list them in a stable order
		problems = append(problems, attrProblems...)
		if slices.Contains(e.In, 0x0500) {
			iasZoneDefaults(ep)
		}
		if dev.eps[e.ID] == nil {
			dev.eps[e.ID] = ep
			dev.epOrder = append(dev.epOrder, e.ID)
		}
	}
	if len(dev.epOrder) > 0 {
		if _, ok := dev.attr(dev.epOrder[0], 0x0000, 0x0005); !ok {
			problem("endpoint %d has no Basic modelId (cluster 0x0000 attribute 0x0005)", dev.epOrder[0])
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
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
