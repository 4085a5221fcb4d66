// Package timescale shortens a configuration's intervals for tests: the
// end-to-end tests' balancer (built with the bbaltest tag) and the unit
// tests run the real timings divided by a factor.
package timescale

import (
	"reflect"
	"time"
)

// Scale returns v, a struct, with every time.Duration field divided by f
// (f > 1 shortens them), except the fields tagged `timescale:"fixed"`:
// those measure how soon another process answers, which no test can speed
// up. Other fields are left alone.
func Scale[T any](v T, f float64) T {
	rv := reflect.ValueOf(&v).Elem()
	durationType := reflect.TypeFor[time.Duration]()
	for i := range rv.NumField() {
		field := rv.Type().Field(i)
		if field.Type != durationType || field.Tag.Get("timescale") == "fixed" {
			continue
		}
		d := time.Duration(rv.Field(i).Int())
		rv.Field(i).SetInt(int64(time.Duration(float64(d) / f)))
	}
	return v
}
