//go:build illumos && cgo

// Kernel kstats through libkstat (github.com/illumos/go-kstat): the zone's
// udp and tcp statistics that matter to a DNS balancer. Only balstat uses
// cgo; the balancer itself stays cgo-free.

package main

import (
	"fmt"

	"github.com/illumos/go-kstat"

	"github.com/joyent/mname-balancer/mdb/view"
)

// kernelStats are the statistics shown, by module (the kstat's name is the
// module's too: udp:<zone>:udp, tcp:<zone>:tcp).
var kernelStats = map[string][]string{
	"udp": {"udpInErrors", "udpInOverflows", "udpOutErrors", "udpInCksumErrs", "udpNoPorts",
		"udpInDatagrams", "udpOutDatagrams"},
	"tcp": {"tcpListenDrop", "tcpListenDropQ0", "tcpHalfOpenDrop", "tcpCurrEstab",
		"tcpEstabResets", "tcpAttemptFails", "tcpPassiveOpens"},
}

func kernelKstats() ([]view.Kstat, error) {
	tok, err := kstat.Open()
	if err != nil {
		return nil, fmt.Errorf("kstat_open: %w", err)
	}
	defer tok.Close()
	var out []view.Kstat
	for _, ks := range tok.All() {
		want, ok := kernelStats[ks.Module]
		if !ok || ks.Name != ks.Module {
			continue
		}
		named, err := ks.AllNamed()
		if err != nil {
			return nil, fmt.Errorf("kstat %s:%d:%s: %w", ks.Module, ks.Instance, ks.Name, err)
		}
		k := view.Kstat{Module: ks.Module, Instance: ks.Instance, Name: ks.Name, Class: ks.Class,
			Crtime: ks.Crtime, Snaptime: ks.Snaptime}
		for _, n := range named {
			if !contains(want, n.Name) {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
