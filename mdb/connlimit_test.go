/*
 * Tests of the metrics endpoint's connection limits, on a server with
 * small ones (four connections, two per address): at the cap a new scrape
 * is served at once, in the place of the oldest idle keep-alive
 * connection, or of the oldest silent one; an address at its limit makes
 * room among its own connections only. (Before, 16 idle keep-alive
 * connections made a scrape wait 60 s, and 16 silent ones 5 s.)
 */

package mdb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

const (
	testMaxConns = 4
	testPerIP    = 2
)

// startLimitedMetrics starts a metrics server with the small limits. Every
// test of them dials from several 127/8 addresses, since the per-address
// limit would otherwise decide what the total cap is meant to; illumos's
// lo0 holds only 127.0.0.1, so there they skip, saying so.
func startLimitedMetrics(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "illumos" {
		t.Skip("needs several client addresses (127.0.0.2-6): illumos's lo0 has only 127.0.0.1")
	}
	b := startBalancer(t, quietLog())
	m, err := listenMetrics("127.0.0.1:0", b.in, quietLog(), testMaxConns, testPerIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m.Addr().String()
}

// dialFrom connects to addr from the local address from (127.0.0.x).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keepAliveScrape sends one scrape on c and reads the answer, leaving c
// open and idle.
func keepAliveScrape(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive scrape: %d, close %v", resp.StatusCode, resp.Close)
	}
}

// closed reports whether the server has closed c (a read ends at once),
// rather than kept it open (the read times out).
func closed(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// scrapeFrom scrapes once on a new connection from the address from and
// says how long it took.
func scrapeFrom(t *testing.T, from, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	keepAliveScrape(t, dialFrom(t, from, addr))
	return time.Since(start)
}

func TestMetricsCapClosesOldestIdleForNew(t *testing.T) {
	addr := startLimitedMetrics(t)
	var held []net.Conn
	for i, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		c := dialFrom(t, from, addr)
		keepAliveScrape(t, c)
		held = append(held, c)
		if i == 0 {
			time.Sleep(10 * time.Millisecond) // the first is idle longest
		}
	}
	if d := scrapeFrom(t, "127.0.0.6", addr); d > 2*time.Second {
		t.Errorf("a scrape at the cap of idle keep-alive connections took %v", d)
	}
	if !closed(t, held[0]) {
		t.Error("the oldest idle connection was not closed for the new one")
	}
	for i, c := range held[1:] {
		if closed(t, c) {
			t.Errorf("idle connection %d closed, not the oldest", i+2)
		}
	}
}

func TestMetricsCapClosesOldestSilentForNew(t *testing.T) {
	addr := startLimitedMetrics(t)
	var held []net.Conn
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		held = append(held, dialFrom(t, from, addr)) // says nothing
		time.Sleep(10 * time.Millisecond)
	}
	if d := scrapeFrom(t, "127.0.0.6", addr); d > 2*time.Second {
		t.Errorf("a scrape at the cap of silent connections took %v", d)
	}
	if !closed(t, held[0]) {
		t.Error("the oldest silent connection was not closed for the new one")
	}
	for i, c := range held[1:] {
		if closed(t, c) {
			t.Errorf("silent connection %d closed, not the oldest", i+2)
		}
	}
}

func TestMetricsPerIPLimit(t *testing.T) {
	addr := startLimitedMetrics(t)
	other := dialFrom(t, "127.0.0.3", addr) // oldest of all, another address
	keepAliveScrape(t, other)
	time.Sleep(10 * time.Millisecond)
	first := dialFrom(t, "127.0.0.2", addr)
	keepAliveScrape(t, first)
	time.Sleep(10 * time.Millisecond)
	second := dialFrom(t, "127.0.0.2", addr)
	keepAliveScrape(t, second)
	// A third from 127.0.0.2, below the cap of 4: its own oldest goes.
	if d := scrapeFrom(t, "127.0.0.2", addr); d > 2*time.Second {
		t.Errorf("a scrape at the address's limit took %v", d)
	}
	if !closed(t, first) {
		t.Error("the address's oldest connection was not closed at its limit")
	}
	if closed(t, second) || closed(t, other) {
		t.Error("a connection other than the address's oldest was closed")
	}
}
