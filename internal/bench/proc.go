package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// processCPU returns the user + system CPU seconds this process used.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// pidCPU returns the CPU seconds of another process from /proc/PID/stat.
func pidCPU(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may contain spaces) start at ") ".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(string(f[11]), 64) // utime, field 14
	st, err2 := strconv.ParseFloat(string(f[12]), 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const hz = 100 // USER_HZ on Linux
	return (ut + st) / hz, true
}

// rssOf returns the resident set size and its peak (VmRSS, VmHWM) of a
// process ("self" or a pid) in bytes.
func rssOf(pid string) (rss, hwm uint64) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &hwm
		default:
			continue
		}
		fs := bytes.Fields(line)
		if len(fs) >= 2 {
			if kb, err := strconv.ParseUint(string(fs[1]), 10, 64); err == nil {
				*dst = kb * 1024
			}
		}
	}
	return rss, hwm
}

// selfRSS reads the resident set size cheaply from /proc/self/statm.
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// Usage is what one process reports about itself.
type Usage struct {
	// CPUSeconds is the user + system CPU since the process started.
	CPUSeconds float64 `json:"cpu_seconds"`
	// HeapBase is the live heap right after the mark (after a GC).
	HeapBase uint64 `json:"heap_base"`
	// HeapPeak is the largest live heap (as of the last GC) seen since the mark.
	HeapPeak uint64 `json:"heap_peak"`
	// RSSBase is the resident set at the mark, RSSPeak the largest sampled
	// since, RSSNow at the report.
	RSSBase uint64 `json:"rss_base"`
	RSSPeak uint64 `json:"rss_peak"`
	RSSNow  uint64 `json:"rss_now"`
	// HWM is the kernel's peak resident set over the process lifetime.
	HWM        uint64 `json:"hwm"`
	Goroutines int    `json:"goroutines"`
	// Exchanges is the number of protocomm exchanges the devices served
	// (simulator only): the round trips.
	Exchanges int64 `json:"exchanges,omitempty"`
	// Connections is the number of TCP connections the devices accepted
	// (simulator only).
	Connections int64 `json:"connections,omitempty"`
}

// sampleEvery is how often each process samples its live heap and resident
// set during a measurement. The sampling is CPU the benchmark would count
// as provisioning CPU: every 5 ms it was a fifth of the client's CPU in a
// Security 2 run (open + read of /proc/self/statm and a wake-up 200 times a
// second in each of the three processes, ≈ 0.1 ms per provision per
// process at 50 provisions/s). The kernel's own peak (VmHWM) is reported
// too, so a short peak between samples is not lost.
const sampleEvery = 50 * time.Millisecond

// sampler follows the live heap and the resident set between a mark and a
// report.
type sampler struct {
	mu   sync.Mutex
	u    Usage
	stop chan struct{}
	done chan struct{}
}

var heapLive = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

func readHeapLive() uint64 {
	s := make([]metrics.Sample, 1)
	copy(s, heapLive)
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// fullGC collects until the live heap holds only reachable objects. One
// runtime.GC leaves what sync.Pools held in their victim caches, counted as
// live until the next cycle: gRPC, HTTP/2 and bufio pools make that vary by
// more than a few sessions weigh, so a baseline taken after one GC could
// exceed the heap with sessions parked (heap_bytes_per_session = 0).
func fullGC() {
	runtime.GC()
	runtime.GC()
}

// mark starts a new measurement: a full GC, then the baselines, then
// sampling every interval.
func (s *sampler) mark(interval time.Duration) {
	s.halt()
	fullGC()
	base := Usage{HeapBase: readHeapLive(), RSSBase: selfRSS()}
	base.HeapPeak, base.RSSPeak = base.HeapBase, base.RSSBase
	s.mu.Lock()
	s.u = base
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	stop, done := s.stop, s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			h, r := readHeapLive(), selfRSS()
			s.mu.Lock()
			s.u.HeapPeak = max(s.u.HeapPeak, h)
			s.u.RSSPeak = max(s.u.RSSPeak, r)
			s.mu.Unlock()
		}
	}()
}

func (s *sampler) halt() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// report returns the usage since the mark; sampling continues.
func (s *sampler) report() Usage {
	h, r := readHeapLive(), selfRSS()
	s.mu.Lock()
	s.u.HeapPeak = max(s.u.HeapPeak, h)
	s.u.RSSPeak = max(s.u.RSSPeak, r)
	u := s.u
	s.mu.Unlock()
	u.CPUSeconds = processCPU()
	u.RSSNow = r
	_, u.HWM = rssOf("self")
	u.Goroutines = runtime.NumGoroutine()
	return u
}
