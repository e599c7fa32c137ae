package http_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fanOut runs work on workers goroutines at once and returns how long they
// took together. work shares the load out among the goroutines itself; the
// first error any of them returns fails b, labelled with what.
func fanOut(b *testing.B, what string, workers int, work func() error) time.Duration {
	b.Helper()
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work(); err != nil {
				failed.Store(err.Error())
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f != nil {
		b.Fatalf("%s: %v", what, f)
	}
	return took
}
