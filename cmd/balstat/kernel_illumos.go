//go:build illumos && cgo

// Kernel kstats through libkstat (github.com/illumos/go-kstat): the zone's
// udp and tcp statistics that matter to a DNS balancer (kernelstats.go
// names them). Only balstat uses cgo; the balancer itself stays cgo-free.

package main

import (
	"fmt"

	"github.com/illumos/go-kstat"

	"github.com/joyent/mname-balancer/mdb/view"
)

func kernelKstats() ([]view.Kstat, error) {
	tok, err := kstat.Open()
	if err != nil {
		return nil, fmt.Errorf("kstat_open: %w", err)
	}
	defer tok.Close()
	var out []view.Kstat
	for _, ks := range tok.All() {
		if !kernelKstatShown(ks.Module, ks.Name) {
			continue
		}
		named, err := ks.AllNamed()
		if err != nil {
			return nil, fmt.Errorf("kstat %s:%d:%s: %w", ks.Module, ks.Instance, ks.Name, err)
		}
		k := view.Kstat{Module: ks.Module, Instance: ks.Instance, Name: ks.Name, Class: ks.Class,
			Crtime: ks.Crtime, Snaptime: ks.Snaptime}
		for _, n := range named {
			if !kernelStatShown(ks.Module, ks.Name, n.Name) {
				continue
			}
			v := view.KstatValue{Name: n.Name}
			switch n.Type {
			case kstat.Int32, kstat.Int64:
				v.Num = uint64(n.IntVal)
			case kstat.Uint32, kstat.Uint64:
				v.Num = n.UintVal
			default:
				v.Str, v.IsStr = n.StringVal, true
			}
			k.Stats = append(k.Stats, v)
		}
		out = append(out, k)
	}
	return out, nil
}
