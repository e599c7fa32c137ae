package main

import (
	"bytes"
	"fmt"
	"net"
	nethttp "net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

func TestHelpListsCommandsAndSettings(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"help"}, func(string) string { return "" }, &out, &errOut))
	for _, s := range []string{"serve", "migrate", "ledger check", "drill", "VAYVA_HTTP_ADDR", "VAYVA_CLUSTER_PROVIDER", "VAYVA_RETRY_SCALE"} {
		require.Contains(t, out.String(), s)
	}
	require.Equal(t, 2, run([]string{"bogus"}, func(string) string { return "" }, &out, &errOut))
	require.Equal(t, 2, run(nil, func(string) string { return "" }, &out, &errOut))
}

func TestInvalidConfigFailsAtStartNamingTheSetting(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"VAYVA_CLUSTER_PROVIDER": "zookeeper"}
	code := run([]string{"serve"}, func(k string) string { return env[k] }, &out, &errOut)
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "VAYVA_CLUSTER_PROVIDER")
}

func TestMigrateAndLedgerCheck(t *testing.T) {
	url := pgtest.NewEmpty(t)
	env := map[string]string{"VAYVA_DATABASE_URL": url}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"migrate"}, getenv, &out, &errOut), errOut.String())
	require.Equal(t, 0, run([]string{"migrate"}, getenv, &out, &errOut), "migrating twice is a no-op")
	out.Reset()
	require.Equal(t, 0, run([]string{"ledger", "check"}, getenv, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), `"ok": true`)
}

// serve starts a node, answers on its HTTP address and shuts down cleanly on
// SIGTERM.
func TestServeShutsDownGracefullyOnSIGTERM(t *testing.T) {
	_, url := pgtest.New(t)
	r := redistest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"VAYVA_DATABASE_URL": url, "VAYVA_REDIS_PREFIX": r.Prefix(), "VAYVA_HTTP_ADDR": addr,
		"VAYVA_PUBLIC_URL": "http://" + addr, "VAYVA_LOG_LEVEL": "info",
	}
	var out, errOut syncWriter
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve"}, func(k string) string { return env[k] }, &out, &errOut) }()
	require.Eventually(t, func() bool {
		resp, err := nethttp.Get(fmt.Sprintf("http://%s/readyz", addr))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 60*time.Second, 50*time.Millisecond, "node never became ready: %s", errOut.String())
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		require.Equal(t, 0, code, errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not return after SIGTERM")
	}
	require.True(t, strings.Contains(errOut.String(), "shutdown complete"), errOut.String())
	_, err = nethttp.Get(fmt.Sprintf("http://%s/healthz", addr))
	require.Error(t, err, "nothing listens after shutdown")
}

func TestDrillRefusesBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"drill", "-bogus"}, func(string) string { return "" }, &out, &errOut))
	require.Equal(t, 2, run([]string{"drill", "extra"}, func(string) string { return "" }, &out, &errOut))
	require.Contains(t, errOut.String(), "usage: vayva drill")
}
