package sandbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the sandbox's goroutines end with Stop. Idle
// keep-alive connections of test HTTP clients are not the sandbox's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
