package main

import (
	"strings"
	"testing"
)

// Each unit plays its part whatever order `go test` prints them in (it
// sorts them), sub-benchmarks are rows of their own, and min/median are
// over the runs, a run whose figures come after lines it logged included.
func TestParseAndRoles(t *testing.T) {
	out := `goos: linux
BenchmarkStorefrontProducts-2   	   93901	     44752 ns/op	     2.1 bare-p99-ms	     49769 bare-req/s	         0.031 p50-ms	         6.0 p99-ms	         0.45 ratio-to-bare	     22354 req/s
BenchmarkStorefrontProducts-2   	   93901	     44752 ns/op	     50000 bare-req/s	         0.041 p50-ms	         5.0 p99-ms	         0.55 ratio-to-bare	     27000 req/s
BenchmarkStorefrontProducts-2   	   93901	     44752 ns/op	     51000 bare-req/s	         0.035 p50-ms	         7.0 p99-ms	         0.50 ratio-to-bare	     25000 req/s
BenchmarkLedgerPostings/hot-2 	 1	 1 ns/op	 40 p50-commit-ms	 150 p99-commit-ms	 21000 postings/s	 25000 raw-postings/s	 0.84 ratio-to-raw	 485 size-commands/batch
BenchmarkStorefrontProducts-2   	7:31PM WRN something the benchmark logged
7:31PM WRN more of it
    93901	     44752 ns/op	     52000 bare-req/s	         0.035 p50-ms	         7.0 p99-ms	         0.50 ratio-to-bare	     26000 req/s
`
	rs, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].name != "BenchmarkStorefrontProducts" || rs[1].name != "BenchmarkLedgerPostings/hot" {
		t.Fatalf("parsed %v", rs)
	}
	if p := rs[0].roles(); p != (parts{ours: "req/s", raw: "bare-req/s", ratio: "ratio-to-bare", p50: "p50-ms", p99: "p99-ms", rawP99: "bare-p99-ms"}) {
		t.Fatalf("roles %+v", p)
	}
	if got := minMedian(rs[0].runs["req/s"]); got != "22354 / 25500" {
		t.Fatalf("min / median = %q", got)
	}
	if p := rs[1].roles(); p.ours != "postings/s" || p.raw != "raw-postings/s" || p.p50 != "p50-commit-ms" || p.rawP99 != "" {
		t.Fatalf("ledger roles %+v", p)
	}
}
