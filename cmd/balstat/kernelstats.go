// The kernel statistics balstat -k shows, by the names the kernel gives
// them. They are the zone's MIB-II kstats (class mib2), udp:<stack>:udp and
// tcp:<stack>:tcp, the instance being the netstack's (0 in a zone that
// shares the global zone's stack), with the statistic names of illumos's
// usr/src/uts/common/inet/udp/udp_stats.c (udp_kstat_init) and
// usr/src/uts/common/inet/tcp/tcp_stats.c (tcp_kstat_init): "inErrors",
// not netstat -s's "udpInErrors".

package main

import "slices"

// kernelStats are the statistics shown, by module; the kstat's name is
// the module's.
var kernelStats = map[string][]string{
	"udp": {"inDatagrams", "inErrors", "outDatagrams", "outErrors"},
	"tcp": {"passiveOpens", "attemptFails", "estabResets", "currEstab",
		"listenDrop", "listenDropQ0", "halfOpenDrop"},
}

// kernelKstatShown reports whether kstat module:*:name is one -k reads.
func kernelKstatShown(module, name string) bool {
	_, ok := kernelStats[module]
	return ok && name == module
}

// kernelStatShown reports whether statistic stat of kstat module:*:name is
// one -k shows.
func kernelStatShown(module, name, stat string) bool {
	return kernelKstatShown(module, name) && slices.Contains(kernelStats[module], stat)
}
