package upstream_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

var storedID = upstream.NetworkIdentity{
	Channel:    15,
	PanID:      0x2b3c,
	ExtPanID:   "b67d9df7ca2131fb",
	NetworkKey: "74c652fc44628fd04b47ffe7b456f4e1",
}

// instanceWith returns an embedded instance whose identity fields are set
// from id (zero values meaning "unset").
func instanceWith(id upstream.NetworkIdentity, reset bool) *upstream.Instance {
	a := &upstream.Adapter{Port: "tcp://127.0.0.1:6638", Type: "zstack", Baudrate: 115200, Channel: 11}
	if id.Channel != 0 {
		a.Channel, a.ChannelSet = id.Channel, true
	}
	a.PanID, a.ExtPanID, a.NetworkKey = id.PanID, id.ExtPanID, id.NetworkKey
	return &upstream.Instance{InstanceID: "t", Adapter: a, ResetNetwork: reset}
}

func TestResolveIdentity(t *testing.T) {
	other := upstream.NetworkIdentity{Channel: 20, PanID: 0x1111, ExtPanID: "1111111111111111", NetworkKey: "22222222222222222222222222222222"}
	tests := []struct {
		name          string
		stored        *upstream.NetworkIdentity
		inst          upstream.NetworkIdentity
		reset         bool
		want          *upstream.NetworkIdentity // nil: random values expected
		wantGenerated bool
		wantReset     bool
		wantErr       string
	}{
		{name: "nothing stored, full instance", inst: storedID, want: &storedID},
		{name: "nothing stored, unset", inst: upstream.NetworkIdentity{}, wantGenerated: true},
		{name: "nothing stored, only channel", inst: upstream.NetworkIdentity{Channel: 25}, wantGenerated: true},
		{name: "stored, instance unset", stored: &storedID, inst: upstream.NetworkIdentity{}, want: &storedID},
		{name: "stored, instance equal", stored: &storedID, inst: storedID, want: &storedID},
		{name: "stored, instance partial equal", stored: &storedID, inst: upstream.NetworkIdentity{PanID: storedID.PanID}, want: &storedID},
		{name: "stored, different pan id", stored: &storedID, inst: upstream.NetworkIdentity{PanID: 0x1111},
			wantErr: "pan_id 0x1111, stored 0x2b3c"},
		{name: "stored, different key", stored: &storedID, inst: upstream.NetworkIdentity{NetworkKey: other.NetworkKey},
			wantErr: "network_key differs from the stored key"},
		{name: "stored, different channel", stored: &storedID, inst: upstream.NetworkIdentity{Channel: 20},
			wantErr: "channel 20, stored 15"},
		{name: "stored, all different", stored: &storedID, inst: other,
			wantErr: "channel, pan_id, ext_pan_id, network_key differ"},
		{name: "stored, different with reset", stored: &storedID, inst: other, reset: true, want: &other, wantReset: true},
		{name: "stored, partial reset keeps the rest", stored: &storedID, inst: upstream.NetworkIdentity{PanID: 0x1111}, reset: true,
			want: &upstream.NetworkIdentity{Channel: 15, PanID: 0x1111, ExtPanID: storedID.ExtPanID, NetworkKey: storedID.NetworkKey}, wantReset: true},
		{name: "reset without change", stored: &storedID, inst: upstream.NetworkIdentity{}, reset: true, want: &storedID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, upstream.IdentityFileName)
			if tt.stored != nil {
				if err := upstream.SaveIdentity(path, *tt.stored); err != nil {
					t.Fatal(err)
				}
			}
			res, err := upstream.ResolveIdentity(dir, instanceWith(tt.inst, tt.reset))
			if tt.wantErr != "" {
				var mm *upstream.IdentityMismatchError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &mm) {
					t.Fatalf("error = %v, want an IdentityMismatchError containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), storedID.NetworkKey) || strings.Contains(err.Error(), other.NetworkKey) {
					t.Errorf("error reveals a network key: %v", err)
				}
				if !strings.Contains(err.Error(), "reset_network") {
					t.Errorf("error does not say how to proceed: %v", err)
				}
				// The stored identity is untouched.
				got, found, err := upstream.LoadIdentity(path)
				if err != nil || !found || got != *tt.stored {
					t.Errorf("stored identity changed to %+v (found %v, %v)", got, found, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveIdentity: %v", err)
			}
			if res.Generated != tt.wantGenerated || res.Reset != tt.wantReset {
				t.Errorf("Generated, Reset = %v, %v; want %v, %v", res.Generated, res.Reset, tt.wantGenerated, tt.wantReset)
			}
			if res.Path != path {
				t.Errorf("Path = %q, want %q", res.Path, path)
			}
			if tt.want != nil && res.Identity != *tt.want {
				t.Errorf("Identity = %+v, want %+v", res.Identity, *tt.want)
			}
			if tt.want == nil {
				checkGenerated(t, res.Identity, tt.inst)
			}
			// Whatever was decided is what is stored now.
			got, found, err := upstream.LoadIdentity(path)
			if err != nil || !found || got != res.Identity {
				t.Errorf("stored %+v (found %v, %v), want %+v", got, found, err, res.Identity)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("identity file mode = %v (%v), want 0600", st.Mode().Perm(), err)
			}
		})
	}
}

func checkGenerated(t *testing.T, id, inst upstream.NetworkIdentity) {
	t.Helper()
	wantChannel := upstream.DefaultChannel
	if inst.Channel != 0 {
		wantChannel = inst.Channel
	}
	if id.Channel != wantChannel {
		t.Errorf("Channel = %d, want %d", id.Channel, wantChannel)
	}
	if id.PanID < 1 || id.PanID > 0xFFFE {
		t.Errorf("PanID = %#x out of range", id.PanID)
	}
	if len(id.ExtPanID) != 16 || len(id.NetworkKey) != 32 {
		t.Errorf("generated ext_pan_id %q / key length %d", id.ExtPanID, len(id.NetworkKey))
	}
}

func TestResolveIdentityGeneratesDistinctValues(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		res, err := upstream.ResolveIdentity(t.TempDir(), instanceWith(upstream.NetworkIdentity{}, false))
		if err != nil {
			t.Fatal(err)
		}
		if seen[res.Identity.NetworkKey] {
			t.Fatalf("generated the same network key twice")
		}
		seen[res.Identity.NetworkKey] = true
	}
}

func TestResolveIdentityIsStable(t *testing.T) {
	dir := t.TempDir()
	first, err := upstream.ResolveIdentity(dir, instanceWith(upstream.NetworkIdentity{}, false))
	if err != nil || !first.Generated {
		t.Fatalf("first = %+v, %v; want generated", first, err)
	}
	second, err := upstream.ResolveIdentity(dir, instanceWith(upstream.NetworkIdentity{}, false))
	if err != nil || second.Generated || second.Identity != first.Identity {
		t.Fatalf("second = %+v, %v; want the stored identity %+v, not generated", second, err, first.Identity)
	}
}

func TestResolveIdentityErrors(t *testing.T) {
	tests := []struct {
		name   string
		stored string // file content; "" means none
		inst   *upstream.Instance
		want   string
	}{
		{"translator-only", "", &upstream.Instance{}, "translator-only"},
		{"nil instance", "", nil, "translator-only"},
		{"corrupt file", "{not json", instanceWith(upstream.NetworkIdentity{}, false), "is not valid"},
		{"unknown field", `{"channel":11,"pan_id":1,"ext_pan_id":"0000000000000001","network_key":"00000000000000000000000000000001","x":1}`,
			instanceWith(upstream.NetworkIdentity{}, false), "is not valid"},
		{"bad values", `{"channel":30,"pan_id":1,"ext_pan_id":"0000000000000001","network_key":"00000000000000000000000000000001"}`,
			instanceWith(upstream.NetworkIdentity{}, false), "channel 30 is out of range"},
		{"short key", `{"channel":11,"pan_id":1,"ext_pan_id":"0000000000000001","network_key":"00"}`,
			instanceWith(upstream.NetworkIdentity{}, true), "network_key must be 32 hex characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, upstream.IdentityFileName)
			if tt.stored != "" {
				if err := os.WriteFile(path, []byte(tt.stored), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := upstream.ResolveIdentity(dir, tt.inst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if tt.stored != "" {
				if data, _ := os.ReadFile(path); string(data) != tt.stored {
					t.Errorf("an invalid identity file was replaced")
				}
			}
		})
	}
}

func TestNetworkIdentityNeverShowsKey(t *testing.T) {
	forms := []string{
		storedID.String(),
		fmt.Sprint(storedID),
		fmt.Sprintf("%v", storedID),
	}
	js, err := json.Marshal(storedID)
	if err != nil {
		t.Fatal(err)
	}
	forms = append(forms, string(js))
	for _, s := range forms {
		if strings.Contains(s, storedID.NetworkKey) {
			t.Errorf("%q contains the network key", s)
		}
	}
	if want := "channel=15 pan_id=0x2b3c ext_pan_id=b67d9df7ca2131fb network_key=<redacted>"; storedID.String() != want {
		t.Errorf("String() = %q, want %q", storedID.String(), want)
	}
}

func TestApplyTo(t *testing.T) {
	a := &upstream.Adapter{Channel: 11}
	storedID.ApplyTo(a)
	got := upstream.NetworkIdentity{Channel: a.Channel, PanID: a.PanID, ExtPanID: a.ExtPanID, NetworkKey: a.NetworkKey}
	if got != storedID || !a.ChannelSet {
		t.Errorf("ApplyTo gave %+v (ChannelSet %v), want %+v", got, a.ChannelSet, storedID)
	}
}
