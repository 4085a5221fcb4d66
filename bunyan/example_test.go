/*
Example of typical use: a root logger, a backend's child logger, the IPv4
and Errno helpers, and a trace record that costs nothing when trace is off.
*/

package bunyan_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/joyent/mname-balancer/bunyan"
)

func Example() {
	level, err := bunyan.ParseLevel("info") // from -l or LOG_LEVEL
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbal:", err)
		os.Exit(1)
	}
	var out bytes.Buffer // the daemon passes os.Stdout
	log := bunyan.New(&out, level)
	log.Info().Str("addr", "0.0.0.0").Uint32("port", 53).Msg("listening for UDP packets")

	be := log.With().Uint32("be_id", 5301).Str("be_path", "/var/run/binder/sockets/5301").Logger()
	be.Info().Msg("new backend")

	// Trace is off: nothing is formatted, written or allocated.
	bunyan.IPv4(be.Trace(), "remote_ip", 0x0A4D4D05).Uint32("len", 512).Msg("inbound UDP")

	_, err = os.Open("/var/run/binder/sockets/no-such-backend")
	bunyan.Errno(be.Error(), err).Msg("backend socket removed")

	// Print each record without the fields that vary from run to run.
	dec := json.NewDecoder(&out)
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			panic(err)
		}
		delete(rec, "hostname")
		delete(rec, "pid")
		delete(rec, "tid")
		delete(rec, "time")
		line, _ := json.Marshal(rec) // sorts the keys
		fmt.Println(string(line))
	}
	// Output:
	// {"addr":"0.0.0.0","level":30,"msg":"listening for UDP packets","name":"mname-balancer","port":53,"v":0}
	// {"be_id":5301,"be_path":"/var/run/binder/sockets/5301","level":30,"msg":"new backend","name":"mname-balancer","v":0}
	// {"be_id":5301,"be_path":"/var/run/binder/sockets/5301","err":"open /var/run/binder/sockets/no-such-backend: no such file or directory","errno":2,"level":50,"msg":"backend socket removed","name":"mname-balancer","strerror":"no such file or directory","v":0}
}
