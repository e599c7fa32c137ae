package drill

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The failover time of a fault is, over the disturbed shops, the longest
// time from the fault to the end of the first prompt answer after the
// shop's last failed or slow one; a disturbance still under way when the
// next fault begins is not counted, and a shop that never answers again
// makes the row unrecovered.
func TestMeasureFailoverPerWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ok := func(shop int, from, to float64) attempt {
		return attempt{shop: shop, start: at(from), end: at(to), status: 200}
	}
	fail := func(shop int, from, to float64, status int) attempt {
		return attempt{shop: shop, start: at(from), end: at(to), status: status, failed: true}
	}
	d := &drill{
		windows: []window{{name: "steady", start: at(0)}, {name: "kill", start: at(10)}, {name: "stop", start: at(20)}},
		loadEnd: at(30),
	}
	attempts := []attempt{
		ok(0, 1, 1.1), ok(1, 2, 2.1),
		// kill: shop 0 fails twice, answers at 13.5; shop 1 is slow once
		// and answers at 11.8; shop 2 is never disturbed.
		fail(0, 10.1, 10.2, 502), fail(0, 10.5, 13.0, 0), ok(0, 13.2, 13.5),
		ok(1, 10.1, 11.5), ok(1, 11.6, 11.8), ok(2, 10.1, 10.2),
		// A request begun before the next fault and still failing after
		// it belongs to neither.
		fail(2, 19.9, 25, 504),
		// stop: shop 1 fails and never answers promptly again.
		fail(1, 21, 22, 503), ok(1, 22.1, 24),
	}
	res := &Result{Rows: []Row{{Fault: "steady"}, {Fault: "kill"}, {Fault: "stop"}}}
	d.measure(res, attempts)
	res.finish()

	require.False(t, res.Rows[0].Disturbed, "the steady window has no failover time")
	kill := res.Rows[1]
	require.True(t, kill.Disturbed)
	require.False(t, kill.Unrecovered)
	require.Equal(t, 3500*time.Millisecond, kill.Failover)
	require.Equal(t, 3, kill.Failed)
	require.Equal(t, 2, kill.Status5xx)
	stop := res.Rows[2]
	require.True(t, stop.Unrecovered)
	require.Equal(t, 10*time.Second, stop.Failover)
	require.Equal(t, 1, stop.Failed)
	require.Equal(t, 4, res.Total.Failed)
	require.Equal(t, 10*time.Second, res.Total.Failover)
	require.True(t, res.OK(), "failures without loss are not a failed drill")

	lines := strings.Split(res.Table, "\n")
	require.Regexp(t, `^fault\s+failover time\s+requests failed\s+5xx\s+lost\s+duplicated$`, lines[0])
	require.Regexp(t, `^steady\s+-\s+0 of 2\s+0\s+0\s+0$`, lines[1])
	require.Regexp(t, `^kill\s+3.5s\s+3 of 7\s+2\s+0\s+0$`, lines[2])
	require.Regexp(t, `^stop\s+> 10s\s+1 of 2\s+1\s+0\s+0$`, lines[3])
	require.Regexp(t, `^all\s+> 10s\s+4 of 11\s+3\s+0\s+0$`, lines[4])
}

// A lost or duplicated operation, or a failed check, fails the drill.
func TestResultOK(t *testing.T) {
	for _, r := range []*Result{
		{Rows: []Row{{Fault: "steady"}, {Fault: "kill", Lost: 1}}},
		{Rows: []Row{{Fault: "steady"}, {Fault: "kill", Duplicated: 1}}},
		{Checks: []Check{{Name: "ledger checks", OK: false}}},
	} {
		r.finish()
		require.False(t, r.OK())
		require.Contains(t, r.Table, "FAILED")
	}
}
