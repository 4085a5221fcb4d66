/*
 * A remote's JSON without allocating: the streamed snapshot writes a
 * million of them, and encoding/json allocates for each (netip.Addr's
 * MarshalText), garbage that grew the balancer's heap by some 20 MB per
 * full snapshot before the collector ran. The fields are view.Remote's, found
 * by reflection once, so a field added there is written too; the output is
 * json.Marshal's, byte for byte (remotejson_test.go checks both).
 */

package mdb

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/joyent/mname-balancer/mdb/view"
)

// jsonField is one field of view.Remote: its index, its key as JSON
// writes it ("name":) and how its value is written.
type jsonField struct {
	index int
	key   string
	kind  fieldKind
}

type fieldKind int

const (
	kindUint fieldKind = iota
	kindInt
	kindBool
	kindAddr
	kindOther // through encoding/json (allocates)
)

var remoteFields = jsonFields(reflect.TypeFor[view.Remote]())

func jsonFields(t reflect.Type) []jsonField {
	var fs []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		k := kindOther
		switch {
		case f.Type == reflect.TypeFor[netip.Addr]():
			k = kindAddr
		case f.Type.Kind() >= reflect.Uint && f.Type.Kind() <= reflect.Uint64:
			k = kindUint
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Int64:
			k = kindInt
		case f.Type.Kind() == reflect.Bool:
			k = kindBool
		}
		key, _ := json.Marshal(name)
		fs = append(fs, jsonField{index: i, key: string(key) + ":", kind: k})
	}
	return fs
}

// appendRemoteJSON appends r as json.Marshal writes it.
func appendRemoteJSON(b []byte, r *view.Remote) []byte {
	v := reflect.ValueOf(r).Elem()
	b = append(b, '{')
	for i, f := range remoteFields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		fv := v.Field(f.index)
		switch f.kind {
		case kindUint:
			b = strconv.AppendUint(b, fv.Uint(), 10)
		case kindInt:
			b = strconv.AppendInt(b, fv.Int(), 10)
		case kindBool:
			b = strconv.AppendBool(b, fv.Bool())
		case kindAddr:
			a := (*netip.Addr)(fv.Addr().UnsafePointer())
			if a.IsValid() {
				b = append(b, '"')
				b = a.AppendTo(b)
				b = append(b, '"')
			} else {
				b = append(b, `""`...)
			}
		default:
			x, err := json.Marshal(fv.Interface())
			if err != nil {
				x = []byte("null")
			}
			b = append(b, x...)
		}
	}
	return append(b, '}')
}
