package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"offload/internal/await"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connBudget scales a test's connection count to the fd limit of this
// process, which holds the client side of every connection.
func connBudget(t *testing.T, want int) int {
	t.Helper()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if limit := int(rl.Cur) - 200; limit < want {
		t.Logf("fd limit %d: using %d connections instead of %d", rl.Cur, limit, want)
		return max(10, limit)
	}
	return want
}

// TestSlowlorisCannotBlockOthers: hundreds of clients that trickle a
// request header one byte per second hold connections, but not the server:
// /healthz stays fast, and every trickler is closed at -read-timeout.
func TestSlowlorisCannotBlockOthers(t *testing.T) {
	const readTimeout = 2 * time.Second
	n := connBudget(t, 500)
	c := startChild(t, "", "-read-timeout", readTimeout.String())

	conns := make([]net.Conn, n)
	opened := make([]time.Time, n)
	for i := range conns {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			t.Fatalf("slowloris connection %d: %v", i, err)
		}
		defer conn.Close()
		conns[i], opened[i] = conn, time.Now()
	}
	header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 60)
	stop := make(chan struct{})
	var trickling sync.WaitGroup
	trickling.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for pos := 0; ; pos++ {
			for _, conn := range conns {
				_, _ = conn.Write([]byte{header[pos%len(header)]})
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	defer func() { close(stop); trickling.Wait() }()

	await.True(t, "the trickling connections to be accepted", 5*time.Second, func() bool {
		return metricValue(t, c.addr, "offload_connections_active") >= float64(n)
	})
	var slowest time.Duration
	for range 20 {
		start := time.Now()
		code, _, err := get(c.addr, "/healthz", 2*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("/healthz during slowloris: %d %v", code, err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	// A server whose workers the tricklers held would answer only as they
	// time out, readTimeout from now; a twentieth of it is far from that.
	if slowest > readTimeout/20 {
		t.Errorf("slowest /healthz during slowloris took %v, more than a twentieth of -read-timeout %v", slowest, readTimeout)
	}

	// Each trickler must see its connection closed by the server, at the
	// read timeout counted from when it connected.
	var late, early int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, conn := range conns {
		wg.Go(func() {
			_ = conn.SetReadDeadline(opened[i].Add(readTimeout + 3*time.Second))
			_, err := io.Copy(io.Discard, conn)
			closedAfter := time.Since(opened[i])
			var ne net.Error
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				late++
			case closedAfter < readTimeout-100*time.Millisecond:
				early++
			}
		})
	}
	wg.Wait()
	if late > 0 || early > 0 {
		t.Fatalf("of %d tricklers, %d were still open at -read-timeout + 3s and %d were closed before -read-timeout", n, late, early)
	}
	await.True(t, "the server to count them closed", 5*time.Second, func() bool {
		return metricValue(t, c.addr, "offload_connections_active") <= 1 // the scrape itself
	})
}

// abort closes conn with an RST instead of a FIN.
func abort(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// TestAbruptClientsLeakNothing: clients that reset their connection in the
// middle of a request, or while the server is working on the answer, leave
// no connection, token, goroutine or descriptor behind.
func TestAbruptClientsLeakNothing(t *testing.T) {
	const maxConns = 40
	c := startChild(t, "", "-max-conns", strconv.Itoa(maxConns), "-pool", "2", "-queue", "256")
	baseGoroutines, baseFDs := metricValue(t, c.addr, "go_goroutines"), metricValue(t, c.addr, "process_open_fds")

	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			switch i % 3 {
			case 0: // mid-request: half a header, then RST
				_, _ = io.WriteString(conn, "GET /data HTTP/1.1\r\nHost: x\r\nX-Ha")
			case 1: // while the work runs: a whole request, then RST
				_, _ = io.WriteString(conn, "GET /data?work=20ms HTTP/1.1\r\nHost: x\r\n\r\n")
				time.Sleep(5 * time.Millisecond)
			case 2: // mid-response: read the first bytes of the answer, then RST
				_, _ = io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
				_, _ = conn.Read(make([]byte, 16))
			}
			abort(conn)
		})
	}
	wg.Wait()

	// One gauge from one scrape: accepted and closed read from two scrapes
	// would straddle the first scrape's own close, and the difference could
	// then never be 1.
	await.True(t, "every aborted connection to be closed", 10*time.Second, func() bool {
		return metricValue(t, c.addr, "offload_connections_active") == 1 // the scrape's own connection
	})
	await.True(t, "the jobs of aborted requests to finish", 10*time.Second, func() bool {
		return metricValue(t, c.addr, "offload_jobs_queued")+metricValue(t, c.addr, "offload_jobs_running") == 0
	})
	// fasthttp lets an idle connection goroutine linger for up to twice
	// its 2 s MaxIdleWorkerDuration before it exits. The runtime adds one GC
	// mark worker per P (3 here) at the first collection, which the storm
	// may have triggered; a leak would be one or more per aborted client.
	const slack = 5
	var goroutines, fds float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		goroutines, fds = metricValue(t, c.addr, "go_goroutines"), metricValue(t, c.addr, "process_open_fds")
		if goroutines <= baseGoroutines+slack && fds <= baseFDs+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after 200 aborted clients: goroutines %v (baseline %v), open fds %v (baseline %v)",
				goroutines, baseGoroutines, fds, baseFDs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the storm: goroutines %v (baseline %v), open fds %v (baseline %v)", goroutines, baseGoroutines, fds, baseFDs)

	// Every connection token came back: max-conns simultaneous clients are
	// all served.
	held := make([]net.Conn, 0, maxConns)
	defer func() {
		for _, conn := range held {
			conn.Close()
		}
	}()
	for i := range maxConns {
		conn, err := net.DialTimeout("tcp", c.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("connection %d of max-conns %d not served after the storm (%q, %v): tokens leaked", i+1, maxConns, line, err)
		}
	}
}

var shutdownSummary = regexp.MustCompile(`msg="shutdown complete".* connections_accepted=(\d+) connections_closed=(\d+) requests_answered=(\d+)`)

// TestSIGTERMAtFullLoad: with clients hammering /data one request per
// connection, SIGTERM drains: every connection the server accepted gets its
// answer (200 or 503), none is reset, and it exits 0 in time.
func TestSIGTERMAtFullLoad(t *testing.T) {
	c := startChild(t, "", "-pool", "2", "-queue", "64", "-work", "2ms", "-shutdown-timeout", "5s")

	type tally struct {
		answered, refused, cutOff int
		codes                     map[int]int
	}
	var (
		mu    sync.Mutex
		total = tally{codes: map[int]int{}}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for range 32 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, err := oneRequest(c.addr)
				mu.Lock()
				switch {
				case err == nil:
					total.answered++
					total.codes[code]++
				case errors.Is(err, syscall.ECONNREFUSED):
					total.refused++
				default:
					total.cutOff++
				}
				mu.Unlock()
				if errors.Is(err, syscall.ECONNREFUSED) {
					return // the listeners are closed: the server is draining
				}
			}
		})
	}
	await.True(t, "load to build up", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total.answered > 200
	})
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code := c.wait(t, 10*time.Second)
	took := time.Since(start)
	close(stop)
	wg.Wait()

	if code != 0 {
		t.Fatalf("exit status %d after SIGTERM at full load, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("drain took %v, more than -shutdown-timeout", took)
	}
	m := shutdownSummary.FindStringSubmatch(c.logs.String())
	if m == nil {
		t.Fatal("no shutdown summary in the log")
	}
	accepted, _ := strconv.Atoi(m[1])
	closed, _ := strconv.Atoi(m[2])
	answeredByServer, _ := strconv.Atoi(m[3])
	mu.Lock()
	defer mu.Unlock()
	t.Logf("clients: %d answered %v, %d refused, %d cut off; server: accepted %d closed %d answered %d; drain %v",
		total.answered, total.codes, total.refused, total.cutOff, accepted, closed, answeredByServer, took)
	for code := range total.codes {
		if code != 200 && code != 503 {
			t.Errorf("status %d during shutdown, want only 200 and 503", code)
		}
	}
	if accepted != closed {
		t.Errorf("server accepted %d connections but closed %d", accepted, closed)
	}
	// One request per connection: each accepted connection must have
	// produced exactly one answer that reached its client. Clients cut off
	// are connections still in the listen backlog when the listeners
	// closed: the kernel resets those; the server never accepted them.
	if answeredByServer != accepted || total.answered != accepted {
		t.Errorf("server accepted %d connections and answered %d requests; clients received %d answers: an accepted request went unanswered",
			accepted, answeredByServer, total.answered)
	}
}

// oneRequest sends GET /data on a new connection with Connection: close
// and returns the status code.
func oneRequest(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /data HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		return 0, err
	}
	var code int
	if _, err := fmt.Sscanf(string(resp), "HTTP/1.1 %d", &code); err != nil {
		return 0, fmt.Errorf("bad answer %q: %w", resp, err)
	}
	return code, nil
}
