//go:build linux

package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

/*
The holding measurement (bench -holds, issue 20): how long clients that
hold connections keep the operator and a scraper out. bbal --demo (its own
demo backends) with the metrics endpoint and the control socket, a table
of holdRemotes remotes (so that a whole snapshot outgrows the socket
buffers), then, one case at a time, each on its own fresh connections:

	16 idle keep-alive /metrics connections (one scrape each, from 16
	addresses): how long a new scrape takes
	16 silent /metrics connections (from 16 addresses): the same
	8 silent control connections: how long until balstat -p is served
	one client reading a whole snapshot at 1 byte/s: how long balstat -j
	(a second whole snapshot) takes

Each wait is bounded by holdLimit. It reports; it asserts nothing.
*/

const (
	holdLimit   = 70 * time.Second
	holdRemotes = 20_000
)

// Holds runs the measurement and prints its figures.
func Holds(cfg InspectConfig) error {
	progress := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, "holds: "+format+"\n", args...) }
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	port, err := freePort()
	if err != nil {
		return err
	}
	mport, err := freePort()
	if err != nil {
		return err
	}
	ctl := filepath.Join(e.dir, "bbal.ctl")
	metrics := "127.0.0.1:" + strconv.Itoa(mport)
	if _, err := e.start("bbal", exec.Command(cfg.BBAL, "--demo", "-b", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", ctl, "-m", metrics, "-l", "info"), filepath.Join(e.dir, "bbal.log")); err != nil {
		return err
	}
	if err := probe(port, 10*time.Second); err != nil {
		return err
	}
	if _, err := (Load{Rate: 10_000, Duration: 2 * time.Second, Grace: time.Second, Sources: sourceAddrs(64, holdRemotes),
		Targets: []unix.RawSockaddrInet4{local(port)}}).Run(); err != nil {
		return err
	}
	n, err := balstatRemotes(cfg.Balstat, ctl)
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "holding clients (bbal %s, balstat %s; %d remotes)\n", cfg.BBAL, cfg.Balstat, n)
	url := "http://" + metrics + "/metrics"

	progress("16 idle keep-alive /metrics connections")
	var conns []net.Conn
	for i := range 16 {
		c, err := dialFromTCP(fmt.Sprintf("127.0.3.%d", i+1), metrics)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fmt.Fprintf(cfg.Out, "  a scrape beside 16 idle keep-alive connections: %s\n", timedScrape(url))
	closeAll(conns)
	time.Sleep(500 * time.Millisecond)

	progress("16 silent /metrics connections")
	conns = nil
	for i := range 16 {
		c, err := dialFromTCP(fmt.Sprintf("127.0.4.%d", i+1), metrics)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond) // every silent one accepted
	fmt.Fprintf(cfg.Out, "  a scrape beside 16 silent connections: %s\n", timedScrape(url))
	closeAll(conns)
	time.Sleep(500 * time.Millisecond)

	progress("8 silent control connections")
	conns = nil
	for range 8 {
		c, err := net.Dial("unix", ctl)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	start := time.Now()
	for {
		err := exec.Command(cfg.Balstat, "-c", ctl, "-p", "bbal:0:balancer:remotes").Run()
		if err == nil {
			fmt.Fprintf(cfg.Out, "  balstat -p beside 8 silent control connections: served after %v\n", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > holdLimit {
			fmt.Fprintf(cfg.Out, "  balstat -p beside 8 silent control connections: not served in %v\n", holdLimit)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	closeAll(conns)
	time.Sleep(500 * time.Millisecond)

	progress("a whole snapshot read at 1 byte/s")
	slow, err := net.Dial("unix", ctl)
	if err != nil {
		return err
	}
	slow.(*net.UnixConn).SetReadBuffer(1)
	io.WriteString(slow, "snapshot\n")
	stop := make(chan struct{})
	go func() {
		b := make([]byte, 1)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			if _, err := slow.Read(b); err != nil {
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	start = time.Now()
	out, err := countOutput(exec.Command(cfg.Balstat, "-c", ctl, "-j"))
	fmt.Fprintf(cfg.Out, "  balstat -j beside a whole snapshot read at 1 byte/s: %v, %d bytes, error: %v\n",
		time.Since(start).Round(time.Millisecond), out, err)
	close(stop)
	slow.Close()
	return nil
}

func dialFromTCP(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

// timedScrape scrapes url on a new connection and says how it went.
func timedScrape(url string) string {
	c := &http.Client{Timeout: holdLimit}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Sprintf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("%d after %v", resp.StatusCode, time.Since(start).Round(time.Millisecond))
}
