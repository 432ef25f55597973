package coordinator

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// ControlRequest is the body of the control interface's POST requests.
// IEEE names the device ("0x000b57fffe123456"); the other fields belong to
// the request that uses them.
type ControlRequest struct {
	IEEE      string `json:"ieee"`
	Endpoint  byte   `json:"endpoint"`
	Cluster   string `json:"cluster"`   // "0x0402" or "1026"
	Attribute string `json:"attribute"` // "0x0000"
	Value     any    `json:"value"`
	Command   byte   `json:"command"` // command: the cluster command id
	Payload   string `json:"payload"` // command: its ZCL payload in hex
	Kind      string `json:"kind"`    // fault: confirm, silent, status
	Count     int    `json:"count"`
	Code      byte   `json:"code"`
}

// DeviceInfo is one device of GET /devices.
type DeviceInfo struct {
	IEEE   string `json:"ieee"`
	Model  string `json:"model"`
	Type   string `json:"type"`
	Joined bool   `json:"joined"`
	NWK    uint16 `json:"nwk,omitempty"`
	File   string `json:"file"`
}

// Devices lists the described devices and whether they joined.
func (e *Emulator) Devices() []DeviceInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]DeviceInfo, 0, len(e.devices))
	for ieee, d := range e.devices {
		nwk, joined := e.nv.nwkOf(ieee)
		out = append(out, DeviceInfo{IEEE: d.desc.IEEE, Model: d.desc.Model, Type: d.desc.Type, Joined: joined, NWK: nwk, File: d.desc.File})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IEEE < out[j].IEEE })
	return out
}

// Handler serves the control interface, meant for loopback:
//
//	GET  /devices                      the devices and whether they joined
//	POST /join    {"ieee"}             a device joins (joining must be permitted)
//	POST /leave   {"ieee"}             a device leaves
//	POST /set     {"ieee","endpoint","cluster","attribute","value"}
//	                                   an attribute changes and is reported
//	POST /command {"ieee","endpoint","cluster","command","payload"}
//	                                   the device sends a cluster command (a button press)
//	POST /fault   {"ieee","kind","count","code"}
//	                                   the next count frames fail (confirm, silent, status)
//	POST /drop                         the coordinator drops zigbee-herdsman's connection
//
// A request that cannot be carried out is answered with the reason and
// 400 (a malformed field, a value the attribute's type cannot hold, a part
// the device does not have), 404 (no such device, or it has not joined) or
// 409 (the network is not up, or does not permit joining).
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e.Devices())
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		e.Drop()
		fmt.Fprintln(w, "dropped")
	})
	do := func(run func(ieee uint64, req ControlRequest) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req ControlRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
			ieee, err := ParseIEEE(req.IEEE)
			if err == nil {
				err = run(ieee, req)
			}
			var invalid *invalidError
			switch {
			case errors.Is(err, errNoDevice):
				http.Error(w, err.Error(), http.StatusNotFound)
			case errors.As(err, &invalid):
				http.Error(w, err.Error(), http.StatusBadRequest)
			case err != nil: // the network is not in a state to do it
				http.Error(w, err.Error(), http.StatusConflict)
			default:
				fmt.Fprintln(w, "ok")
			}
		}
	}
	mux.HandleFunc("POST /join", do(func(ieee uint64, _ ControlRequest) error { return e.Join(ieee) }))
	mux.HandleFunc("POST /leave", do(func(ieee uint64, _ ControlRequest) error { return e.Leave(ieee) }))
	mux.HandleFunc("POST /fault", do(func(ieee uint64, req ControlRequest) error {
		return e.Fault(ieee, req.Kind, req.Count, req.Code)
	}))
	mux.HandleFunc("POST /command", do(func(ieee uint64, req ControlRequest) error {
		c, err := strconv.ParseUint(req.Cluster, 0, 16)
		if err != nil {
			return invalidf("cluster %q must be a number", req.Cluster)
		}
		payload, err := hex.DecodeString(req.Payload)
		if err != nil {
			return invalidf("payload %q must be hex", req.Payload)
		}
		return e.Command(ieee, max(req.Endpoint, 1), uint16(c), req.Command, payload)
	}))
	mux.HandleFunc("POST /set", do(func(ieee uint64, req ControlRequest) error {
		c, err1 := strconv.ParseUint(req.Cluster, 0, 16)
		a, err2 := strconv.ParseUint(req.Attribute, 0, 16)
		if err1 != nil || err2 != nil {
			return invalidf("cluster %q and attribute %q must be numbers", req.Cluster, req.Attribute)
		}
		ep := req.Endpoint
		if ep == 0 {
			ep = 1
		}
		return e.SetAttribute(ieee, ep, uint16(c), uint16(a), req.Value)
	}))
	return mux
}

// ParseIEEE reads "0x000b57fffe123456" (the prefix is optional).
func ParseIEEE(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), 16, 64)
	if err != nil {
		return 0, invalidf("ieee %q is not a 64-bit hex address", s)
	}
	return v, nil
}
