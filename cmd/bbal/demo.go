/*
 * --demo: three demo backends (package backend/demo) in a fresh temporary
 * socket directory, named 5301 to 5303 as Binder would name them, so that
 * the balancer can be tried with dig and nothing else. The directory and
 * the backends go away when the balancer exits.
 */

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend/demo"
)

func startDemoBackends(log zerolog.Logger) (dir string, stop func(), err error) {
	dir, err = os.MkdirTemp("", "bbal-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("socket directory: %w", err)
	}
	var servers []*demo.Server
	stop = func() {
		for _, s := range servers {
			s.Close()
		}
		os.RemoveAll(dir)
	}
	for _, id := range []string{"5301", "5302", "5303"} {
		s, err := demo.Listen(filepath.Join(dir, id), id)
		if err != nil {
			stop()
			return "", nil, err
		}
		servers = append(servers, s)
	}
	log.Info().Str("socket_dir", dir).Int("backends", len(servers)).
		Msg("demo backends listening; try: dig @127.0.0.1 -p 5353 whoami. TXT")
	return dir, stop, nil
}
