// etcdput: puts of fixed-size values from C concurrent clients, each on its own connection,
// through etcd's official v3 Go client (clientv3); reports puts/s and latency percentiles.
// Built against Debian's golang-etcd-server-dev in GOPATH mode (see run.sh).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated client URLs")
	clients := flag.Int("c", 64, "concurrent clients, one connection each")
	size := flag.Int("size", 64, "value bytes")
	keys := flag.Int("keys", 1000, "key space")
	duration := flag.Duration("d", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "warm-up before measuring")
	label := flag.String("label", "", "free text copied into the JSON line")
	cacert := flag.String("cacert", "", "connect over TLS, trusting the CA certificates (PEM) in this file")
	flag.Parse()

	var tlsConfig *tls.Config
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcdput:", err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "etcdput: no certificate in", *cacert)
			os.Exit(1)
		}
		tlsConfig = &tls.Config{RootCAs: pool}
	}

	eps := strings.Split(*endpoints, ",")
	value := strings.Repeat("x", *size)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{eps[i%len(eps)]}, DialTimeout: 5 * time.Second, TLS: tlsConfig})
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcdput:", err)
			os.Exit(1)
		}
		defer cli.Close()
		wg.Add(1)
		go func(i int, cli *clientv3.Client) {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			localErrs := 0
			r := uint64(i)*0x9E3779B97F4A7C15 + 1
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				r ^= r << 13
				r ^= r >> 7
				r ^= r << 17
				key := fmt.Sprintf("/bench/k%d", r%uint64(*keys))
				_, err := cli.Put(context.Background(), key, value)
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					localErrs++
					continue
				}
				local = append(local, t1.Sub(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErrs
			mu.Unlock()
		}(i, cli)
	}
	wg.Wait()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		idx := int(p / 100 * float64(len(lat)))
		if idx >= len(lat) {
			idx = len(lat) - 1
		}
		return float64(lat[idx].Nanoseconds()) / 1000
	}
	secs := duration.Seconds()
	fmt.Printf("{\"tool\":\"etcdput\",\"label\":%q,\"endpoints\":%q,\"clients\":%d,\"value_size\":%d,\"duration_s\":%.1f,\"puts\":%d,\"puts_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"errors\":%d}\n",
		*label, *endpoints, *clients, *size, secs, len(lat), float64(len(lat))/secs, pct(50), pct(90), pct(99), pct(100), errs)
}
