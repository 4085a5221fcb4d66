/*
 * Tests of appendRemoteJSON: json.Marshal's bytes for a remote with every
 * field set (filled by reflection, so a field added to view.Remote is
 * covered) and for the zero remote, and no allocation.
 */

package mdb

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/joyent/mname-balancer/mdb/view"
)

// filledRemote has every field set to a distinct value.
func filledRemote(t *testing.T) view.Remote {
	var r view.Remote
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[netip.Addr]():
			f.Set(reflect.ValueOf(netip.MustParseAddr("10.1.2.3")))
		case f.CanUint():
			f.SetUint(uint64(1000*i + 7))
		case f.CanInt():
			f.SetInt(int64(-1000*i - 7))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.String:
			f.SetString("a \"quoted\" <string>")
		default:
			t.Fatalf("view.Remote field %s of a kind this test cannot fill", v.Type().Field(i).Name)
		}
	}
	return r
}

func TestRemoteJSONIsMarshals(t *testing.T) {
	for _, r := range []view.Remote{filledRemote(t), {}} {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRemoteJSON(nil, &r); string(got) != string(want) {
			t.Errorf("appendRemoteJSON:\n%s\nwant (json.Marshal):\n%s", got, want)
		}
	}
}

func TestRemoteJSONAllocs(t *testing.T) {
	r := filledRemote(t)
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = appendRemoteJSON(buf[:0], &r) }); n != 0 {
		t.Errorf("%v allocations per remote, want 0", n)
	}
}
