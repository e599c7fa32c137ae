package node_test

import (
	"os"
	"testing"

	"github.com/vayvahq/vayva/node/nodetest"
)

// TestMain lets this test binary double as a node process for the tests
// that kill and pause nodes (nodetest.StartProcess).
func TestMain(m *testing.M) {
	nodetest.RunChildProcess()
	os.Exit(m.Run())
}
